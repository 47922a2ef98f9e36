//! The reports workloads (`--reports`, and after the others with `--moderation`; issue 21,
//! item 5; docs/api.md §7.10), each beside its floor (`Sql::report_queue`,
//! `Sql::file_report`, `Sql::send`: the store's statements issued straight at the database).
//!
//! 1. **The queues.** Two rooms of 10,000 open reports each, filed over HTTP (so the rows,
//!    `rooms.open_reports` and the events are exactly what the API writes) by 200 reporters
//!    per room, members, 50 reports each (under the 60 a minute): `rq1`, 10,000 messages
//!    reported once; `rq4`, 2,500 messages reported by four members each. Then the first
//!    page (default limit, 20) of `GET /rooms/{roomID}/reports` of each, and of
//!    `GET /admin/reports` (both rooms' 20,000), read many times; each HTTP read is followed
//!    by one of the floor, so that both see the same machine.
//! 2. **The rate.** One client sends into four other rooms at a steady 100 a second (after a
//!    second of warm-up): alone, then while 10 clients report at a steady 500 a second into
//!    room `rr` (each report a message of its own, from 100 reporters in turn: 50 each in
//!    the 10 s), then alone again. Then the same three phases as the floor: the sends' and
//!    the reports' SQL issued directly on twin rooms, at the same rates (on SQLite its
//!    writers take turns in process, as the server's do; the connections keep SQLite's
//!    WAL autocheckpoint, as the server's do). On SQLite the floor runs a second time with
//!    `wal_autocheckpoint = 0`: what the commits' checkpoints cost the sends' tail.
//!
//! `quick`: 1,000 reports a queue, 50 reads, phases of 2 s.

use crate::client::Client;
use crate::load::{Stats, quantile_ms};
use crate::server::{API_KEY, CLIENT_KEY};
use crate::sql::Sql;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Sizes of a run.
struct Plan {
    /// Open reports of each queue room.
    queue: u64,
    /// Reads of each queue, HTTP and floor each.
    reads: usize,
    /// Reports a second in the rate phase.
    rate: u64,
    /// Sends a second into the other rooms.
    send_rate: u64,
    /// Length of each rate phase.
    phase: Duration,
}

/// Reporters of each queue room.
const QUEUE_REPORTERS: u64 = 200;
/// Most reports a reporter files in a phase (the limit is 60 a minute).
const PER_REPORTER: u64 = 50;
/// Clients reporting in the rate phase.
const REPORT_CLIENTS: usize = 10;
/// Clients filing the queues' reports (closed loop).
const SEED_CLIENTS: usize = 8;
/// Rooms the steady sends go to, in turn.
const SEND_ROOMS: usize = 4;
const CATEGORIES: [&str; 4] = ["spam", "abuse", "sensitive", "other"];

