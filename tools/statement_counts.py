#!/usr/bin/env python3
"""What one single delete costs MariaDB, counted rather than timed (docs/benchmarks.md).

Throughput on a shared two-core machine swings by a third from one round to the next, so a
few per cent cannot be read off deletions per second. The work the server asks of the
database per delete can be counted exactly: statements, prepares, round trips, rows read and
written, redo log bytes, fsyncs. For each server binary given, this starts it on a fresh
MariaDB database, creates a room and seeds it over HTTP, then reads MariaDB's global status
counters around `--deletes` sequential single deletes and prints the difference per delete,
less the same counters over an idle stretch of the same length (the server's background
workers), so that builds can be compared line by line; and the CPU time the server and
`mariadbd` spent per delete (from /proc, idle subtracted likewise), which is not exact but
far steadier than throughput. A label may be given twice (`a=… b=… a=… b=…`) to see how
much the CPU times move between runs.

    python3 tools/statement_counts.py before=path/to/roomwarden after=target/release/roomwarden

With `--keyed`, each delete carries an `Idempotency-Key` of its own.

Exact instruction counts need valgrind: with `--callgrind-pid`/`--callgrind-dir`, of a
`mariadbd` already running under `valgrind --tool=callgrind --instr-atstart=no`; with
`--callgrind-server DIR`, of each server binary, which then runs under callgrind itself
(docs/benchmarks.md shows both set up).

Standard library only; needs the `mariadb` (or `mysql`) client on PATH and a MariaDB server
at 127.0.0.1:3306 reachable as root without a password (ROOMWARDEN_BENCH_MYSQL_URL is not
read). Loopback only; each database is dropped afterwards.
"""

import argparse
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

API_KEY = "statement-counts-api-key-0123456789abcdef"
CLIENT_KEY = "statement-counts-client-key-0123456789abcdef"

# The counters compared, in the order printed.
COUNTERS = [
    "Questions",
    "Com_stmt_prepare",
    "Com_stmt_execute",
    "Com_stmt_close",
    "Com_select",
    "Com_insert",
    "Com_update",
    "Com_delete",
    "Com_begin",
    "Com_commit",
    "Handler_read_key",
    "Handler_read_next",
    "Handler_read_prev",
    "Handler_read_last",
    "Handler_read_rnd_next",
    "Handler_write",
    "Handler_update",
    "Handler_delete",
    "Innodb_os_log_written",
    "Innodb_data_fsyncs",
    "Rows_read",
    "Bytes_received",
    "Bytes_sent",
]


# CPU time per delete, in microseconds (less noisy than throughput, but not exact: it moves
# with caches and with what else runs on the machine).
CPU = ["server CPU µs", "mariadbd CPU µs"]
# With --callgrind-pid: the instructions the traced mariadbd executed per delete, less those
# of an idle stretch as long (exact for the same binaries and inputs, but for the database's
# background threads, whose work follows time and is only approximately subtracted).
CALLGRIND = "mariadbd instructions (callgrind)"
# With --callgrind-server: the instructions the server executed per delete (it runs under
# callgrind itself), less those of an idle stretch as long (its background workers).
SERVER_CALLGRIND = "server instructions (callgrind)"


