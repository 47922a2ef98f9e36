//! HTTP benchmark (`just bench-http`): the release server on a fresh database, driven over
//! loopback, beside a **floor** measured in the same run: the same transactions issued
//! straight at the database without HTTP ([`sql`]). Prints a Markdown report with ratios.
//!
//! ```text
//! cargo build --release --features mysql
//! cargo run --release -p roomwarden-adapters --features mysql --example bench_http -- sqlite
//! cargo run --release -p roomwarden-adapters --features mysql --example bench_http -- mysql
//! ```
//!
//! Options: `--quick` (a 100,000-message "big" room instead of 1,000,000 and shorter
//! phases, to check the harness itself), `--moderation` (only the moderation workloads of
//! `moderation.rs`, then those of `reports.rs` unless `--no-reports`), `--reports` (only the reports workloads of
//! `reports.rs`: the queues of 10,000 open reports, reporting at 500/s beside steady sends;
//! `just bench-reports`), `--clears` (only the `_all` clears, the sends into another room during
//! the large one's purge and the floor of its removal; `just bench-clears`), `--deletes` (only
//! the single deletes beside their floors, batched and one round trip per statement; `just
//! bench-deletes`), `--outbox` (only the 1,000 deletions/s into one room with a webhook, beside
//! the same paced deletions straight at the database; `just bench-outbox`), `--phase=SECS`
//! (length of each load phase). `ROOMWARDEN_BIN` names the server binary
//! (default `target/release/roomwarden`), `ROOMWARDEN_BENCH_MYSQL_URL` the MySQL server
//! (default `mysql://root@127.0.0.1:3306`; a fresh database is created and dropped).
//!
//! The backend `galera` runs the Galera cluster workloads of `galera.rs` instead
//! (`just bench-galera`). `--chain` runs the verifiable audit log's benchmark of `chain.rs`
//! instead (`just bench-chain`): `ROOMWARDEN_BIN_BEFORE` names the server built before the
//! chain; `--rounds=N`, `--records=N`, `--part=deletes|log`, `--keyed` (each single delete
//! by the API key with an `Idempotency-Key` of its own, instead of by a moderator's token).
//! `--pages` runs the newest-page A/B of `pages.rs` instead (`just bench-pages`), with
//! `ROOMWARDEN_BIN_BEFORE` and `--rounds=N` likewise.
#![expect(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "a benchmark reports on standard output and computes approximate figures"
)]

mod chain;
mod client;
mod galera;
mod load;
mod moderation;
mod pages;
mod reports;
mod server;
mod sql;

use client::Client;
use load::{Stats, quantile_ms};
use server::{API_KEY, CLIENT_KEY, Receiver, Server};
use sql::Sql;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Rooms the single-delete workload spreads its clients over (client `t` uses room `t % 32`).
const DELETE_ROOMS: usize = 32;

#[derive(Clone, Copy)]
struct Plan {
    big: u64,
    per_room: u64,
    phase: Duration,
    outbox_secs: u64,
    /// Which workloads run.
    only: Only,
}

/// Which workloads of the full run a run keeps.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Only {
    /// All of them.
    All,
    /// `--clears`: the clears (and the sends during the large one's purge).
    Clears,
    /// `--deletes`: the single deletes beside their floors.
    Deletes,
    /// `--outbox`: the paced deletions into one room with a webhook, beside their floor.
    Outbox,
}

impl Only {
    /// Whether workload `w` runs.
    fn runs(self, w: Self) -> bool {
        self == Self::All || self == w
    }
}

