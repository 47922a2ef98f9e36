//! The Galera workloads (`just bench-galera`, backend `galera`), in one run, on the 3-node
//! cluster of `tools/galera.sh` and beside a standalone MariaDB:
//!
//! 1. single deletes from 8 and 32 clients through the server on each (on the cluster the
//!    URL is the host list, so the server writes to node 1), beside the floor (the same SQL
//!    straight at the standalone server, at node 1);
//! 2. the newest page with `ROOMWARDEN_DATABASE_SYNC_WAIT` 1, 0, then 1 again (three server
//!    starts on the same database): the cost of read-your-writes;
//! 3. failover: single deletes from 8 clients while `tools/galera.sh kill 1` kills the
//!    writer (time to the first success after it, 503s), then `restart 1` and the return of
//!    the writer to node 1 once it is synced again.
//!
//! `ROOMWARDEN_BENCH_GALERA_URL` names the cluster (default
//! `mysql://root@127.0.0.1:3307,127.0.0.1:3308,127.0.0.1:3309`), `ROOMWARDEN_BENCH_MYSQL_URL`
//! the standalone server; a fresh database `roomwarden_bench_galera_<pid>` is created on each
//! and dropped.

use crate::client::Client;
use crate::server::Server;
use crate::sql::Sql;
use crate::{Bench, DELETE_ROOMS, Plan};
use roomwarden_adapters::cluster::{Node, split_hosts};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The cluster of `tools/galera.sh`, node 1 first.
const CLUSTER: &str = "mysql://root@127.0.0.1:3307,127.0.0.1:3308,127.0.0.1:3309";

/// Clients of the failover runs; client `t` deletes in room `d<t>`.
const FAILOVER_CLIENTS: usize = 8;

/// Runs the workloads and drops the databases; returns the Markdown report.
pub fn run(binary: &str, dir: &Path, plan: Plan, quick: bool) -> anyhow::Result<Vec<String>> {
    let plan = Plan {
        big: if quick { 10_000 } else { 100_000 },
        per_room: if quick { 1_000 } else { 3_000 },
        ..plan
    };
    let var = |name: &str, default: &str| {
        std::env::var(name)
            .unwrap_or_else(|_| default.to_owned())
            .trim_end_matches('/')
            .to_owned()
    };
    let name = format!("roomwarden_bench_galera_{}", std::process::id());
    let standalone = var("ROOMWARDEN_BENCH_MYSQL_URL", "mysql://root@127.0.0.1:3306");
    let cluster = format!("{}/{name}", var("ROOMWARDEN_BENCH_GALERA_URL", CLUSTER));
    let nodes = split_hosts(&cluster)?;
    anyhow::ensure!(
        nodes.len() > 1,
        "ROOMWARDEN_BENCH_GALERA_URL needs a host list"
    );
    let result = measure(
        binary,
        dir,
        plan,
        quick,
        &format!("{standalone}/{name}"),
        &cluster,
        &nodes,
    );
    let drop = format!("DROP DATABASE IF EXISTS `{name}`");
    if let Ok(mut admin) = Sql::open(&standalone) {
        let _ = admin.run(&drop);
    }
    // DDL replicates: one node that answers is enough.
    for node in &nodes {
        if Sql::open(&node.server_url)
            .and_then(|mut db| db.run(&drop))
            .is_ok()
        {
            break;
        }
    }
    result
}

