#!/usr/bin/env python3
"""Reproduce partial effects after a Galera brute-force (BF) abort, and evaluate guards.

Session A (node 1 127.0.0.1:3307, MySQLdb = libmysqlclient/Connector-C, autocommit=1 unless
--guard ac0/both/ac0_intx, READ COMMITTED, sql_mode=STRICT_ALL_TABLES) runs per round:
    BEGIN
    [sp]    SAVEPOINT rw_intact
    UPDATE rooms SET n=n+1, last_round=<r> WHERE id=1
    DELETE FROM msgs WHERE room=1 AND id BETWEEN x AND y       (--batches disjoint ranges)
    INSERT INTO audit(round, removed) VALUES (r, <sum of DELETE rowcounts>)
    [sp]    RELEASE SAVEPOINT rw_intact    (any error -> ROLLBACK, round = "detected")
    [intx_commit] SELECT @@in_transaction  (0 or error -> ROLLBACK, "detected")
    COMMIT                                 (error -> ROLLBACK)
[intx] additionally checks SELECT @@in_transaction before every DML statement.

--on-error, what the application does when a statement fails:
    rollback  first error -> ROLLBACK (diesel's Connection::transaction with `?`)
    continue  keep running the remaining DELETEs, skip the audit row, ROLLBACK at the end
    retry     retry the failed statement on 1213 (up to 3 tries), then go on and COMMIT
    ignore    ignore statement errors altogether, write the audit row, COMMIT

Writers B (--writers processes on node 2 :3308, autocommit) loop:
    UPDATE rooms SET n=n+1 WHERE id=1;  INSERT INTO msgs(room, body) VALUES (1, ...)

After every round a separate node-1 connection checks: the round's msgs ranges (gone rows),
its audit row(s), and rooms.last_round. A round is consistent iff either nothing happened
(0 rows gone, no audit row, last_round != r) or everything did (all rows gone, one audit row
whose `removed` equals them, last_round == r). Anything else is PARTIAL.

Needs the cluster of tools/galera.sh and `pip install mysqlclient` (MySQLdb: libmysqlclient, the C
library diesel uses). It works in its own database, bfabort_lab.

Usage: python3 tools/galera_bf_abort.py [--on-error P] [--guard G] [--rounds 300] [--writers 2]
       [--think SECONDS] [--time-limit 90];  python3 tools/galera_bf_abort.py --cleanup
Database: bfabort_lab (recreated by every run; --cleanup drops it).
"""
import argparse
import collections
import multiprocessing as mp
import random
import sys
import time

import MySQLdb

DB = "bfabort_lab"
HOST = "127.0.0.1"


def connect(port, autocommit=True, db=DB):
    kw = dict(host=HOST, port=port, user="root", passwd="", autocommit=autocommit,
              connect_timeout=5)
    if db:
        kw["db"] = db
    return MySQLdb.connect(**kw)


def setup(seed_rows):
    c = connect(3307, db=None)
    cur = c.cursor()
    cur.execute(f"CREATE DATABASE IF NOT EXISTS {DB}")
    cur.execute(f"USE {DB}")
    for t in ("rooms", "msgs", "audit"):
        cur.execute(f"DROP TABLE IF EXISTS {t}")
    cur.execute("CREATE TABLE rooms (id INT PRIMARY KEY, n BIGINT NOT NULL,"
                " last_round INT NOT NULL DEFAULT -1) ENGINE=InnoDB")
    cur.execute("CREATE TABLE msgs (id BIGINT AUTO_INCREMENT PRIMARY KEY, room INT NOT NULL,"
                " body VARCHAR(64) NOT NULL, KEY (room)) ENGINE=InnoDB")
    cur.execute("CREATE TABLE audit (id BIGINT AUTO_INCREMENT PRIMARY KEY, round INT NOT NULL,"
                " removed INT NOT NULL, KEY (round)) ENGINE=InnoDB")
    cur.execute("INSERT INTO rooms (id, n) VALUES (1, 0), (2, 0)")
    # seeded room-1 rows get ids 1..seed_rows; writers' rows land far above
    step = 2000
    for lo in range(1, seed_rows + 1, step):
        hi = min(seed_rows, lo + step - 1)
        vals = ",".join(f"({i},1,'seed')" for i in range(lo, hi + 1))
        cur.execute(f"INSERT INTO msgs (id, room, body) VALUES {vals}")
    cur.execute("ALTER TABLE msgs AUTO_INCREMENT=100000000")
    c.close()
    # wait until node 2 sees the tables
    c2 = connect(3308)
    cur2 = c2.cursor()
    cur2.execute("SET SESSION wsrep_sync_wait=1")
    cur2.execute("SELECT COUNT(*) FROM msgs")
    c2.close()


