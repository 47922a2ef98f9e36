//! The verifiable audit log's benchmark (`just bench-chain`, docs/benchmarks.md):
//!
//! 1. The chain's cost on single deletes: the server built before the chain
//!    (`ROOMWARDEN_BIN_BEFORE`) and the one under test (`ROOMWARDEN_BIN`) alternately, A, B,
//!    A, B… (`--rounds=N`, default 3), each on a fresh database, HTTP only (no floor): single
//!    deletes from 1, 8 and 32 clients, as `bench_http`'s single-delete phases.
//! 2. The log of one room of `--records=N` (default 1,000,000) deletion records, seeded with
//!    SQL without hash on a database the server under test migrated: its start-up (which
//!    links them), a start-up with nothing to link, `GET /rooms/{room}/deletions/verify`,
//!    `roomwarden audit verify --room`, and `GET /admin/deletions/export`, with the server's
//!    resident memory.
//!
//! `--part=deletes` or `--part=log` runs one of them only.

use crate::client::Client;
use crate::load::{self, Stats};
use crate::server::{API_KEY, CLIENT_KEY, Server};
use crate::sql::Sql;
use crate::{DELETE_ROOMS, moderator_and_rooms};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Client counts of the single-delete phases.
const CLIENTS: [usize; 3] = [1, 8, 32];

/// The room holding the seeded audit records.
const LOG_ROOM: &str = "audit";

/// What to run and how long.
pub struct Options {
    /// `sqlite` or `mysql`.
    pub backend: &'static str,
    /// The server before the chain (A), for part 1.
    pub before: Option<String>,
    /// The server under test (B).
    pub after: String,
    /// Length of each single-delete phase.
    pub phase: Duration,
    /// A/B rounds of part 1.
    pub rounds: usize,
    /// Records of the room of part 2.
    pub records: u64,
    /// Run part 1.
    pub deletes: bool,
    /// Run part 2.
    pub log: bool,
    /// Part 1's deletes by the API key, each with an `Idempotency-Key` of its own (a
    /// token user may hold only 1,000 keys).
    pub keyed: bool,
}

/// A fresh database of the run, removed (its files) or dropped (MariaDB) when dropped.
pub struct Db {
    /// Its URL.
    pub url: String,
    mysql: Option<(String, String)>,
    file: Option<PathBuf>,
}

impl Db {
    /// A database named after `tag`, dropped first if a run left it behind.
    pub fn fresh(backend: &str, dir: &Path, tag: &str) -> anyhow::Result<Self> {
        if backend == "sqlite" {
            let file = dir.join(format!("{tag}.db"));
            return Ok(Self {
                url: format!("sqlite://{}", file.display()),
                mysql: None,
                file: Some(file),
            });
        }
        let base = std::env::var("ROOMWARDEN_BENCH_MYSQL_URL")
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_owned());
        let name = format!("roomwarden_bench_chain_{}_{tag}", std::process::id());
        Sql::open(&base)?.run(&format!("DROP DATABASE IF EXISTS `{name}`"))?;
        Ok(Self {
            url: format!("{}/{name}", base.trim_end_matches('/')),
            mysql: Some((base, name)),
            file: None,
        })
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Some((base, name)) = &self.mysql
            && let Ok(mut admin) = Sql::open(base)
        {
            let _ = admin.run(&format!("DROP DATABASE IF EXISTS `{name}`"));
        }
        if let Some(file) = &self.file {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
            }
        }
    }
}

/// Runs the parts of `options`: prints part 1's Markdown report, returns part 2's.
pub fn run(options: &Options, dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut report = Vec::new();
    if options.deletes {
        let before = options.before.as_deref().ok_or_else(|| {
            anyhow::anyhow!("ROOMWARDEN_BIN_BEFORE names the server built before the chain")
        })?;
        // Printed at once: part 2 can take long, or fail, on a big room.
        println!("{}", deletes_ab(options, before, dir)?.join("\n"));
    }
    if options.log {
        report.extend(log(options, dir)?);
    }
    Ok(report)
}