/// The three parts, on the databases `standalone` and `cluster` (the host list's `nodes`).
fn measure(
    binary: &str,
    dir: &Path,
    plan: Plan,
    quick: bool,
    standalone: &str,
    cluster: &str,
    nodes: &[Node],
) -> anyhow::Result<Vec<String>> {
    let log = dir.join("server.log");
    let header =
        "| measurement | HTTP | floor (same SQL, direct) | HTTP / floor |\n|---|---|---|---|";
    let mut report = vec![format!(
        "### galera: big room {} messages, phases of {} s\n\n#### standalone MariaDB\n\n{header}",
        plan.big,
        plan.phase.as_secs()
    )];

    eprintln!("standalone MariaDB");
    let server = Server::start(binary, standalone, &log, &[])?;
    let mut bench = prepare(&server, standalone, plan, plan.per_room)?;
    bench.pages()?;
    let alone = bench.single_deletes(&[8, 32])?;
    drop(server);
    report.append(&mut bench.report);

    eprintln!("cluster, wsrep_sync_wait 1, 0, 1");
    report.push(format!(
        "\n#### cluster (server on the host list, writer node 1; floor at node 1)\n\n{header}"
    ));
    let sync_wait = |w: &'static str| [("ROOMWARDEN_DATABASE_SYNC_WAIT", w)];
    let server = Server::start(binary, cluster, &log, &sync_wait("1"))?;
    // The failover runs delete in rooms d0..d7 too.
    let hot = plan.per_room * 3;
    let mut bench = prepare(&server, &nodes[0].url, plan, hot)?;
    let mut pages = vec![tagged(&mut bench, "sync_wait=1: ", Bench::pages)?];
    let clustered = bench.single_deletes(&[8, 32])?;
    drop(server);
    for w in ["0", "1"] {
        let server = Server::start(binary, cluster, &log, &sync_wait(w))?;
        bench.addr = server.addr;
        pages.push(tagged(
            &mut bench,
            &format!("sync_wait={w}: "),
            Bench::pages,
        )?);
    }
    report.append(&mut bench.report);

    report.push("\n#### cluster / standalone, and the cost of read-your-writes\n\n| measurement | value |\n|---|---|".to_owned());
    for (i, clients) in [8, 32].iter().enumerate() {
        report.push(format!(
            "| single delete, {clients} clients, cluster / standalone: HTTP (floor) | {:.2} ({:.2}) |",
            clustered[i].0 / alone[i].0,
            clustered[i].1 / alone[i].1
        ));
    }
    for (i, room) in ["big", "small"].iter().enumerate() {
        report.push(format!(
            "| newest page, {room} room, HTTP median with sync_wait=1 / 0 (two sync_wait=1 servers) | {:.2}, {:.2} |",
            pages[0][i] / pages[1][i],
            pages[2][i] / pages[1][i]
        ));
    }

    report.push(
        "\n#### failover: single deletes from 8 clients, `tools/galera.sh kill 1` after 2 s, then `restart 1`\n\n\
         | run | kill → first success (sent after the kill) | longest gap between successes | 503s / other failures until the restart | slowest request | rejoin (`restart 1`) | node 1 synced → writer back on it | 503s / other failures from the restart on | writer after the kill |\n\
         |---|---|---|---|---|---|---|---|---|".to_owned(),
    );
    let server = Server::start(binary, cluster, &log, &sync_wait("1"))?;
    bench.addr = server.addr;
    for run in 1..=if quick { 1 } else { 3 } {
        eprintln!("failover run {run}");
        report.push(format!("| {run} | {} |", failover(&bench, &nodes[0])?));
    }
    Ok(report)
}

/// Creates the moderator and the rooms through `server`, seeds them at `floor_url`: rooms
/// `d0`…`d7` get `hot` messages, the other rooms `plan.per_room`.
fn prepare(server: &Server, floor_url: &str, plan: Plan, hot: u64) -> anyhow::Result<Bench> {
    let mut rooms: Vec<String> = (0..DELETE_ROOMS)
        .flat_map(|i| [format!("d{i}"), format!("f{i}")])
        .collect();
    rooms.extend(["cbig", "small"].map(str::to_owned));
    let (_, token) = crate::moderator_and_rooms(server.addr, &rooms)?;
    let mut db = Sql::open(floor_url)?;
    let token_hash = db.text("SELECT token_hash AS t FROM tokens LIMIT 1")?;
    let seeding = Instant::now();
    for i in 0..DELETE_ROOMS {
        let n = if i < FAILOVER_CLIENTS {
            hot
        } else {
            plan.per_room
        };
        db.seed(&format!("d{i}"), n)?;
        db.seed(&format!("f{i}"), plan.per_room)?;
    }
    db.seed("cbig", plan.big)?;
    db.seed("small", 100)?;
    eprintln!("seeded in {:.1} s", seeding.elapsed().as_secs_f64());
    Ok(Bench {
        backend: "mysql",
        url: floor_url.to_owned(),
        addr: server.addr,
        token,
        token_hash,
        plan,
        next: std::sync::Mutex::default(),
        report: Vec::new(),
    })
}

/// Runs `measure` on `bench`, prefixing the measurement of the rows it adds with `tag`.
fn tagged<T>(
    bench: &mut Bench,
    tag: &str,
    measure: impl FnOnce(&mut Bench) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let from = bench.report.len();
    let result = measure(bench)?;
    for row in &mut bench.report[from..] {
        *row = row.replacen("| ", &format!("| {tag}"), 1);
    }
    Ok(result)
}

/// One request of a failover run: sent, answered, status (0: no answer).
type Event = (Instant, Instant, u16);