def client_binary():
    for name in ("mariadb", "mysql"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("no mariadb or mysql client on PATH")


PORT = 3306


def sql(statement):
    out = subprocess.run(
        [client_binary(), "-h", "127.0.0.1", "-P", str(PORT), "-u", "root", "-N", "-B", "-e", statement],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout


def status():
    values = {}
    for line in sql("SHOW GLOBAL STATUS").splitlines():
        name, _, value = line.partition("\t")
        if name in COUNTERS:
            values[name] = int(value)
    return values


def cpu_seconds(pid):
    """User and system CPU time of process `pid`, in seconds (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def mariadbd_pid():
    out = subprocess.run(["pidof", "mariadbd"], capture_output=True, text=True).stdout.split()
    if len(out) != 1:
        sys.exit(f"expected one mariadbd process, found {len(out)}")
    return int(out[0])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Api:
    def __init__(self, port):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def call(self, method, path, body=None, key=None):
        try:
            return self.send(method, path, body, key)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # The server closed the kept-alive connection as the request left (slow under
            # valgrind): it was not read, so it is sent again on a new connection.
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            return self.send(method, path, body, key)

    def send(self, method, path, body, key=None):
        headers = {"IM-API-KEY": API_KEY, "IM-CLIENT-KEY": CLIENT_KEY}
        if key is not None:
            headers["Idempotency-Key"] = key
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self.conn.request(method, path, body=data, headers=headers)
        res = self.conn.getresponse()
        payload = res.read()
        return res.status, json.loads(payload) if payload else None


def wait_ready(port, process, within=60):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"the server exited with {process.returncode}")
        try:
            status_code, _ = Api(port).call("GET", "/ready")
            if status_code == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit("the server did not become ready")


def callgrind(pid, *args):
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True)


def instructions_since_zero(pid, directory):
    """Dumps the callgrind profile of `pid` and reads its instruction total."""
    before = set(os.listdir(directory))
    callgrind(pid, "-d")
    for _ in range(100):
        new = [f for f in set(os.listdir(directory)) - before if f.startswith(f"callgrind.out.{pid}")]
        if new:
            # The totals line ends the dump: read until it is written.
            with open(os.path.join(directory, new[0])) as f:
                totals = [line for line in f if line.startswith("totals:")]
            if totals:
                return int(totals[-1].split()[1])
        time.sleep(0.1)
    sys.exit("no callgrind dump appeared")


def measure(label, binary, deletes, traced=None, server_dir=None, keyed=False):
    database = f"rw_counts_{os.getpid()}_{re.sub(r'[^A-Za-z0-9]', '_', label)}"
    sql(f"CREATE DATABASE {database}")
    port = free_port()
    env = dict(
        os.environ,
        ROOMWARDEN_DATABASE_URL=f"mysql://root@127.0.0.1:{PORT}/{database}",
        ROOMWARDEN_API_KEY=API_KEY,
        ROOMWARDEN_CLIENT_KEY=CLIENT_KEY,
        ROOMWARDEN_BIND=f"127.0.0.1:{port}",
        RUST_LOG="warn",
    )
    command = [binary]
    if server_dir:
        # valgrind runs the server in its own process: `process.pid` is the traced server.
        command = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={server_dir}/callgrind.out.%p",
            binary,
        ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Every traced process: `(pid, dump directory, result name)`.
    tracing = []
    try:
        wait_ready(port, process, within=600 if server_dir else 60)
        api = Api(port)
        assert api.call("POST", "/admin/clients", {"_id": "alice"})[0] == 200
        assert api.call("POST", "/rooms", {"_id": "r", "owner": "alice"})[0] == 200
        warmup = 50
        ids = []
        for i in range(deletes + warmup):
            code, body = api.call(
                "POST",
                "/messages",
                {"room": "r", "sender": "alice", "message": f"m{i}", "messageType": "text"},
            )
            assert code == 200, body
            ids.append(body["result"]["_id"])
        for message in ids[:warmup]:
            key = f"k-{message}" if keyed else None
            assert api.call("DELETE", f"/rooms/r/messages/{message}", key=key)[0] == 200
        time.sleep(1)
        database_pid = traced[0] if traced else mariadbd_pid()
        if traced:
            tracing.append((database_pid, traced[1], CALLGRIND))
        if server_dir:
            tracing.append((process.pid, server_dir, SERVER_CALLGRIND))
        instructions = {}
        for pid, _, _ in tracing:
            callgrind(pid, "-z")
            callgrind(pid, "-i", "on")
        start = status()
        cpu_start = (cpu_seconds(process.pid), cpu_seconds(database_pid))
        began = time.monotonic()
        for message in ids[warmup:]:
            code, body = api.call(
                "DELETE", f"/rooms/r/messages/{message}", key=f"k-{message}" if keyed else None
            )
            assert code == 200, body
        took = time.monotonic() - began
        end = status()
        for pid, directory, name in tracing:
            callgrind(pid, "-i", "off")
            instructions[name] = instructions_since_zero(pid, directory)
        cpu_end = (cpu_seconds(process.pid), cpu_seconds(database_pid))
        # The same length of time with no request: what the background workers ask (and,
        # traced, what the database's own background threads execute meanwhile).
        for pid, _, _ in tracing:
            callgrind(pid, "-z")
            callgrind(pid, "-i", "on")
        time.sleep(took)
        for pid, directory, name in tracing:
            callgrind(pid, "-i", "off")
            instructions[name] -= instructions_since_zero(pid, directory)
        idle = status()
        cpu_idle = (cpu_seconds(process.pid), cpu_seconds(database_pid))
        per_delete = {}
        for name in COUNTERS:
            work = end[name] - start[name]
            background = idle[name] - end[name]
            per_delete[name] = (work - background) / deletes
        for i, name in enumerate(CPU if not tracing else []):
            work = cpu_end[i] - cpu_start[i]
            background = cpu_idle[i] - cpu_end[i]
            per_delete[name] = (work - background) * 1e6 / deletes
        for name, count in instructions.items():
            per_delete[name] = count / deletes
        return per_delete, took
    finally:
        process.terminate()
        process.wait(timeout=30)
        sql(f"DROP DATABASE IF EXISTS {database}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binaries", nargs="+", help="label=path of a server binary")
    parser.add_argument("--deletes", type=int, default=2000)
    parser.add_argument("--port", type=int, default=3306, help="the MariaDB server's port")
    parser.add_argument(
        "--callgrind-pid",
        type=int,
        help="the MariaDB server runs under `valgrind --tool=callgrind --instr-atstart=no` "
        "as this process: count its instructions per delete (and skip CPU times)",
    )
    parser.add_argument("--callgrind-dir", default=".", help="where that valgrind writes its dumps")
    parser.add_argument(
        "--callgrind-server",
        metavar="DIR",
        help="run each server binary under `valgrind --tool=callgrind --instr-atstart=no`, "
        "dumps in DIR: count its instructions per delete (and skip CPU times)",
    )
    parser.add_argument(
        "--keyed",
        action="store_true",
        help="send each delete with an Idempotency-Key of its own (the API key's, kept a day)",
    )
    args = parser.parse_args()
    global PORT
    PORT = args.port
    traced = (args.callgrind_pid, args.callgrind_dir) if args.callgrind_pid else None
    results = []
    for spec in args.binaries:
        label, _, path = spec.partition("=")
        if not path:
            sys.exit(f"expected label=path, got {spec!r}")
        per_delete, took = measure(
            label, path, args.deletes, traced, args.callgrind_server, args.keyed
        )
        results.append((label, per_delete, took))
        # Each result as it comes, so that a run stopped later keeps it.
        print(f"{label}: {args.deletes} deletes in {took:.1f} s: {json.dumps(per_delete)}", file=sys.stderr)
    labels = [label for label, _, _ in results]
    kind = "keyed single delete" if args.keyed else "single delete"
    print(f"| per {kind} (MariaDB status, {args.deletes} deletes, idle subtracted) | " + " | ".join(labels) + " |")
    print("|---|" + "---|" * len(labels))
    for name in COUNTERS:
        cells = " | ".join(f"{r[1][name]:.2f}" for r in results)
        print(f"| `{name}` | {cells} |")
    for name in CPU + [CALLGRIND, SERVER_CALLGRIND]:
        if all(name in r[1] for r in results):
            cells = " | ".join(f"{r[1][name]:,.0f}" for r in results)
            print(f"| {name} | {cells} |")


if __name__ == "__main__":
    main()