struct Bench {
    backend: &'static str,
    url: String,
    addr: std::net::SocketAddr,
    token: String,
    token_hash: String,
    plan: Plan,
    /// Next message number per room, shared by every workload that deletes there.
    next: Mutex<std::collections::HashMap<String, Arc<AtomicU64>>>,
    report: Vec<String>,
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let backend = match args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map(String::as_str)
    {
        None | Some("sqlite") => "sqlite",
        Some("mysql") => "mysql",
        Some("galera") => "galera",
        Some(other) => anyhow::bail!("unknown backend {other:?}: sqlite, mysql or galera"),
    };
    let plan = if quick {
        Plan {
            big: 100_000,
            per_room: 3_000,
            phase: Duration::from_secs(1),
            outbox_secs: 3,
            only: Only::All,
        }
    } else {
        Plan {
            big: 1_000_000,
            per_room: 8_000,
            phase: Duration::from_secs(3),
            outbox_secs: 10,
            only: Only::All,
        }
    };
    let mut plan = plan;
    for (flag, only) in [
        ("--clears", Only::Clears),
        ("--deletes", Only::Deletes),
        ("--outbox", Only::Outbox),
    ] {
        if args.iter().any(|a| a == flag) {
            plan.only = only;
        }
    }
    if let Some(secs) = args.iter().find_map(|a| a.strip_prefix("--phase=")) {
        plan.phase = Duration::from_secs(secs.parse()?);
    }
    let binary =
        std::env::var("ROOMWARDEN_BIN").unwrap_or_else(|_| "target/release/roomwarden".to_owned());
    let dir = std::env::temp_dir().join(format!("roomwarden-bench-http-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    if backend == "galera" {
        let report = galera::run(&binary, &dir, plan, quick);
        let _ = std::fs::remove_dir_all(&dir);
        println!("{}", report?.join("\n"));
        return Ok(());
    }
    if args.iter().any(|a| a == "--pages") {
        anyhow::ensure!(backend != "galera", "--pages runs on sqlite or mysql");
        let before = std::env::var("ROOMWARDEN_BIN_BEFORE").map_err(|_| {
            anyhow::anyhow!("ROOMWARDEN_BIN_BEFORE names the server to compare with")
        })?;
        let rounds = args
            .iter()
            .find_map(|a| a.strip_prefix("--rounds="))
            .map_or(Ok(3), str::parse)?;
        let report = pages::run(
            backend, &before, &binary, plan.big, plan.phase, rounds, &dir,
        );
        let _ = std::fs::remove_dir_all(&dir);
        println!("{}", report?.join("\n"));
        return Ok(());
    }
    if args.iter().any(|a| a == "--chain") {
        anyhow::ensure!(backend != "galera", "--chain runs on sqlite or mysql");
        let value = |name: &str| args.iter().find_map(|a| a.strip_prefix(name));
        let part = value("--part=");
        let options = chain::Options {
            backend,
            before: std::env::var("ROOMWARDEN_BIN_BEFORE").ok(),
            after: binary,
            phase: plan.phase,
            rounds: value("--rounds=").map_or(Ok(3), str::parse)?,
            records: value("--records=")
                .map_or(Ok(if quick { 20_000 } else { 1_000_000 }), str::parse)?,
            deletes: part != Some("log"),
            log: part != Some("deletes"),
            keyed: args.iter().any(|a| a == "--keyed"),
        };
        let report = chain::run(&options, &dir);
        let _ = std::fs::remove_dir_all(&dir);
        println!("{}", report?.join("\n"));
        return Ok(());
    }
    let (url, mysql_db) = if backend == "sqlite" {
        (format!("sqlite://{}", dir.join("bench.db").display()), None)
    } else {
        let base = std::env::var("ROOMWARDEN_BENCH_MYSQL_URL")
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_owned());
        let name = format!("roomwarden_bench_{}", std::process::id());
        (
            format!("{}/{name}", base.trim_end_matches('/')),
            Some((base, name)),
        )
    };
    let receiver = Receiver::start()?;
    let server = Server::start(&binary, &url, &dir.join("server.log"), &[])?;
    let result = if args.iter().any(|a| a == "--moderation") {
        let per_room = if quick { 100 } else { 1_000 };
        let with_reports = !args.iter().any(|a| a == "--no-reports");
        moderation::run(server.addr, &url, plan.big, per_room).and_then(|mut rows| {
            if with_reports {
                rows.push(String::new());
                rows.extend(reports::run(server.addr, &url, quick)?);
            }
            Ok(rows)
        })
    } else if args.iter().any(|a| a == "--reports") {
        reports::run(server.addr, &url, quick)
    } else {
        run(backend, &url, &server, &receiver, plan)
    };
    let peak = server.stop();
    if let Some((base, name)) = mysql_db
        && let Ok(mut admin) = Sql::open(&base)
    {
        let _ = admin.run(&format!("DROP DATABASE IF EXISTS `{name}`"));
    }
    let mut report = result?;
    report.push(format!(
        "| peak RSS of the server, whole run | {:.1} MiB | |",
        peak.rss_kib as f64 / 1024.0
    ));
    report.push(format!(
        "| most threads of the server at once | {} | |",
        peak.threads
    ));
    println!("{}", report.join("\n"));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn run(
    backend: &'static str,
    url: &str,
    server: &Server,
    receiver: &Receiver,
    plan: Plan,
) -> anyhow::Result<Vec<String>> {
    let mut rooms: Vec<String> = (0..DELETE_ROOMS)
        .flat_map(|i| [format!("d{i}"), format!("f{i}")])
        .collect();
    rooms.extend(
        [
            "c10k", "c50k", "cbig", "fc10k", "fc50k", "fcbig", "small", "s", "fhook",
        ]
        .map(str::to_owned),
    );
    let (mut admin, token) = moderator_and_rooms(server.addr, &rooms)?;
    let body = format!(
        r#"{{"_id":"hook","owner":"mod","webhook":"{}"}}"#,
        receiver.url
    );
    let r = admin.call("POST", "/rooms", Some(&body))?;
    anyhow::ensure!(
        r.status == 200,
        "creating hook: {}",
        String::from_utf8_lossy(&r.body)
    );

    let mut db = Sql::open(url)?;
    let token_hash = db.text("SELECT token_hash AS t FROM tokens LIMIT 1")?;
    let seeding = Instant::now();
    for i in (0..DELETE_ROOMS).filter(|_| plan.only.runs(Only::Deletes)) {
        db.seed(&format!("d{i}"), plan.per_room)?;
        // The floor is faster: it needs more messages to delete in the same time.
        db.seed(&format!("f{i}"), plan.per_room * 4)?;
    }
    for (room, n, _) in [
        ("c10k", 10_000, Only::Clears),
        ("c50k", 50_000, Only::Clears),
        ("cbig", plan.big, Only::Clears),
        ("small", 100, Only::All),
        ("hook", plan.outbox_secs * 1_200, Only::Outbox),
    ]
    .into_iter()
    .filter(|(_, _, w)| plan.only.runs(*w))
    {
        db.seed(room, n)?;
        if room.starts_with('c') || room == "hook" {
            db.seed(&format!("f{room}"), n)?;
        }
    }
    db.checkpoint()?;
    eprintln!("seeded in {:.1} s", seeding.elapsed().as_secs_f64());

    let mut bench = Bench {
        backend,
        url: url.to_owned(),
        addr: server.addr,
        token,
        token_hash,
        plan,
        next: Mutex::default(),
        report: Vec::new(),
    };
    bench.report.push(format!(
        "### {backend}: big room {} messages, phases of {} s\n\n| measurement | HTTP | floor (same SQL, direct) | HTTP / floor |\n|---|---|---|---|",
        bench.plan.big,
        bench.plan.phase.as_secs()
    ));
    if plan.only == Only::All {
        bench.pages()?;
    }
    if plan.only.runs(Only::Deletes) {
        bench.single_deletes(&[1, 8, 32])?;
        // Every deletion so far was in a room without a webhook, and no global webhook is
        // set: their events are written `skipped`, so the dispatcher has nothing to do.
        let pending = db.pending_events()?;
        bench.row(
            "events pending after the single-delete phases (rooms without a webhook, no global webhook)",
            &pending.to_string(),
            "",
            "",
        );
    }
    if plan.only.runs(Only::Clears) {
        bench.clears()?;
    }
    if plan.only.runs(Only::Outbox) {
        bench.outbox(server, receiver)?;
    }
    Ok(bench.report)
}

/// Creates the moderator `mod` (with an access token, returned) and `rooms` it owns, over
/// HTTP; also returns the API-key client.
fn moderator_and_rooms(
    addr: std::net::SocketAddr,
    rooms: &[String],
) -> anyhow::Result<(Client, String)> {
    let admin_auth = format!("IM-API-KEY: {API_KEY}\r\n");
    let mut admin = Client::new(addr, admin_auth);
    let r = admin.call(
        "POST",
        "/admin/clients",
        Some(r#"{"_id":"mod","issueAccessToken":true}"#),
    )?;
    anyhow::ensure!(
        r.status == 200,
        "creating the moderator: {}",
        String::from_utf8_lossy(&r.body)
    );
    let token = r.json()?["result"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for room in rooms {
        let body = format!(r#"{{"_id":"{room}","owner":"mod"}}"#);
        let r = admin.call("POST", "/rooms", Some(&body))?;
        anyhow::ensure!(
            r.status == 200,
            "creating {room}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    Ok((admin, token))
}

impl Bench {
    fn user(&self) -> Client {
        Client::new(
            self.addr,
            format!(
                "IM-CLIENT-KEY: {CLIENT_KEY}\r\nIM-Authorization: {}\r\n",
                self.token
            ),
        )
    }

    fn counter(&self, room: &str) -> Arc<AtomicU64> {
        let mut next = self
            .next
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(
            next.entry(room.to_owned())
                .or_insert_with(|| Arc::new(AtomicU64::new(1))),
        )
    }

    /// The next not yet deleted message of `room`.
    fn next_message(&self, room: &str) -> String {
        format!(
            "{room}-{:09}",
            self.counter(room).fetch_add(1, Ordering::Relaxed)
        )
    }

    fn row(&mut self, what: &str, http: &str, floor: &str, ratio: &str) {
        self.report
            .push(format!("| {what} | {http} | {floor} | {ratio} |"));
    }

    /// The newest page of the big and the small room, beside the floor; the HTTP medians
    /// (ms), in that order.
    fn pages(&mut self) -> anyhow::Result<Vec<f64>> {
        eprintln!("newest pages");
        let mut medians = Vec::new();
        for room in ["cbig", "small"] {
            let path = format!("/rooms/{room}/messages/v3?limit=20");
            let mut client = self.user();
            let _ = client.call("GET", &path, None)?;
            let http: Vec<Duration> = (0..200)
                .map(|_| {
                    client.timed("GET", &path, None).map(|(r, d)| {
                        assert_eq!(r.status, 200);
                        d
                    })
                })
                .collect::<anyhow::Result<_>>()?;
            let mut db = Sql::open(&self.url)?;
            let floor: Vec<Duration> = (0..200)
                .map(|_| {
                    let t = Instant::now();
                    db.newest_page(&self.token_hash, room).map(|()| t.elapsed())
                })
                .collect::<anyhow::Result<_>>()?;
            let (h, f) = (quantile_ms(&http, 0.5), quantile_ms(&floor, 0.5));
            medians.push(h);
            let size = if room == "small" { 100 } else { self.plan.big };
            self.row(
                &format!("newest page of 20 (totalCount), {size}-message room, median / p99"),
                &format!("{h:.2} / {:.2} ms", quantile_ms(&http, 0.99)),
                &format!("{f:.2} / {:.2} ms", quantile_ms(&floor, 0.99)),
                &format!("{:.1}×", h / f),
            );
        }
        Ok(medians)
    }

    /// Single deletes from each count of `clients`, beside the floor; their rates
    /// (HTTP ops/s, floor ops/s), in the same order.
    fn single_deletes(&mut self, clients: &[usize]) -> anyhow::Result<Vec<(f64, f64)>> {
        let sqlite = self.backend == "sqlite";
        let mut rates = Vec::new();
        for &clients in clients {
            eprintln!("single deletes, {clients} clients: HTTP, then the floor");
            let http = load::run(
                clients,
                self.plan.phase,
                None,
                |_| self.user(),
                |c, t| {
                    let room = format!("d{}", t % DELETE_ROOMS);
                    let path = format!("/rooms/{room}/messages/{}", self.next_message(&room));
                    Ok(c.call("DELETE", &path, None)?.status == 200)
                },
            );
            // `each`: one round trip per statement, as the server sends them (MySQL; the
            // issue's floor), where the plain floor sends the transaction as one batch.
            let floor = |checkpoint: bool, each: bool| {
                // SQLite has one writer: the floor serializes its writers in process, as the
                // server does, instead of letting them sleep in the busy handler.
                let writer = Mutex::new(());
                load::run(
                    clients,
                    self.plan.phase,
                    None,
                    |_| Sql::open(&self.url),
                    |db, t| {
                        let db = db.as_mut().map_err(|e| anyhow::anyhow!("{e}"))?;
                        let room = format!("f{}", t % DELETE_ROOMS);
                        let message = self.next_message(&room);
                        let deletion = format!("floor-{room}-{message}");
                        let _turn = sqlite.then(|| {
                            writer
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner)
                        });
                        db.delete_one(&self.token_hash, &room, &message, &deletion, each)?;
                        if checkpoint {
                            db.checkpoint()?;
                        }
                        Ok(true)
                    },
                )
            };
            let bare = floor(false, false);
            rates.push((http.per_sec(), bare.per_sec()));
            let per_delete = sqlite.then(|| floor(true, false));
            let each = (!sqlite).then(|| floor(false, true));
            self.delete_row(
                clients,
                &http,
                &bare,
                if sqlite {
                    "without checkpoint"
                } else {
                    "as one batch"
                },
            );
            if let Some(each) = each {
                self.row(
                    &format!("  … floor one round trip per statement, {clients} clients"),
                    "",
                    &format!(
                        "{:.0} ops/s, {:.1} / {:.1} ms",
                        each.per_sec(),
                        each.quantile_ms(0.5),
                        each.quantile_ms(0.99)
                    ),
                    &format!("{:.2}", http.per_sec() / each.per_sec()),
                );
            }
            if let Some(per_delete) = per_delete {
                self.row(
                    &format!(
                        "  … floor with a `wal_checkpoint(TRUNCATE)` per delete, {clients} clients"
                    ),
                    "",
                    &format!(
                        "{:.0} ops/s, p99 {:.1} ms",
                        per_delete.per_sec(),
                        per_delete.quantile_ms(0.99)
                    ),
                    &format!("{:.2}", http.per_sec() / per_delete.per_sec()),
                );
            }
        }
        Ok(rates)
    }

    fn delete_row(&mut self, clients: usize, http: &Stats, floor: &Stats, note: &str) {
        self.row(
            &format!(
                "single delete, {clients} clients: ops/s, p50 / p99{}",
                if http.errors > 0 {
                    format!(" ({} errors)", http.errors)
                } else {
                    String::new()
                }
            ),
            &format!(
                "{:.0} ops/s, {:.1} / {:.1} ms",
                http.per_sec(),
                http.quantile_ms(0.5),
                http.quantile_ms(0.99)
            ),
            &format!(
                "{:.0} ops/s, {:.1} / {:.1} ms {note}",
                floor.per_sec(),
                floor.quantile_ms(0.5),
                floor.quantile_ms(0.99)
            ),
            &format!("{:.2}", http.per_sec() / floor.per_sec()),
        );
    }

    /// `_all` on each room, the time until its rows are gone, and the sends of another room
    /// while the big room is purged.
    fn clears(&mut self) -> anyhow::Result<()> {
        let mut db = Sql::open(&self.url)?;
        let auth = format!(
            "IM-CLIENT-KEY: {CLIENT_KEY}\r\nIM-Authorization: {}\r\n",
            self.token
        );
        let sends_before = sends(self.addr, &auth, self.plan.phase, None);
        for (room, size) in [("c10k", 10_000), ("c50k", 50_000), ("cbig", self.plan.big)] {
            eprintln!("clearing the {size}-message room");
            let stop = Arc::new(AtomicBool::new(false));
            let sends = (room == "cbig").then(|| {
                let stop = Arc::clone(&stop);
                let (addr, auth) = (self.addr, auth.clone());
                std::thread::spawn(move || {
                    sends(addr, &auth, Duration::from_secs(3_600), Some(stop))
                })
            });
            if sends.is_some() {
                std::thread::sleep(Duration::from_millis(200));
            }
            let (r, took) =
                self.user()
                    .timed("DELETE", &format!("/rooms/{room}/messages/_all"), None)?;
            anyhow::ensure!(
                r.status == 200,
                "clear {room}: {}",
                String::from_utf8_lossy(&r.body)
            );
            let deleted = r.json()?["result"]["deletedCount"]
                .as_u64()
                .unwrap_or_default();
            anyhow::ensure!(deleted == size, "clear {room} deleted {deleted} of {size}");
            let started = Instant::now();
            while db.rows(room)? > 0 {
                anyhow::ensure!(
                    started.elapsed() < Duration::from_secs(600),
                    "purge of {room} stalled"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            let gone = started.elapsed() + took;
            stop.store(true, Ordering::Relaxed);
            // The purge's own last checkpoint may still be running: wait for the WAL to be
            // empty first, so the floor's checkpoint copies only its own transaction.
            db.checkpoint()?;
            let t = Instant::now();
            db.clear(
                &self.token_hash,
                &format!("f{room}"),
                &format!("floor-clear-{room}"),
            )?;
            db.checkpoint()?;
            let floor = t.elapsed();
            // Marked purged at once (its rows stay), so that the server's purger, which
            // polls for clears it has not finished, never removes the twin's rows during a
            // later phase (or beside the floor's own removal below).
            db.run(&format!(
                "UPDATE rooms SET purged_through_seq = cleared_through_seq WHERE id = 'f{room}'"
            ))?;
            // The floor of the removal, for the large room only: the purger's batches of
            // 1,000 rows straight at the database, back to back, on the twin.
            let removal = if room == "cbig" {
                let stop = Arc::new(AtomicBool::new(false));
                let sending = {
                    let stop = Arc::clone(&stop);
                    let (addr, auth) = (self.addr, auth.clone());
                    std::thread::spawn(move || {
                        crate::sends(addr, &auth, Duration::from_secs(3_600), Some(stop))
                    })
                };
                std::thread::sleep(Duration::from_millis(200));
                let t = Instant::now();
                let removed = db.purge_rows(&format!("f{room}"), 1_000);
                let took = t.elapsed();
                stop.store(true, Ordering::Relaxed);
                let during = sending
                    .join()
                    .map_err(|_| anyhow::anyhow!("sender panicked"))?;
                let removed = removed?;
                anyhow::ensure!(removed == size, "floor removed {removed} of {size}");
                Some((took, during))
            } else {
                None
            };
            self.row(
                &format!("`_all` on a {size}-message room: response (rows gone after)"),
                &format!(
                    "{:.2} ms ({:.2} s)",
                    took.as_secs_f64() * 1000.0,
                    gone.as_secs_f64()
                ),
                &format!("{:.2} ms", floor.as_secs_f64() * 1000.0),
                &format!("{:.1}×", took.as_secs_f64() / floor.as_secs_f64()),
            );
            if let Some((removal, during)) = &removal {
                let (server, floor) = (gone.as_secs_f64(), removal.as_secs_f64());
                self.row(
                    &format!("rows of the {size}-row clear removed per second (the floor: the purger's 1,000-row batches, back to back)"),
                    &format!("{:.0}/s", size as f64 / server),
                    &format!("{:.0}/s", size as f64 / floor),
                    &format!("{:.2}", floor / server),
                );
                self.row(
                    "… sends into another room (4 clients), p99 during the floor's removal",
                    "",
                    &format!(
                        "{:.1} ms ({} sends, {} errors)",
                        during.quantile_ms(0.99),
                        during.ops,
                        during.errors
                    ),
                    &format!(
                        "{:.1}× baseline",
                        during.quantile_ms(0.99) / sends_before.quantile_ms(0.99)
                    ),
                );
            }
            if let Some(handle) = sends {
                let during = handle
                    .join()
                    .map_err(|_| anyhow::anyhow!("sender panicked"))?;
                self.row(
                    &format!("sends into another room (4 clients), p99 before → during the {size}-row purge"),
                    &format!("{:.1} ms → {:.1} ms ({} sends, {} errors)", sends_before.quantile_ms(0.99), during.quantile_ms(0.99), during.ops, during.errors),
                    "",
                    &format!("{:.1}× baseline", during.quantile_ms(0.99) / sends_before.quantile_ms(0.99)),
                );
            }
        }
        Ok(())
    }

    /// 1,000 deletions a second in a room with a webhook, then the time until the outbox is
    /// drained (every event delivered to the loopback receiver).
    fn outbox(&mut self, server: &Server, receiver: &Receiver) -> anyhow::Result<()> {
        let secs = self.plan.outbox_secs;
        eprintln!("outbox: {secs} s of deletions at 1,000/s");
        let (done, late, load_took) = self.paced_deletes(
            || Ok::<_, std::convert::Infallible>(self.user()),
            |client| {
                let path = format!("/rooms/hook/messages/{}", self.next_message("hook"));
                Ok(client.call("DELETE", &path, None)?.status == 200)
            },
        );
        let stopped = Instant::now();
        let mut db = Sql::open(&self.url)?;
        let pending_at_stop = db.pending_events()?;
        while db.pending_events()? > 0 {
            anyhow::ensure!(
                stopped.elapsed() < Duration::from_secs(120),
                "outbox not drained in 120 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let drained = stopped.elapsed();
        let threads = server.current().threads;
        // The floor: the same paced deletions into the twin room, each the floor's
        // single-delete transaction (as one batch) straight at the database; SQLite's
        // writers in turn, without the checkpoint, as the single deletes' floor.
        eprintln!("outbox floor: {secs} s of deletions at 1,000/s straight at the database");
        let sqlite = self.backend == "sqlite";
        let writer = Mutex::new(());
        let (floor_done, floor_late, floor_took) = self.paced_deletes(
            || Sql::open(&self.url),
            |db| {
                let message = self.next_message("fhook");
                let deletion = format!("floor-{message}");
                let _turn = sqlite.then(|| {
                    writer
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                });
                db.delete_one(&self.token_hash, "fhook", &message, &deletion, false)?;
                Ok(true)
            },
        );
        let rate = done as f64 / load_took.as_secs_f64();
        let floor_rate = floor_done as f64 / floor_took.as_secs_f64();
        self.row(
            &format!("outbox, {secs} s of deletions at 1,000/s in a room with a webhook: achieved rate, pending at stop → drained after (floor: the same paced deletions into one room, each transaction as one batch{})", if sqlite { ", without checkpoint" } else { "" }),
            &format!("{rate:.0}/s ({done} deletions, {late} late sends), {pending_at_stop} pending → 0 after {:.2} s ({} received); {threads} server threads after", drained.as_secs_f64(), receiver.received.load(Ordering::Relaxed)),
            &format!("{floor_rate:.0}/s ({floor_done} deletions, {floor_late} late sends)"),
            &format!("{:.2}", rate / floor_rate),
        );
        Ok(())
    }

    /// Deletions at 1,000/s in all from 8 clients for the outbox phase's length, each
    /// client's at its own steady pace: `open` makes a client's connection, `delete` makes
    /// one deletion with it (whether it succeeded). Answers the successful deletions, the
    /// sends that started more than one interval late, and the time the load took.
    fn paced_deletes<C, E: std::fmt::Display>(
        &self,
        open: impl Fn() -> Result<C, E> + Sync,
        delete: impl Fn(&mut C) -> anyhow::Result<bool> + Sync,
    ) -> (u64, u64, Duration) {
        let clients = 8_u64;
        let interval = Duration::from_micros(1_000_000 * clients / 1_000);
        let started = Instant::now();
        let end = started + Duration::from_secs(self.plan.outbox_secs);
        let done = AtomicU64::new(0);
        let late = AtomicU64::new(0);
        std::thread::scope(|scope| {
            for c in 0..clients {
                let (done, late, open, delete) = (&done, &late, &open, &delete);
                scope.spawn(move || {
                    let mut client = match open() {
                        Ok(client) => client,
                        Err(e) => {
                            eprintln!("client {c}: {e}");
                            return;
                        }
                    };
                    let mut at = started + interval.mul_f64(c as f64 / clients as f64);
                    while at < end {
                        let now = Instant::now();
                        if at > now {
                            std::thread::sleep(at - now);
                        } else if now - at > interval {
                            late.fetch_add(1, Ordering::Relaxed);
                        }
                        if delete(&mut client).unwrap_or(false) {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        at += interval;
                    }
                });
            }
        });
        (done.into_inner(), late.into_inner(), started.elapsed())
    }
}

/// Sends into room `s` from 4 clients for `duration` or until `stop`; the latencies.
fn sends(
    addr: std::net::SocketAddr,
    auth: &str,
    duration: Duration,
    stop: Option<Arc<AtomicBool>>,
) -> Stats {
    load::run(
        4,
        duration,
        stop,
        |_| Client::new(addr, auth.to_owned()),
        |c, _| {
            Ok(
                c.call("POST", "/rooms/s/message", Some(r#"{"message":"hello"}"#))?
                    .status
                    == 200,
            )
        },
    )
}