/// Runs the workloads; returns Markdown table rows.
pub fn run(addr: std::net::SocketAddr, url: &str, quick: bool) -> anyhow::Result<Vec<String>> {
    let plan = if quick {
        Plan {
            queue: 1_000,
            reads: 50,
            rate: 500,
            send_rate: 100,
            phase: Duration::from_secs(2),
        }
    } else {
        Plan {
            queue: 10_000,
            reads: 500,
            rate: 500,
            send_rate: 100,
            phase: Duration::from_secs(10),
        }
    };
    let mut admin = Client::new(addr, format!("IM-API-KEY: {API_KEY}\r\n"));
    let token = new_client(&mut admin, "rmod", true)?;
    let senders: Vec<String> = (0..10).map(|i| format!("rs{i}")).collect();
    for s in &senders {
        new_client(&mut admin, s, false)?;
    }
    let mut rows = vec![format!(
        "### reports: queues of {} open reports, reporting at {}/s for {} s\n\n| measurement | HTTP | floor (same SQL, direct) | HTTP / floor |\n|---|---|---|---|",
        plan.queue,
        plan.rate,
        plan.phase.as_secs()
    )];
    let mut db = Sql::open(url)?;
    let token_hash = db.text("SELECT token_hash AS t FROM tokens WHERE client_id = 'rmod'")?;
    let t0 = chrono::Utc::now().timestamp_millis() - 86_400_000;

    // The queues: rooms of `queue` reports on `queue / per_message` messages.
    let mut seeded = (0_u64, Duration::ZERO);
    for (room, prefix, per_message) in [("rq1", "ra", 1), ("rq4", "rb", 4)] {
        let reporters: Vec<String> = (0..QUEUE_REPORTERS)
            .map(|i| format!("{prefix}{i}"))
            .collect();
        let mut tokens = Vec::new();
        for r in &reporters {
            tokens.push(new_client(&mut admin, r, true)?);
        }
        let members: Vec<String> = reporters.iter().chain(&senders).cloned().collect();
        new_room(&mut admin, room, &members)?;
        let messages = plan.queue / per_message;
        db.seed_from(room, messages, "rs", 10, t0)?;
        db.checkpoint()?;
        // Report `j` is of message `j / per_message + 1`, by reporter `j % 200`: a message's
        // reporters are distinct, and each reporter files `queue / 200` reports.
        eprintln!("filing {} reports in {room}", plan.queue);
        let next = AtomicU64::new(0);
        let failed = Mutex::new(None);
        let started = Instant::now();
        std::thread::scope(|scope| {
            for _ in 0..SEED_CLIENTS {
                scope.spawn(|| {
                    let mut client = Client::new(addr, String::new());
                    loop {
                        let j = next.fetch_add(1, Ordering::Relaxed);
                        if j >= plan.queue {
                            return;
                        }
                        let path = format!(
                            "/rooms/{room}/messages/{room}-{:09}/reports",
                            j / per_message + 1
                        );
                        let body = if j.is_multiple_of(5) {
                            format!(
                                r#"{{"category":"{}","reason":"seen it in three rooms"}}"#,
                                CATEGORIES[(j % 4) as usize]
                            )
                        } else {
                            format!(r#"{{"category":"{}"}}"#, CATEGORIES[(j % 4) as usize])
                        };
                        let r = client.call_with(
                            "POST",
                            &path,
                            Some(&body),
                            &user_auth(&tokens[(j % QUEUE_REPORTERS) as usize]),
                        );
                        let problem = match r {
                            Ok(r) if r.status == 200 => continue,
                            Ok(r) => format!("{}: {}", r.status, String::from_utf8_lossy(&r.body)),
                            Err(e) => e.to_string(),
                        };
                        *failed
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner) =
                            Some(format!("report {j} in {room}: {problem}"));
                        return;
                    }
                });
            }
        });
        let took = started.elapsed();
        if let Some(problem) = failed.into_inner().unwrap_or(None) {
            anyhow::bail!("{problem}");
        }
        seeded.0 += plan.queue;
        seeded.1 += took;
        let open = db.number(&format!(
            "SELECT COUNT(*) AS n FROM reports WHERE room_id = '{room}' AND state = 'open'"
        ))?;
        let counted = db.number(&format!(
            "SELECT open_reports AS n FROM rooms WHERE id = '{room}'"
        ))?;
        anyhow::ensure!(
            open == i64::try_from(plan.queue)? && counted == open,
            "{room}: {open} open reports, rooms.open_reports {counted}, {} filed",
            plan.queue
        );
    }
    db.checkpoint()?;
    rows.push(format!(
        "| the queues' {} reports filed over HTTP by {SEED_CLIENTS} clients (closed loop): rate | {:.0} reports/s | | |",
        seeded.0,
        seeded.0 as f64 / seeded.1.as_secs_f64()
    ));

    let mut moderator = Client::new(addr, user_auth(&token));
    for (label, room, per_message) in [
        (
            format!(
                "`GET /rooms/rq1/reports`, first page of 20: {} open reports, one per message",
                plan.queue
            ),
            "rq1",
            1,
        ),
        (
            format!(
                "`GET /rooms/rq4/reports`, first page of 20: {} open reports, four per message",
                plan.queue
            ),
            "rq4",
            4,
        ),
    ] {
        eprintln!("reading the queue of {room}");
        let path = format!("/rooms/{room}/reports");
        let (http, floor, parts) = reads(plan.reads, &mut db, |db| {
            let (r, took) = moderator.timed("GET", &path, None)?;
            check_page(&r, per_message)?;
            let t = Instant::now();
            let (items, parts) = db.report_queue(Some(&token_hash), Some(room), 20)?;
            anyhow::ensure!(items.len() == 20, "floor page of {room}: {}", items.len());
            Ok((took, t.elapsed(), parts))
        })?;
        rows.push(queue_row(&label, &http, &floor, &parts));
    }
    eprintln!("reading the platform's queue");
    let (http, floor, parts) = reads(plan.reads, &mut db, |db| {
        let (r, took) = admin.timed("GET", "/admin/reports", None)?;
        check_page(&r, 4)?;
        let t = Instant::now();
        let (items, parts) = db.report_queue(None, None, 20)?;
        anyhow::ensure!(items.len() == 20, "floor platform page: {}", items.len());
        Ok((took, t.elapsed(), parts))
    })?;
    rows.push(queue_row(
        &format!(
            "`GET /admin/reports`, first page of 20: {} open reports in 2 rooms",
            plan.queue * 2
        ),
        &http,
        &floor,
        &parts,
    ));

    rate(
        addr,
        url,
        &plan,
        &mut admin,
        &token,
        &token_hash,
        t0,
        &mut rows,
    )?;
    Ok(rows)
}