/// Part 1: single deletes, the two servers alternately.
fn deletes_ab(options: &Options, before: &str, dir: &Path) -> anyhow::Result<Vec<String>> {
    // Enough messages per room for the busiest room of the 1-client phase (about 1,500/s).
    let per_room = 8_000.max(2_000 * options.phase.as_secs());
    // runs[b][round][phase]: b = 0 before, 1 after.
    let mut runs: [Vec<Vec<Stats>>; 2] = [Vec::new(), Vec::new()];
    for round in 0..options.rounds {
        for (b, binary) in [before, options.after.as_str()].into_iter().enumerate() {
            eprintln!(
                "{}: round {} of {}, {}",
                options.backend,
                round + 1,
                options.rounds,
                ["before", "after"][b]
            );
            let db = Db::fresh(options.backend, dir, &format!("ab{round}{b}"))?;
            runs[b].push(single_deletes(
                binary,
                &db.url,
                dir,
                options.phase,
                per_room,
                options.keyed,
            )?);
        }
    }
    let mut report = vec![
        format!(
            "### {}: single deletes{}, before → after, {} rounds of {} s phases (A, B alternately)\n",
            options.backend,
            if options.keyed {
                " with an Idempotency-Key each"
            } else {
                ""
            },
            options.rounds,
            options.phase.as_secs()
        ),
        "| clients | before: deletions/s, per round | after: deletions/s, per round | after / before, per round (median) | p50 / p99 before → after (medians) |".to_owned(),
        "|---|---|---|---|---|".to_owned(),
    ];
    for (i, clients) in CLIENTS.iter().enumerate() {
        let rate = |b: usize| -> Vec<f64> { runs[b].iter().map(|r| r[i].per_sec()).collect() };
        let (a, b) = (rate(0), rate(1));
        let ratios: Vec<f64> = a.iter().zip(&b).map(|(a, b)| b / a).collect();
        let q = |b: usize, q: f64| median(runs[b].iter().map(|r| r[i].quantile_ms(q)).collect());
        let errors: u64 = runs.iter().flatten().map(|r| r[i].errors).sum();
        report.push(format!(
            "| {clients}{} | {} | {} | {} ({:.3}) | {:.2} / {:.1} → {:.2} / {:.1} ms |",
            if errors > 0 {
                format!(" ({errors} errors)")
            } else {
                String::new()
            },
            list(&a, 0),
            list(&b, 0),
            list(&ratios, 3),
            median(ratios.clone()),
            q(0, 0.5),
            q(0, 0.99),
            q(1, 0.5),
            q(1, 0.99),
        ));
    }
    report.push(String::new());
    Ok(report)
}

/// One server's single-delete phases on a fresh database: rooms `d0`… of `per_room`
/// messages, client `t` deleting in room `t % 32` (`keyed`: by the API key, each delete
/// with a key of its own).
fn single_deletes(
    binary: &str,
    url: &str,
    dir: &Path,
    phase: Duration,
    per_room: u64,
    keyed: bool,
) -> anyhow::Result<Vec<Stats>> {
    let server = Server::start(binary, url, &dir.join("server.log"), &[])?;
    let rooms: Vec<String> = (0..DELETE_ROOMS).map(|i| format!("d{i}")).collect();
    let (_, token) = moderator_and_rooms(server.addr, &rooms)?;
    let mut db = Sql::open(url)?;
    for room in &rooms {
        db.seed(room, per_room)?;
    }
    db.checkpoint()?;
    drop(db);
    let next: Vec<AtomicU64> = (0..DELETE_ROOMS).map(|_| AtomicU64::new(1)).collect();
    let auth = if keyed {
        format!("IM-API-KEY: {API_KEY}\r\n")
    } else {
        format!("IM-CLIENT-KEY: {CLIENT_KEY}\r\nIM-Authorization: {token}\r\n")
    };
    let stats = CLIENTS
        .iter()
        .map(|&clients| {
            load::run(
                clients,
                phase,
                None,
                |_| Client::new(server.addr, auth.clone()),
                |c, t| {
                    let room = t % DELETE_ROOMS;
                    let n = next[room].fetch_add(1, Ordering::Relaxed);
                    let path = format!("/rooms/d{room}/messages/d{room}-{n:09}");
                    let key = keyed.then(|| format!("Idempotency-Key: k{room}-{n}\r\n"));
                    Ok(
                        c.call_with("DELETE", &path, None, key.as_deref().unwrap_or(""))?
                            .status
                            == 200,
                    )
                },
            )
        })
        .collect();
    server.stop();
    Ok(stats)
}