def writer(port, stop_at, stop_evt, counts):
    c = connect(port)
    cur = c.cursor()
    ok = err = 0
    errs = collections.Counter()
    while not stop_evt.is_set() and time.time() < stop_at:
        for sql in ("UPDATE rooms SET n=n+1 WHERE id=1",
                    "INSERT INTO msgs (room, body) VALUES (1, 'from-b')"):
            try:
                cur.execute(sql)
                ok += 1
            except MySQLdb.Error as e:
                err += 1
                errs[e.args[0]] += 1
    c.close()
    counts.put((ok, err, dict(errs)))


class Session:
    """Session A; records (label, errno or 'ok'[, rowcount]) for each statement."""

    def __init__(self, args):
        self.c = connect(3307)
        self.cur = self.c.cursor()
        self.cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        self.cur.execute("SET SESSION sql_mode='STRICT_ALL_TABLES'")
        if args.guard in ("ac0", "both", "ac0_intx"):
            self.cur.execute("SET SESSION autocommit=0")
        self.args = args
        self.last_error = None

    def ex(self, log, label, sql, params=None):
        try:
            self.cur.execute(sql, params)
            log.append((label, "ok"))
            return True, self.cur.rowcount
        except MySQLdb.Error as e:
            log.append((label, e.args[0]))
            self.last_error = e.args
            return False, None

    def in_trx(self, log, label):
        """False when the session is not in a transaction (or the check itself fails:
        a BF abort of an idle session is reported on whatever statement comes next)."""
        try:
            self.cur.execute("SELECT @@in_transaction")
            v = self.cur.fetchone()[0]
        except MySQLdb.Error as e:
            log.append((label, e.args[0]))
            return False
        if not v:
            log.append((label, "in_trx=0"))
        return bool(v)

    def round(self, r, ranges):
        g = self.args.guard
        policy = self.args.on_error
        log = []
        sp = g in ("sp", "both")
        intx_each = g == "intx"
        intx_commit = g in ("intx", "intx_commit", "ac0_intx")
        errors = []

        def rollback(kind):
            try:
                self.cur.execute("ROLLBACK")
                log.append(("ROLLBACK", "ok"))
            except MySQLdb.Error as e:
                log.append(("ROLLBACK", e.args[0]))
            return kind, log

        ok, _ = self.ex(log, "BEGIN", "BEGIN")
        if not ok:
            return rollback("error")
        if sp:
            ok, _ = self.ex(log, "SAVEPOINT", "SAVEPOINT rw_intact")
            if not ok:
                return rollback("error")

        stmts = [("UPDATE", "UPDATE rooms SET n=n+1, last_round=%s WHERE id=1", (r,))]
        for i, (lo, hi) in enumerate(ranges):
            stmts.append((f"DELETE{i+1}",
                          "DELETE FROM msgs WHERE room=1 AND id BETWEEN %s AND %s", (lo, hi)))
        stmts.append(("INSERT", None, None))
        removed = 0
        for label, sql, params in stmts:
            if label == "INSERT":
                if errors and policy == "continue":  # audit row only for a clean run
                    break
                sql, params = "INSERT INTO audit (round, removed) VALUES (%s, %s)", (r, removed)
            attempts = 3 if policy == "retry" else 1
            for attempt in range(attempts):
                if intx_each and not self.in_trx(log, "chk_" + label):
                    return rollback("detected")
                ok, n = self.ex(log, label, sql, params)
                if ok or self.last_error[0] != 1213:
                    break
            if not ok:
                errors.append(label)
                if policy in ("rollback", "retry"):
                    return rollback("error")
                # continue / ignore: go on with the next statement
            elif label.startswith("DELETE"):
                removed += n
            if self.args.think:
                time.sleep(self.args.think)
        if errors and policy == "continue":  # something failed -> ROLLBACK at the end
            return rollback("error")
        if sp:
            ok, _ = self.ex(log, "RELEASE", "RELEASE SAVEPOINT rw_intact")
            if not ok:
                return rollback("detected")
        if intx_commit and not self.in_trx(log, "chk_COMMIT"):
            return rollback("detected")
        ok, _ = self.ex(log, "COMMIT", "COMMIT")
        if not ok:
            return rollback("error")
        return "committed", log


