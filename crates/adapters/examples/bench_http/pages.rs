//! Newest pages, two servers alternately (`just bench-pages`, docs/benchmarks.md): the
//! server built before a change (`ROOMWARDEN_BIN_BEFORE`) and the one under test
//! (`ROOMWARDEN_BIN`), A, B, A, B… (`--rounds=N`, default 3), on one database seeded once
//! (a big room of `--quick` 100,000 or 1,000,000 messages and a 100-message room).
//!
//! Each turn measures, for each room: 1,000 newest pages of 20 from one client (median and
//! p99), the floor (the same reads issued straight at the database, [`Sql::newest_page`])
//! right after, and pages per second from 4 clients over one phase; and, once per turn,
//! 1,000 `GET /health` (no database, no credentials): what the HTTP round trip alone costs.

use crate::chain::{Db, list, median};
use crate::client::Client;
use crate::load::{self, Stats, quantile_ms};
use crate::moderator_and_rooms;
use crate::server::{CLIENT_KEY, Server};
use crate::sql::Sql;
use std::path::Path;
use std::time::{Duration, Instant};

/// Pages each latency sample takes, HTTP and floor alike.
const SAMPLES: usize = 1_000;

/// Clients of the throughput phase.
const CLIENTS: usize = 4;

/// One turn of one server: per room, HTTP and floor latencies (ms) and the 4-client rate.
struct Turn {
    rooms: Vec<RoomTurn>,
    /// `GET /health`, median (ms).
    health_p50: f64,
}

struct RoomTurn {
    http_p50: f64,
    http_p99: f64,
    floor_p50: f64,
    per_sec: f64,
}

/// Runs the A/B rounds; the Markdown report.
pub fn run(
    backend: &'static str,
    before: &str,
    after: &str,
    big: u64,
    phase: Duration,
    rounds: usize,
    dir: &Path,
) -> anyhow::Result<Vec<String>> {
    let db = Db::fresh(backend, dir, "pages")?;
    let rooms = [("big", big), ("small", 100)];
    let (token, token_hash) = {
        let server = Server::start(after, &db.url, &dir.join("server.log"), &[])?;
        let names: Vec<String> = rooms.iter().map(|(r, _)| (*r).to_owned()).collect();
        let (_, token) = moderator_and_rooms(server.addr, &names)?;
        let mut sql = Sql::open(&db.url)?;
        for (room, n) in rooms {
            sql.seed(room, n)?;
        }
        sql.checkpoint()?;
        let hash = sql.text("SELECT token_hash AS t FROM tokens LIMIT 1")?;
        (token, hash)
    };
    // turns[b][round]: b = 0 before, 1 after.
    let mut turns: [Vec<Turn>; 2] = [Vec::new(), Vec::new()];
    for round in 0..rounds {
        for (b, binary) in [before, after].into_iter().enumerate() {
            eprintln!(
                "{backend}: pages, round {} of {rounds}, {}",
                round + 1,
                ["before", "after"][b]
            );
            let server = Server::start(binary, &db.url, &dir.join("server.log"), &[])?;
            let auth = format!("IM-CLIENT-KEY: {CLIENT_KEY}\r\nIM-Authorization: {token}\r\n");
            let turn = rooms
                .iter()
                .map(|(room, _)| room_turn(&server, &auth, &db.url, &token_hash, room, phase))
                .collect::<anyhow::Result<_>>()?;
            let health = latencies(&mut Client::new(server.addr, String::new()), "/health")?;
            turns[b].push(Turn {
                rooms: turn,
                health_p50: quantile_ms(&health, 0.5),
            });
        }
    }
    let mut report = vec![
        format!(
            "### {backend}: newest page of 20, before → after, {rounds} rounds (A, B alternately)\n"
        ),
        "| room | before: HTTP p50 / floor p50 (ms), per round | after: HTTP p50 / floor p50 (ms), per round | HTTP / floor, before → after (medians) | HTTP p99 before → after (medians) | pages/s from 4 clients, before → after (medians) |".to_owned(),
        "|---|---|---|---|---|---|".to_owned(),
    ];
    for (i, (room, n)) in rooms.iter().enumerate() {
        let pick = |b: usize, f: fn(&RoomTurn) -> f64| -> Vec<f64> {
            turns[b].iter().map(|t| f(&t.rooms[i])).collect()
        };
        let pairs = |b: usize| -> String {
            pick(b, |r| r.http_p50)
                .iter()
                .zip(pick(b, |r| r.floor_p50))
                .map(|(h, f)| format!("{h:.3} / {f:.3}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let ratio = |b: usize| median(pick(b, |r| r.http_p50 / r.floor_p50));
        report.push(format!(
            "| {room} ({n} messages) | {} | {} | {:.1}× → {:.1}× ({}) | {:.2} → {:.2} ms | {:.0} → {:.0} |",
            pairs(0),
            pairs(1),
            ratio(0),
            ratio(1),
            list(&pick(1, |r| r.http_p50 / r.floor_p50), 1),
            median(pick(0, |r| r.http_p99)),
            median(pick(1, |r| r.http_p99)),
            median(pick(0, |r| r.per_sec)),
            median(pick(1, |r| r.per_sec)),
        ));
    }
    let health = |b: usize| -> Vec<f64> { turns[b].iter().map(|t| t.health_p50).collect() };
    report.push(format!(
        "| `GET /health` (no database), p50 (ms), per round | {} | {} | | | |",
        list(&health(0), 3),
        list(&health(1), 3)
    ));
    report.push(String::new());
    Ok(report)
}

/// [`SAMPLES`] sequential `GET path` after a warm-up, each answered 200.
fn latencies(client: &mut Client, path: &str) -> anyhow::Result<Vec<Duration>> {
    let mut get = || -> anyhow::Result<Duration> {
        let t = Instant::now();
        let status = client.call("GET", path, None)?.status;
        anyhow::ensure!(status == 200, "GET {path}: {status}");
        Ok(t.elapsed())
    };
    for _ in 0..50 {
        get()?;
    }
    (0..SAMPLES).map(|_| get()).collect()
}

/// One room's measurements against one running server.
fn room_turn(
    server: &Server,
    auth: &str,
    url: &str,
    token_hash: &str,
    room: &str,
    phase: Duration,
) -> anyhow::Result<RoomTurn> {
    let path = format!("/rooms/{room}/messages/v3?limit=20");
    // The warm-up fills the server's statement caches and the database's page cache.
    let http = latencies(&mut Client::new(server.addr, auth.to_owned()), &path)?;
    let page = |client: &mut Client| -> anyhow::Result<bool> {
        Ok(client.call("GET", &path, None)?.status == 200)
    };
    let mut db = Sql::open(url)?;
    let floor: Vec<Duration> = (0..SAMPLES)
        .map(|_| {
            let t = Instant::now();
            db.newest_page(token_hash, room).map(|()| t.elapsed())
        })
        .collect::<anyhow::Result<_>>()?;
    let rate: Stats = load::run(
        CLIENTS,
        phase,
        None,
        |_| Client::new(server.addr, auth.to_owned()),
        |c, _| page(c),
    );
    anyhow::ensure!(rate.errors == 0, "{} pages failed under load", rate.errors);
    Ok(RoomTurn {
        http_p50: quantile_ms(&http, 0.5),
        http_p99: quantile_ms(&http, 0.99),
        floor_p50: quantile_ms(&floor, 0.5),
        per_sec: rate.per_sec(),
    })
}