/// Part 2: the log of one room of `options.records` records.
fn log(options: &Options, dir: &Path) -> anyhow::Result<Vec<String>> {
    let n = options.records;
    let binary = options.after.as_str();
    let db = Db::fresh(options.backend, dir, "log")?;
    let server_log = dir.join("server-log.log");
    let mut rows = Vec::new();
    let mut row = |what: &str, value: String| rows.push(format!("| {what} | {value} |"));

    // A migrated database with the room, then the records without hash, as a release
    // before the chain would have left them.
    let server = Server::start(binary, &db.url, &server_log, &[])?;
    moderator_and_rooms(server.addr, &[LOG_ROOM.to_owned()])?;
    server.stop();
    eprintln!("{}: seeding {n} audit records", options.backend);
    let t = Instant::now();
    let mut sql = Sql::open(&db.url)?;
    sql.seed_deletions(LOG_ROOM, n)?;
    // As a database of the release before the chain: nothing says its records are linked.
    sql.run("DELETE FROM settings WHERE name = 'audit_chain_linked'")?;
    sql.checkpoint()?;
    row(
        "seeding the records with SQL (hash NULL), for scale",
        secs(t.elapsed()),
    );

    eprintln!("{}: start-up linking {n} records", options.backend);
    let t = Instant::now();
    let server = Server::start_within(
        binary,
        &db.url,
        &server_log,
        &[],
        Duration::from_secs(7_200),
    )?;
    let took = t.elapsed();
    let unlinked = sql.number("SELECT COUNT(*) AS n FROM deletions WHERE hash IS NULL")?;
    anyhow::ensure!(unlinked == 0, "{unlinked} records left without hash");
    let peak = server.stop();
    row(
        &format!("start-up linking {n} records (1,000 per transaction), until `/ready`"),
        format!(
            "{} ({:.0} records/s); peak RSS {}",
            secs(took),
            n as f64 / took.as_secs_f64(),
            mib(peak.rss_kib)
        ),
    );

    let t = Instant::now();
    let server = Server::start(binary, &db.url, &server_log, &[])?;
    row(
        "start-up with nothing to link, until `/ready`",
        secs(t.elapsed()),
    );
    row(
        "server RSS after start-up: now / peak (`VmRSS` / `VmHWM`)",
        format!(
            "{} / {}",
            mib(server.rss_now_kib()),
            mib(server.current().rss_kib)
        ),
    );

    let mut admin = Client::new(server.addr, format!("IM-API-KEY: {API_KEY}\r\n"));
    for attempt in 1..=2 {
        eprintln!("{}: verify over HTTP ({attempt})", options.backend);
        let (r, took) = admin.timed("GET", &format!("/rooms/{LOG_ROOM}/deletions/verify"), None)?;
        let body = r.json()?;
        let result = &body["result"];
        anyhow::ensure!(
            r.status == 200 && result["records"].as_u64() == Some(n) && result["valid"] == true,
            "verify answered {}: {body}",
            r.status
        );
        row(
            &format!("`GET /rooms/{{room}}/deletions/verify`, run {attempt}"),
            format!(
                "{} ({:.0} records/s); server RSS now {}, peak {}",
                secs(took),
                n as f64 / took.as_secs_f64(),
                mib(server.rss_now_kib()),
                mib(server.current().rss_kib)
            ),
        );
    }

    eprintln!("{}: roomwarden audit verify --room", options.backend);
    let (status, took, cli_peak) = cli_verify(binary, &db.url)?;
    anyhow::ensure!(status == Some(0), "audit verify exited with {status:?}");
    row(
        "`roomwarden audit verify --room ID` (exit 0), whole process",
        format!(
            "{} ({:.0} records/s); its peak RSS ≥ {} (sampled)",
            secs(took),
            n as f64 / took.as_secs_f64(),
            mib(cli_peak)
        ),
    );

    for attempt in 1..=2 {
        eprintln!("{}: export ({attempt})", options.backend);
        let before = server.current().rss_kib;
        let t = Instant::now();
        let out = admin.stream("/admin/deletions/export")?;
        let took = t.elapsed();
        anyhow::ensure!(
            out.status == 200 && out.lines == n,
            "export answered {} with {} lines: {}",
            out.status,
            out.lines,
            String::from_utf8_lossy(&out.start)
        );
        row(
            &format!("`GET /admin/deletions/export`, run {attempt}"),
            format!(
                "{} — {:.0} records/s, {:.1} MB/s ({:.0} MB, {} bytes a record); server peak RSS {} before → {} after, RSS now {}",
                secs(took),
                n as f64 / took.as_secs_f64(),
                out.bytes as f64 / 1e6 / took.as_secs_f64(),
                out.bytes as f64 / 1e6,
                out.bytes / n.max(1),
                mib(before),
                mib(server.current().rss_kib),
                mib(server.rss_now_kib())
            ),
        );
    }
    server.stop();
    drop(sql);
    let mut report = vec![
        format!(
            "### {}: the log of one room of {n} deletion records\n",
            options.backend
        ),
        "| measurement | result |".to_owned(),
        "|---|---|".to_owned(),
    ];
    report.extend(rows);
    report.push(String::new());
    Ok(report)
}

/// Runs `roomwarden audit verify --room audit`; its exit code, time and sampled `VmHWM`.
fn cli_verify(binary: &str, url: &str) -> anyhow::Result<(Option<i32>, Duration, u64)> {
    let t = Instant::now();
    let mut child = std::process::Command::new(binary)
        .args(["audit", "verify", "--room", LOG_ROOM])
        .env("ROOMWARDEN_DATABASE_URL", url)
        .env("ROOMWARDEN_API_KEY", API_KEY)
        .env("ROOMWARDEN_CLIENT_KEY", CLIENT_KEY)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()?;
    let mut peak = 0;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if let Some(now) = crate::server::sample(child.id()) {
            peak = peak.max(now.rss_kib);
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Ok((status.code(), t.elapsed(), peak))
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

pub fn list(values: &[f64], decimals: usize) -> String {
    values
        .iter()
        .map(|v| format!("{v:.decimals$}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => f64::midpoint(values[n / 2 - 1], values[n / 2]),
    }
}