/// What one set of rate phases measured.
struct Phases {
    /// Sends, nobody reporting, before.
    before: Paced,
    /// Sends while reporting.
    during: Paced,
    /// The reports.
    reports: Paced,
    /// Sends, nobody reporting, after.
    after: Paced,
}

/// A warm-up of the sends (1 s, not kept), the sends alone, the sends while reporting, the
/// sends alone again.
fn phases<S: Send, R>(
    plan: &Plan,
    what: &str,
    sender: impl Fn(usize) -> S + Sync,
    send: impl Fn(&mut S, u64) -> anyhow::Result<bool> + Sync,
    reporter: impl Fn(usize) -> R + Sync,
    report: impl Fn(&mut R, u64) -> anyhow::Result<bool> + Sync,
) -> Phases {
    // Each phase sends messages of its own: `i` is offset by the phase.
    let step = plan.send_rate * (plan.phase.as_secs() + 1) * 2;
    let sends = |phase: u64, duration: Duration| {
        paced(1, plan.send_rate, duration, &sender, |s: &mut S, i| {
            send(s, phase * step + i)
        })
    };
    eprintln!("{what}: sends alone");
    let _ = sends(0, Duration::from_secs(1));
    let before = sends(1, plan.phase);
    eprintln!("{what}: sends while reporting at {}/s", plan.rate);
    let (during, reports) = std::thread::scope(|scope| {
        let during = scope.spawn(|| sends(2, plan.phase));
        let reports = paced(REPORT_CLIENTS, plan.rate, plan.phase, &reporter, &report);
        (during.join().unwrap_or_default(), reports)
    });
    eprintln!("{what}: sends alone again");
    let after = sends(3, plan.phase);
    Phases {
        before,
        during,
        reports,
        after,
    }
}

