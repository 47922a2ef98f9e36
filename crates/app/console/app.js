// The Roomwarden moderator console: signing in and out, the screens, the live connection.
// The rooms screen is room.js, the platform administrators' screens admin.js; everything
// goes through the public HTTP API (api.js) and /socket (live.js).

import { call, credentials, onUnauthorized } from "./api.js";
import { connect } from "./live.js";
import { clearAdminScreens, showDeliveries, showPurge } from "./admin.js";
import { clearRoomScreen, loadRooms, onRoomEvent, openRoom } from "./room.js";
import { me, resetView, view } from "./state.js";
import { $, say, showError } from "./ui.js";

let live = null;

// ---- signing in and out ----

function selectedMode() {
  return document.querySelector('input[name="mode"]:checked').value;
}

/**
 * Back to the sign-in form, forgetting the credentials and everything shown (the next
 * caller of this tab sees nothing of the last one's).
 */
function showSignIn(message) {
  if (live) {
    live.close();
    live = null;
  }
  credentials.clear();
  Object.assign(me, { creds: null, id: null, isPlatformAdmin: false });
  resetView();
  clearRoomScreen();
  clearAdminScreens();
  $("workspace").hidden = true;
  $("nav").hidden = true;
  $("sign-out").hidden = true;
  $("live").hidden = true;
  $("who").textContent = "";
  $("sign-in").hidden = false;
  $("status").textContent = "";
  if (message) {
    showError(new Error(message));
  }
  (selectedMode() === "api-key" ? $("api-key") : $("client-key")).focus();
}

onUnauthorized((message) => showSignIn(`Signed out: ${message}`));

function syncSignInMode() {
  const mode = selectedMode();
  document.querySelector(".mode-token").hidden = mode !== "token";
  document.querySelector(".mode-api-key").hidden = mode !== "api-key";
}

/** Checks the credentials with one read; who they are. */
async function identify(creds) {
  if (creds.mode === "api-key") {
    // With IM-API-KEY present the key alone decides: a wrong one is 401.
    await call("GET", "/rooms", { query: [["limit", "1"]], creds });
    return { id: "_platform", isPlatformAdmin: true, label: "Platform (API key)" };
  }
  const client = await call("GET", "/me", { creds });
  return {
    id: client._id,
    isPlatformAdmin: Boolean(client.isPlatformAdmin),
    label: client.nickname ? `${client.nickname} (${client._id})` : client._id,
  };
}

async function signIn(creds) {
  const who = await identify(creds);
  credentials.save(creds);
  Object.assign(me, { creds, id: who.id, isPlatformAdmin: who.isPlatformAdmin });
  $("notice").hidden = true;
  $("sign-in").hidden = true;
  $("sign-in-form").reset();
  syncSignInMode();
  $("who").textContent = `Signed in as ${who.label}`;
  $("sign-out").hidden = false;
  $("nav").hidden = false;
  for (const node of document.querySelectorAll(".admin-only")) {
    node.hidden = creds.mode !== "api-key";
  }
  $("workspace").hidden = false;
  showPane("rooms");
  startLive();
  await loadRooms(true);
}

$("sign-in-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const mode = selectedMode();
  const creds = mode === "api-key"
    ? { mode, apiKey: $("api-key").value.trim() }
    : { mode, clientKey: $("client-key").value.trim(), token: $("token").value.trim() };
  $("sign-in-button").disabled = true;
  try {
    await signIn(creds);
  } catch (error) {
    showError(error);
  } finally {
    $("sign-in-button").disabled = false;
  }
});

for (const radio of document.querySelectorAll('input[name="mode"]')) {
  radio.addEventListener("change", syncSignInMode);
}
$("sign-out").addEventListener("click", () => {
  showSignIn();
  $("notice").hidden = true;
  say("Signed out.");
});
$("notice-close").addEventListener("click", () => {
  $("notice").hidden = true;
});

// ---- the live connection ----

function startLive() {
  const indicator = $("live");
  indicator.hidden = false;
  indicator.textContent = "Connecting…";
  indicator.classList.remove("on");
  live = connect(me.creds, {
    onEvent: onRoomEvent,
    onState: (connected, resumed) => {
      indicator.textContent = connected ? "Live" : "Reconnecting…";
      indicator.classList.toggle("on", connected);
      if (connected && resumed && view.room) {
        // Frames may have been missed while disconnected.
        openRoom(view.room._id, { keepTab: true });
      }
    },
    onRejected: (reason) => showSignIn(`Signed out: ${reason}`),
  });
}

// ---- screens ----

function showPane(name) {
  $("rooms-pane").hidden = name !== "rooms";
  $("room-pane").hidden = name !== "rooms";
  $("purge-pane").hidden = name !== "purge";
  $("deliveries-pane").hidden = name !== "deliveries";
  for (const [id, pane] of [["nav-rooms", "rooms"], ["nav-purge", "purge"], ["nav-deliveries", "deliveries"]]) {
    if (pane === name) {
      $(id).setAttribute("aria-current", "page");
    } else {
      $(id).removeAttribute("aria-current");
    }
  }
}

$("nav-rooms").addEventListener("click", () => showPane("rooms"));
$("nav-purge").addEventListener("click", () => {
  showPane("purge");
  showPurge();
});
$("nav-deliveries").addEventListener("click", () => {
  showPane("deliveries");
  showDeliveries();
});

// ---- start ----

syncSignInMode();
const stored = credentials.load();
if (stored) {
  // A reload: sign in again with this tab's credentials. Only a 401 forgets them; an
  // outage leaves them for the next reload.
  signIn(stored).catch((error) => {
    if (error.status === 401) {
      showSignIn(`Signed out: ${error.message}`);
    } else {
      $("sign-in").hidden = false;
      showError(new Error(`${error.message} Reload the page to try again.`));
    }
  });
} else {
  showSignIn();
}