/// One failover run with the server of `bench` (writer `node1`); a row of table cells.
fn failover(bench: &Bench, node1: &Node) -> anyhow::Result<String> {
    let stop = AtomicBool::new(false);
    let successes = AtomicU64::new(0);
    let (events, times) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..FAILOVER_CLIENTS)
            .map(|t| {
                let (stop, successes) = (&stop, &successes);
                scope.spawn(move || {
                    let mut client = bench.user();
                    let room = format!("d{t}");
                    let mut events: Vec<Event> = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let path = format!("/rooms/{room}/messages/{}", bench.next_message(&room));
                        let sent = Instant::now();
                        let status = client.call("DELETE", &path, None).map_or(0, |r| r.status);
                        events.push((sent, Instant::now(), status));
                        if status == 200 {
                            successes.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    events
                })
            })
            .collect();
        let times = orchestrate(bench, node1, &successes);
        stop.store(true, Ordering::Relaxed);
        let events: Vec<Event> = workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect();
        (events, times)
    });
    let t = times?;
    let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
    let failures = |after_restart: bool| {
        let within = events
            .iter()
            .filter(|e| (e.0 >= t.restarted) == after_restart);
        let refused = within.clone().filter(|e| e.2 == 503).count();
        let other = within.filter(|e| e.2 != 503 && e.2 != 200).count();
        format!("{refused} / {other}")
    };
    let first = events
        .iter()
        .filter(|e| e.2 == 200 && e.0 >= t.killed)
        .map(|e| e.1)
        .min()
        .ok_or_else(|| anyhow::anyhow!("no success after the kill"))?;
    let mut done: Vec<Instant> = events.iter().filter(|e| e.2 == 200).map(|e| e.1).collect();
    done.sort();
    let gap = done
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    let slowest = events.iter().map(|e| e.1 - e.0).max().unwrap_or_default();
    Ok(format!(
        "{} | {} | {} | {} | {:.1} s | {} | {} | {}",
        ms(first - t.killed),
        ms(gap),
        failures(false),
        ms(slowest),
        t.rejoin.as_secs_f64(),
        ms(t.back),
        failures(true),
        t.moved_to
    ))
}

/// When the writer was killed and restarted, how long its rejoin took, how long after it
/// was synced the server wrote to it again, and where the writes went meanwhile.
struct Times {
    killed: Instant,
    restarted: Instant,
    rejoin: Duration,
    back: Duration,
    moved_to: String,
}

/// The failover run's steps, while the workers delete.
fn orchestrate(bench: &Bench, node1: &Node, successes: &AtomicU64) -> anyhow::Result<Times> {
    let wait = |what: &str, done: &mut dyn FnMut() -> bool| -> anyhow::Result<()> {
        let started = Instant::now();
        while !done() {
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(120),
                "{what}: not within 120 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    };
    let mut metrics = Client::new(bench.addr, String::new());
    let mut current = || writer(&mut metrics);
    wait("writer on node 1", &mut || {
        current().is_some_and(|w| w == node1.label)
    })?;
    std::thread::sleep(Duration::from_secs(2));
    galera(&["kill", "1"])?;
    let killed = Instant::now();
    // At most one request per client was in flight at the kill.
    let before = successes.load(Ordering::Relaxed) + FAILOVER_CLIENTS as u64;
    wait("deletions after the kill", &mut || {
        successes.load(Ordering::Relaxed) > before + 50
    })?;
    let moved_to = current().unwrap_or_default();
    std::thread::sleep(Duration::from_secs(1));
    let restarted = Instant::now();
    galera(&["restart", "1"])?;
    let rejoin = restarted.elapsed();
    let mut node = Sql::open(&node1.server_url)?;
    wait("node 1 synced", &mut || {
        node.text("SELECT VARIABLE_VALUE AS t FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'WSREP_LOCAL_STATE_COMMENT'")
            .is_ok_and(|s| s == "Synced")
    })?;
    let synced = Instant::now();
    wait("writer back on node 1", &mut || {
        current().is_some_and(|w| w == node1.label)
    })?;
    let back = synced.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    Ok(Times {
        killed,
        restarted,
        rejoin,
        back,
        moved_to,
    })
}

/// The server's writer, from its `/metrics` (`db_writer{node="…"} 1`).
fn writer(metrics: &mut Client) -> Option<String> {
    let r = metrics.call("GET", "/metrics", None).ok()?;
    let text = String::from_utf8_lossy(&r.body).into_owned();
    text.lines()
        .filter(|l| !l.starts_with('#') && l.contains("db_writer{") && l.ends_with(" 1"))
        .find_map(|l| Some(l.split_once("node=\"")?.1.split_once('"')?.0.to_owned()))
}

/// `bash tools/galera.sh ARGS…` (`ROOMWARDEN_GALERA_SCRIPT` names another script).
fn galera(args: &[&str]) -> anyhow::Result<()> {
    let script =
        std::env::var("ROOMWARDEN_GALERA_SCRIPT").unwrap_or_else(|_| "tools/galera.sh".to_owned());
    let out = Command::new("bash").arg(&script).args(args).output()?;
    anyhow::ensure!(
        out.status.success(),
        "{script} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}