/// The rate phases (module docs, 2).
#[expect(clippy::too_many_arguments, reason = "one call, in `run`")]
fn rate(
    addr: std::net::SocketAddr,
    url: &str,
    plan: &Plan,
    admin: &mut Client,
    token: &str,
    token_hash: &str,
    t0: i64,
    rows: &mut Vec<String>,
) -> anyhow::Result<()> {
    let total = plan.rate * plan.phase.as_secs();
    let reporters = total.div_ceil(PER_REPORTER);
    let mut tokens = Vec::new();
    for i in 0..reporters {
        tokens.push(new_client(admin, &format!("rr{i}"), true)?);
        new_client(admin, &format!("rf{i}"), false)?;
    }
    let members = |prefix: &str| -> Vec<String> {
        (0..reporters)
            .map(|i| format!("{prefix}{i}"))
            .chain((0..10).map(|i| format!("rs{i}")))
            .collect()
    };
    new_room(admin, "rr", &members("rr"))?;
    // The floor's twin; reported twice on SQLite (with and without WAL autocheckpoints).
    new_room(admin, "frr", &members("rf"))?;
    for i in 0..SEND_ROOMS {
        new_room(admin, &format!("ro{i}"), &[])?;
        new_room(admin, &format!("fro{i}"), &[])?;
    }
    let mut db = Sql::open(url)?;
    for room in ["rr", "frr"] {
        db.seed_from(room, total * 2 + 1_000, "rs", 10, t0)?;
    }
    db.checkpoint()?;
    let sqlite = db.is_sqlite();
    drop(db);

    // HTTP.
    let http = phases(
        plan,
        "HTTP",
        |_| Client::new(addr, user_auth(token)),
        |c: &mut Client, i| {
            let path = format!("/rooms/ro{}/message", i % SEND_ROOMS as u64);
            answered(&c.call("POST", &path, Some(r#"{"message":"hello"}"#))?)
        },
        |_| Client::new(addr, String::new()),
        |c: &mut Client, j| {
            let path = format!("/rooms/rr/messages/rr-{:09}/reports", j + 1);
            let auth = user_auth(&tokens[(j % reporters) as usize]);
            answered(&c.call_with("POST", &path, Some(r#"{"category":"spam"}"#), &auth)?)
        },
    );

    // The floor: the same, straight at the database, on the twin rooms. SQLite has one
    // writer: the floor serializes its writers in process, as the server does.
    let writer = Mutex::new(());
    let turn = || {
        sqlite.then(|| {
            writer
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        })
    };
    let second = chrono::Utc::now().timestamp();
    // Reports `first + j` of the twin room (the second floor on SQLite reports other messages).
    let floor = |what: &str, autocheckpoint: bool, first: u64| {
        let open = || {
            let mut db = Sql::open(url)?;
            if !autocheckpoint {
                db.run("PRAGMA wal_autocheckpoint = 0;")?;
            }
            anyhow::Ok(db)
        };
        phases(
            plan,
            what,
            |_| open(),
            |db: &mut anyhow::Result<Sql>, i| {
                let db = db.as_mut().map_err(|e| anyhow::anyhow!("{e}"))?;
                let _turn = turn();
                let id = format!("floor-send-{first}-{i}");
                db.send(
                    token_hash,
                    &format!("fro{}", i % SEND_ROOMS as u64),
                    "rmod",
                    &id,
                )?;
                Ok(true)
            },
            |_| open(),
            |db: &mut anyhow::Result<Sql>, j| {
                let db = db.as_mut().map_err(|e| anyhow::anyhow!("{e}"))?;
                let _turn = turn();
                let n = first + j;
                db.file_report(
                    token_hash,
                    "frr",
                    &format!("frr-{:09}", n + 1),
                    &format!("rf{}", n % reporters),
                    &format!("{second:08x}{n:016x}"),
                )?;
                Ok(true)
            },
        )
    };
    let direct = floor("floor", true, 0);
    let unchecked = sqlite.then(|| floor("floor without WAL autocheckpoints", false, total));
    let mut db = Sql::open(url)?;
    db.checkpoint()?;
    let open = db.number("SELECT open_reports AS n FROM rooms WHERE id = 'rr'")?;

    let sends = |p: &Paced| {
        format!(
            "{:.2} / {:.2} ms ({} sends, {} late, {} errors)",
            p.stats.quantile_ms(0.5),
            p.stats.quantile_ms(0.99),
            p.stats.ops,
            p.late,
            p.stats.errors
        )
    };
    let p99 = |p: &Paced| p.stats.quantile_ms(0.99);
    let per = plan.send_rate;
    for (label, pick) in [
        (
            "nobody reporting, before",
            (|p: &Phases| &p.before) as fn(&Phases) -> &Paced,
        ),
        ("while reporting", |p: &Phases| &p.during),
        ("nobody reporting, after", |p: &Phases| &p.after),
    ] {
        rows.push(format!(
            "| sends into {SEND_ROOMS} other rooms at {per}/s (1 client), {label}: p50 / p99 | {} | {} | {:.1}× (p99) |",
            sends(pick(&http)),
            sends(pick(&direct)),
            p99(pick(&http)) / p99(pick(&direct))
        ));
    }
    let slowdown = |p: &Phases| {
        format!(
            "{:.2}× / {:.2}×",
            p99(&p.during) / p99(&p.before),
            p99(&p.during) / p99(&p.after)
        )
    };
    rows.push(format!(
        "| **sends' p99 while reporting / before, / after** (target at most 1.5×) | **{}** | {} | |",
        slowdown(&http),
        slowdown(&direct)
    ));
    let filed = |p: &Paced| {
        format!(
            "{:.0}/s ({} filed, {} late, {} errors), {:.2} / {:.2} ms",
            p.stats.per_sec(),
            p.stats.ops,
            p.late,
            p.stats.errors,
            p.stats.quantile_ms(0.5),
            p.stats.quantile_ms(0.99)
        )
    };
    rows.push(format!(
        "| reports at {}/s into one room ({REPORT_CLIENTS} clients, {reporters} reporters in turn): achieved rate, p50 / p99 | {} | {} | {:.1}× / {:.1}× |",
        plan.rate,
        filed(&http.reports),
        filed(&direct.reports),
        http.reports.stats.quantile_ms(0.5) / direct.reports.stats.quantile_ms(0.5),
        p99(&http.reports) / p99(&direct.reports)
    ));
    if let Some(u) = unchecked {
        rows.push(format!(
            "| floor without WAL autocheckpoints (`wal_autocheckpoint = 0`): sends before / while reporting / after, p50 / p99 | | {}; {}; {} | |",
            sends(&u.before),
            sends(&u.during),
            sends(&u.after)
        ));
        rows.push(format!(
            "| … its sends' p99 while reporting / before, / after; its reports | | {}; {} | |",
            slowdown(&u),
            filed(&u.reports)
        ));
    }
    rows.push(format!(
        "| `rooms.open_reports` of `rr` after the phase (= reports filed) | {open} (filed {}) | | |",
        http.reports.stats.ops
    ));
    Ok(())
}

/// Whether `r` is a 200; an error naming the answer otherwise.
fn answered(r: &crate::client::Response) -> anyhow::Result<bool> {
    anyhow::ensure!(
        r.status == 200,
        "{}: {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    Ok(true)
}

/// `IM-CLIENT-KEY` and `IM-Authorization` header lines for `token`.
fn user_auth(token: &str) -> String {
    format!("IM-CLIENT-KEY: {CLIENT_KEY}\r\nIM-Authorization: {token}\r\n")
}

/// Creates client `id` over HTTP; its access token when `token`, else empty.
fn new_client(admin: &mut Client, id: &str, token: bool) -> anyhow::Result<String> {
    let body = if token {
        format!(r#"{{"_id":"{id}","issueAccessToken":true}}"#)
    } else {
        format!(r#"{{"_id":"{id}"}}"#)
    };
    let r = admin.call("POST", "/admin/clients", Some(&body))?;
    anyhow::ensure!(
        r.status == 200,
        "creating {id}: {}",
        String::from_utf8_lossy(&r.body)
    );
    Ok(r.json()?["result"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

/// Creates room `id` over HTTP, owned by `rmod`, with `members`.
fn new_room(admin: &mut Client, id: &str, members: &[String]) -> anyhow::Result<()> {
    let body = serde_json::json!({"_id": id, "owner": "rmod", "members": members}).to_string();
    let r = admin.call("POST", "/rooms", Some(&body))?;
    anyhow::ensure!(
        r.status == 200,
        "creating {id}: {}",
        String::from_utf8_lossy(&r.body)
    );
    Ok(())
}

/// Checks a queue's first page: 20 items, the first reported `count` times, each with its
/// reports (at most 10) and its visible content.
fn check_page(r: &crate::client::Response, count: u64) -> anyhow::Result<()> {
    anyhow::ensure!(
        r.status == 200,
        "queue: {}",
        String::from_utf8_lossy(&r.body)
    );
    let v = r.json()?;
    let items = v["result"]["data"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    anyhow::ensure!(items.len() == 20, "queue page of {} items", items.len());
    let first = &items[0];
    anyhow::ensure!(
        first["reportCount"].as_u64() == Some(count)
            && first["reports"].as_array().map(Vec::len) == Some(count.min(10) as usize)
            && first["message"].is_string(),
        "unexpected first item {first}"
    );
    Ok(())
}

/// Latencies: HTTP, floor, and the floor's three statements (the items, the newest
/// reports, the content) each.
type Reads = (Vec<Duration>, Vec<Duration>, [Vec<Duration>; 3]);

/// A warm-up, then `reads` rounds of `one` (an HTTP read, then a floor read); their
/// latencies.
fn reads(
    reads: usize,
    db: &mut Sql,
    mut one: impl FnMut(&mut Sql) -> anyhow::Result<(Duration, Duration, [Duration; 3])>,
) -> anyhow::Result<Reads> {
    one(db)?;
    let mut out = Reads::default();
    for _ in 0..reads {
        let (h, f, parts) = one(db)?;
        out.0.push(h);
        out.1.push(f);
        for (all, part) in out.2.iter_mut().zip(parts) {
            all.push(part);
        }
    }
    Ok(out)
}

fn queue_row(
    label: &str,
    http: &[Duration],
    floor: &[Duration],
    parts: &[Vec<Duration>; 3],
) -> String {
    let q = |d: &[Duration], p| quantile_ms(d, p);
    let [aggregate, newest, content] = parts;
    format!(
        "| {label}: p50 / p99 | {:.2} / {:.2} ms | {:.2} / {:.2} ms (of which the items {:.2} / {:.2}, the newest reports {:.2} / {:.2}, the content {:.2} / {:.2} ms) | {:.1}× / {:.1}× |",
        q(http, 0.5),
        q(http, 0.99),
        q(floor, 0.5),
        q(floor, 0.99),
        q(aggregate, 0.5),
        q(aggregate, 0.99),
        q(newest, 0.5),
        q(newest, 0.99),
        q(content, 0.5),
        q(content, 0.99),
        q(http, 0.5) / q(floor, 0.5),
        q(http, 0.99) / q(floor, 0.99)
    )
}

/// What a paced workload did.
#[derive(Default)]
struct Paced {
    stats: Stats,
    /// Operations started more than one interval after their time.
    late: u64,
}

/// Runs `op(state, i)` for `i` = 0, 1, … at `rate` a second in total for `duration`,
/// spread over `threads` threads (thread `t` runs the `i` with `i % threads == t`, one every
/// `threads / rate` s), each operation at its time or, when the thread is behind, at once.
/// Latencies are measured from each operation's start.
fn paced<S>(
    threads: usize,
    rate: u64,
    duration: Duration,
    setup: impl Fn(usize) -> S + Sync,
    op: impl Fn(&mut S, u64) -> anyhow::Result<bool> + Sync,
) -> Paced {
    let interval = Duration::from_secs_f64(threads as f64 / rate as f64);
    let started = Instant::now() + Duration::from_millis(200);
    let end = started + duration;
    let late = AtomicU64::new(0);
    let errors = AtomicU64::new(0);
    let latencies: Vec<Vec<Duration>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (setup, op, late, errors) = (&setup, &op, &late, &errors);
                scope.spawn(move || {
                    let mut state = setup(t);
                    let mut mine = Vec::new();
                    let mut k = 0_u64;
                    loop {
                        let at = started + interval.mul_f64(k as f64 + t as f64 / threads as f64);
                        if at >= end {
                            return mine;
                        }
                        let now = Instant::now();
                        if at > now {
                            std::thread::sleep(at - now);
                        } else if now - at > interval {
                            late.fetch_add(1, Ordering::Relaxed);
                        }
                        let t0 = Instant::now();
                        match op(&mut state, k * threads as u64 + t as u64) {
                            Ok(true) => mine.push(t0.elapsed()),
                            Ok(false) => {
                                errors.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => {
                                // The first few, so that a run's errors can be told apart.
                                if errors.fetch_add(1, Ordering::Relaxed) < 3 {
                                    eprintln!("error: {e}");
                                }
                            }
                        }
                        k += 1;
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let latencies: Vec<Duration> = latencies.into_iter().flatten().collect();
    Paced {
        stats: Stats {
            ops: latencies.len() as u64,
            errors: errors.into_inner(),
            elapsed: Instant::now().saturating_duration_since(started),
            latencies,
        },
        late: late.into_inner(),
    }
}
