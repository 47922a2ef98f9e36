// The live connection: /socket with the caller's credentials, reconnecting with backoff.

/**
 * Opens the socket. `onEvent(frame)` gets every event after authentication;
 * `onState(live, resumed)` reports the connection (resumed: reconnected after a drop, so
 * events may have been missed); `onRejected(reason)` is called when the server refuses
 * the credentials (close code 1008), and no reconnection follows.
 */
export function connect(creds, { onEvent, onState, onRejected }) {
  let socket = null;
  let stopped = false;
  let timer = null;
  let delay = 1000;
  let connectedBefore = false;

  const hello = creds.mode === "api-key"
    ? { apiKey: creds.apiKey }
    : { clientKey: creds.clientKey, token: creds.token };

  function open() {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(`${scheme}//${window.location.host}/socket`);
    socket.onopen = () => socket.send(JSON.stringify(hello));
    socket.onmessage = (message) => {
      let frame;
      try {
        frame = JSON.parse(message.data);
      } catch {
        return;
      }
      if (frame.event === "authenticated") {
        delay = 1000;
        onState(true, connectedBefore);
        connectedBefore = true;
      } else {
        onEvent(frame);
      }
    };
    socket.onclose = (event) => {
      if (stopped) {
        return;
      }
      onState(false, false);
      if (event.code === 1008) {
        onRejected(event.reason || "The server refused the credentials.");
        return;
      }
      timer = setTimeout(open, delay);
      delay = Math.min(delay * 2, 15000);
    };
  }

  open();
  return {
    close() {
      stopped = true;
      clearTimeout(timer);
      if (socket) {
        socket.close();
      }
    },
  };
}