def check(vcur, r, ranges):
    gone = 0
    for lo, hi in ranges:
        vcur.execute("SELECT COUNT(*) FROM msgs WHERE id BETWEEN %s AND %s", (lo, hi))
        gone += (hi - lo + 1) - vcur.fetchone()[0]
    vcur.execute("SELECT COUNT(*), COALESCE(SUM(removed),0) FROM audit WHERE round=%s", (r,))
    acount, asum = vcur.fetchone()
    vcur.execute("SELECT last_round FROM rooms WHERE id=1")
    upd = vcur.fetchone()[0] == r
    return gone, int(acount), int(asum), upd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--guard", default="none",
                    choices=["none", "sp", "ac0", "both", "intx", "intx_commit", "ac0_intx"])
    ap.add_argument("--on-error", default="rollback", choices=["rollback", "continue", "retry", "ignore"],
                    help="rollback: first error -> ROLLBACK (diesel transaction()); continue: "
                         "ignore statement errors, ROLLBACK at the end if any; retry: retry a "
                         "statement on 1213 (up to 3 tries), then go on; ignore: ignore statement "
                         "errors altogether and COMMIT")
    ap.add_argument("--rounds", type=int, default=300)
    ap.add_argument("--writers", type=int, default=2, help="0 = no writer on node 2")
    ap.add_argument("--batches", type=int, default=3)
    ap.add_argument("--batch-rows", type=int, default=4)
    ap.add_argument("--think", type=float, default=0.0, help="sleep after each DML (s)")
    ap.add_argument("--time-limit", type=float, default=90.0)
    ap.add_argument("--show", type=int, default=8, help="print N example bad/failed rounds")
    ap.add_argument("--cleanup", action="store_true", help="drop the database and exit")
    args = ap.parse_args()

    if args.cleanup:
        c = connect(3307, db=None)
        c.cursor().execute(f"DROP DATABASE IF EXISTS {DB}")
        print("dropped", DB)
        return

    per_round = args.batches * args.batch_rows
    setup(args.rounds * per_round)

    t0 = time.time()
    stop_at = time.time() + args.time_limit
    stop_evt = mp.Event()
    q = mp.Queue()
    procs = [mp.Process(target=writer, args=(3308, stop_at + 5, stop_evt, q), daemon=True)
             for _ in range(args.writers)]
    for p in procs:
        p.start()
    time.sleep(0.3 if procs else 0)

    a = Session(args)
    v = connect(3307)  # verifier, autocommit, node 1 (A's node)
    vcur = v.cursor()

    stats = collections.Counter()
    err_patterns = collections.Counter()
    partial_patterns = collections.Counter()
    examples = []
    slowest = [0.0, None, None, None]
    rounds_done = 0
    try:
        for r in range(args.rounds):
            if time.time() > stop_at:
                break
            base = r * per_round + 1
            ranges = [(base + i * args.batch_rows, base + (i + 1) * args.batch_rows - 1)
                      for i in range(args.batches)]
            tr = time.time()
            outcome, log = a.round(r, ranges)
            dt = time.time() - tr
            if dt > slowest[0]:
                slowest[:] = [dt, r, outcome, log]
            gone, acount, asum, upd = check(vcur, r, ranges)
            rounds_done += 1
            good = ((gone == 0 and acount == 0 and not upd) or
                    (acount == 1 and asum == gone == per_round and upd))
            if gone and not acount:
                stats["rows_lost_rounds"] += 1
                stats["rows_lost"] += gone
            stats[outcome] += 1
            fails = tuple((l, e) for l, e in log if e != "ok")
            if outcome != "committed":
                err_patterns[(outcome, fails)] += 1
            if not good:
                stats["PARTIAL"] += 1
                stats[f"PARTIAL_{outcome}"] += 1
                partial_patterns[(outcome, fails)] += 1
            if outcome == "committed" and acount == 1 and gone == per_round and good:
                stats["full_commit"] += 1
            if (not good or outcome != "committed") and len(examples) < args.show:
                examples.append((r, outcome, good, gone, acount, asum, upd, log))
    finally:
        stop_evt.set()
        wstats = []
        for p in procs:
            try:
                wstats.append(q.get(timeout=15))
            except Exception:
                pass
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
                p.join()

    print(f"guard={args.guard} on_error={args.on_error} writers={args.writers} "
          f"think={args.think} rounds={rounds_done} ({time.time() - t0:.1f}s)")
    print("  committed(full)=%d failed(error)=%d detected(guard)=%d  PARTIAL=%d "
          "(after error: %d, after detect: %d, after 'successful' commit: %d)" % (
              stats["full_commit"], stats["error"], stats["detected"], stats["PARTIAL"],
              stats["PARTIAL_error"], stats["PARTIAL_detected"], stats["PARTIAL_committed"]))
    print("  slowest round: %.2fs round=%s %s %s" % tuple(slowest))
    print("  rounds with rows deleted but no audit row: %d (%d rows)" % (
        stats["rows_lost_rounds"], stats["rows_lost"]))
    odd_commit = stats["committed"] - stats["full_commit"]
    if odd_commit:
        print(f"  committed but not full/consistent: {odd_commit}")
    print("  failure patterns (outcome, non-ok statements) -> rounds:")
    for k, n in err_patterns.most_common(12):
        print(f"    {n:4d}  {k}")
    if partial_patterns:
        print("  PARTIAL patterns:")
        for k, n in partial_patterns.most_common(12):
            print(f"    {n:4d}  {k}")
    for ex in examples:
        r, outcome, good, gone, acount, asum, upd, log = ex
        print(f"  ex round {r}: {outcome} {'OK' if good else 'PARTIAL'} gone={gone} "
              f"audit={acount}/{asum} update={'yes' if upd else 'no'} log={log}")
    if getattr(a, "last_error", None):
        print("  last error seen by A:", a.last_error)
    for w in wstats:
        print("  writer ok=%d err=%d %s" % w)
    a.c.close()
    v.close()


if __name__ == "__main__":
    main()
