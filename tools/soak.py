#!/usr/bin/env python3
"""Memory soak of the release server on a fresh SQLite (or MySQL) database.

Starts `target/release/roomwarden` on a free loopback port, drives a bounded mix of
requests (send, list, delete one, clear a small room, audit log) from N keep-alive
clients, samples the server's resident memory (VmRSS), its peak (VmHWM) and its thread
count, then leaves it idle and samples again. Loopback only, bounded in count and time.

    python3 tools/soak.py [--requests 100000] [--clients 16] [--idle 30] [--db URL]
"""
import argparse, http.client, json, os, socket, subprocess, sys, tempfile, threading, time

API, CK = "soak-api-key-3e8a1f0c6d2b9e4a7c5f", "soak-client-key-9c4e2a7f1b0d8e6c3a5f"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "Threads"):
                out[k] = int(v.split()[0])
    return out


class Client:
    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(self, method, path, headers, body=None):
        data = json.dumps(body) if body is not None else None
        h = dict(headers)
        if data is not None:
            h["Content-Type"] = "application/json"
        self.conn.request(method, path, body=data, headers=h)
        res = self.conn.getresponse()
        payload = res.read()
        return res.status, json.loads(payload) if payload else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--idle", type=int, default=30)
    ap.add_argument("--db", default=None)
    ap.add_argument("--binary", default="target/release/roomwarden")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="roomwarden-soak-")
    db = args.db or f"sqlite://{tmp}/soak.db"
    port = free_port()
    env = dict(os.environ, ROOMWARDEN_BIND=f"127.0.0.1:{port}", ROOMWARDEN_DATABASE_URL=db,
               ROOMWARDEN_API_KEY=API, ROOMWARDEN_CLIENT_KEY=CK,
               ROOMWARDEN_WEBHOOK_SECRET="soak", RUST_LOG="warn")
    server = subprocess.Popen([args.binary], env=env, stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        admin = Client(port)
        adm = {"IM-API-KEY": API}
        tokens = []
        for i in range(args.clients):
            _, body = admin.call("POST", "/admin/clients", adm, {"_id": f"u{i}", "issueAccessToken": True})
            tokens.append(body["result"]["token"])
        members = [f"u{i}" for i in range(args.clients)]
        for i in range(args.clients):
            admin.call("POST", "/rooms", adm, {"_id": f"room{i}", "owner": f"u{i}", "members": members})
        start = proc_status(server.pid)
        samples = [(0.0, start)]
        per_client = args.requests // args.clients
        errors = []
        done = [0]
        lock = threading.Lock()

        def work(i):
            c = Client(port)
            h = {"IM-CLIENT-KEY": CK, "IM-Authorization": tokens[i]}
            room = f"room{i}"
            n = 0
            while n < per_client:
                st, body = c.call("POST", f"/rooms/{room}/message", h, {"message": "x" * (50 + n % 400)})
                mid = body["result"]["_id"] if st == 200 else None
                st2, _ = c.call("GET", f"/rooms/{room}/messages/v3?limit=20", h)
                st3, _ = (c.call("DELETE", f"/rooms/{room}/messages/{mid}", h) if mid else (0, None))
                st4, _ = c.call("GET", f"/rooms/{room}/deletions?limit=5", h)
                n += 4
                if n % 400 == 0:
                    c.call("DELETE", f"/rooms/{room}/messages/_all", h)
                    n += 1
                bad = [s for s in (st, st2, st3, st4) if s != 200]
                if bad:
                    with lock:
                        errors.extend(bad)
            with lock:
                done[0] += n

        t0 = time.time()
        threads = [threading.Thread(target=work, args=(i,)) for i in range(args.clients)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            time.sleep(2)
            samples.append((time.time() - t0, proc_status(server.pid)))
        elapsed = time.time() - t0
        loaded = proc_status(server.pid)
        time.sleep(args.idle)
        idle = proc_status(server.pid)
        mb = lambda kb: f"{kb / 1024:.1f} MB"
        print(f"requests {done[0]} in {elapsed:.1f} s ({done[0] / elapsed:.0f}/s), {args.clients} clients, errors {len(errors)}")
        print(f"RSS at start {mb(start['VmRSS'])}, after load {mb(loaded['VmRSS'])}, after {args.idle} s idle {mb(idle['VmRSS'])}")
        print(f"peak RSS {mb(idle['VmHWM'])}; threads at start {start['Threads']}, max {max(s['Threads'] for _, s in samples)}, idle {idle['Threads']}")
        print("samples (s, RSS MB, threads): " + ", ".join(f"{t:.0f}:{s['VmRSS'] / 1024:.0f}:{s['Threads']}" for t, s in samples[:: max(1, len(samples) // 12)]))
        return 1 if errors else 0
    finally:
        server.terminate()
        server.wait(timeout=20)


if __name__ == "__main__":
    sys.exit(main())
