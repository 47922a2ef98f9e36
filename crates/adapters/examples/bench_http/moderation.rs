//! The moderation workloads (`--moderation`): on a room of `big` messages from 50 senders,
//! a `sender`-filtered clear of one sender and a `before`-filtered clear of half the room
//! (response, time until the rows are physically gone, newest-page latency before and
//! after); then a user purge across 1,000 rooms. Each beside its floor: the same
//! statements issued straight at the database on a twin room (or rooms), committed, with
//! the same checkpoint on SQLite (`Sql::filtered_clear`, `Sql::user_purge`).

use crate::client::Client;
use crate::server::{API_KEY, CLIENT_KEY};
use crate::sql::Sql;
use std::time::{Duration, Instant};

/// Senders of the big room.
const SENDERS: u64 = 50;
/// Rooms of the user purge, and messages of the purged user in each.
const PURGE_ROOMS: usize = 1_000;

/// Runs the workloads; returns Markdown table rows.
pub fn run(
    addr: std::net::SocketAddr,
    url: &str,
    big: u64,
    per_purge_room: u64,
) -> anyhow::Result<Vec<String>> {
    let mut admin = Client::new(addr, format!("IM-API-KEY: {API_KEY}\r\n"));
    let ok = |r: crate::client::Response, what: &str| -> anyhow::Result<serde_json::Value> {
        anyhow::ensure!(
            r.status == 200,
            "{what}: {}",
            String::from_utf8_lossy(&r.body)
        );
        r.json()
    };
    let token = ok(
        admin.call(
            "POST",
            "/admin/clients",
            Some(r#"{"_id":"mod","issueAccessToken":true}"#),
        )?,
        "moderator",
    )?["result"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let clients = (0..SENDERS)
        .map(|s| format!("s{s}"))
        .chain(["u0", "u1", "v0", "v1"].map(str::to_owned));
    for id in clients {
        ok(
            admin.call(
                "POST",
                "/admin/clients",
                Some(&format!(r#"{{"_id":"{id}"}}"#)),
            )?,
            "sender",
        )?;
    }
    // Every room has a twin (`f…`) that the floor works on.
    let purge_rooms: Vec<String> = (0..PURGE_ROOMS).map(|i| format!("p{i:04}")).collect();
    let rooms = ["mbig".to_owned()]
        .into_iter()
        .chain(purge_rooms.iter().cloned());
    for room in rooms {
        for id in [room.clone(), format!("f{room}")] {
            ok(
                admin.call(
                    "POST",
                    "/rooms",
                    Some(&format!(r#"{{"_id":"{id}","owner":"mod"}}"#)),
                )?,
                "room",
            )?;
        }
    }
    let mut db = Sql::open(url)?;
    let token_hash = db.text("SELECT token_hash AS t FROM tokens LIMIT 1")?;
    let t0 = chrono::Utc::now().timestamp_millis() - 10 * 86_400_000;
    let seeding = Instant::now();
    for room in ["mbig", "fmbig"] {
        db.seed_from(room, big, "s", SENDERS, t0)?;
    }
    for room in &purge_rooms {
        // Two senders in turn: u1 (the purged user) and u0.
        db.seed_from(room, per_purge_room * 2, "u", 2, t0)?;
        // The twins' user is v1, so that the purge of u1 leaves them alone.
        db.seed_from(&format!("f{room}"), per_purge_room * 2, "v", 2, t0)?;
    }
    db.checkpoint()?;
    eprintln!("seeded in {:.1} s", seeding.elapsed().as_secs_f64());

    let mut user = Client::new(
        addr,
        format!("IM-CLIENT-KEY: {CLIENT_KEY}\r\nIM-Authorization: {token}\r\n"),
    );
    let mut rows = vec![format!(
        "### moderation: a {big}-message room from {SENDERS} senders; a user with {per_purge_room} messages in each of {PURGE_ROOMS} rooms\n\n| measurement | HTTP | floor (same SQL, direct) | HTTP / floor |\n|---|---|---|---|"
    )];
    let page = |user: &mut Client| -> anyhow::Result<(f64, f64)> {
        let mut took = Vec::new();
        for _ in 0..50 {
            let (r, t) = user.timed("GET", "/rooms/mbig/messages/v3", None)?;
            anyhow::ensure!(
                r.status == 200,
                "page: {}",
                String::from_utf8_lossy(&r.body)
            );
            took.push(t);
        }
        Ok((
            crate::load::quantile_ms(&took, 0.5),
            crate::load::quantile_ms(&took, 0.99),
        ))
    };
    let (p50, p99) = page(&mut user)?;
    rows.push(format!(
        "| newest page of the room, before any clear: p50 / p99 | {p50:.2} / {p99:.2} ms | | |"
    ));

    // A clear by content (`contains`), its dry run first: "number 99" is in 11,111 of a
    // million bodies (99, 990-999, 9900-9999, ...), about 1 %: a spam wave.
    let needle = "number 99";
    let pattern = "%number 99%";
    db.checkpoint()?;
    let t = Instant::now();
    let counted = db.content_clear(&token_hash, "fmbig", pattern, None)?;
    let dry_floor = t.elapsed();
    let query = format!("contains={}", needle.replace(' ', "%20"));
    let (r, dry_took) = user.timed(
        "DELETE",
        &format!("/rooms/mbig/messages/_all?{query}&dryRun=true"),
        None,
    )?;
    let previewed = ok(r, "content dry run")?["result"]["deletedCount"]
        .as_i64()
        .unwrap_or(-1);
    rows.push(format!(
        "| `contains` dry run ({counted} of {big} match): response, deletedCount | {:.0} ms, {previewed} | {:.0} ms | {:.1}× |",
        dry_took.as_secs_f64() * 1000.0,
        dry_floor.as_secs_f64() * 1000.0,
        dry_took.as_secs_f64() / dry_floor.as_secs_f64(),
    ));
    let t = Instant::now();
    db.content_clear(&token_hash, "fmbig", pattern, Some("floor-contains"))?;
    let floor = t.elapsed();
    db.settle(&["fmbig".to_owned()])?;
    let (r, took) = user.timed(
        "DELETE",
        &format!("/rooms/mbig/messages/_all?{query}"),
        None,
    )?;
    let deleted = ok(r, "content clear")?["result"]["deletedCount"]
        .as_i64()
        .unwrap_or(-1);
    rows.push(format!(
        "| `contains` clear: response (rows gone with it), deletedCount | {:.0} ms, {deleted} | {:.0} ms | {:.1}× |",
        took.as_secs_f64() * 1000.0,
        floor.as_secs_f64() * 1000.0,
        took.as_secs_f64() / floor.as_secs_f64(),
    ));

    // A sender-filtered clear of one sender (1/50 of the room).
    let half_time = t0 + i64::try_from(big / 2).unwrap_or(0);
    for (label, query, condition) in [
        (
            format!(
                "`sender`-filtered clear of one sender ({} messages)",
                big / SENDERS
            ),
            "sender=s7".to_owned(),
            "sender = 's7'".to_owned(),
        ),
        (
            format!(
                "`before`-filtered clear of half the room ({} messages)",
                big / 2
            ),
            format!("before={half_time}"),
            format!("created_at < {half_time}"),
        ),
    ] {
        let covered = db.rows_where(&format!("room_id = 'mbig' AND {condition}"))?;
        db.checkpoint()?;
        let t = Instant::now();
        db.filtered_clear(
            &token_hash,
            &["fmbig".to_owned()],
            &condition,
            &format!("floor-{query}"),
        )?;
        let floor = t.elapsed();
        db.settle(&["fmbig".to_owned()])?;
        let (r, took) = user.timed(
            "DELETE",
            &format!("/rooms/mbig/messages/_all?{query}"),
            None,
        )?;
        let result = ok(r, &label)?;
        let deleted = result["result"]["deletedCount"].as_i64().unwrap_or(-1);
        let started = Instant::now();
        let (a50, a99) = page(&mut user)?;
        while db.rows_where(&format!("room_id = 'mbig' AND {condition}"))? > 0 {
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(900),
                "removal stalled"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let gone = started.elapsed() + took;
        rows.push(format!(
            "| {label}: response, deletedCount (rows gone after) | {:.1} ms, {deleted} of {covered} ({:.1} s) | {:.1} ms | {:.1}× |",
            took.as_secs_f64() * 1000.0,
            gone.as_secs_f64(),
            floor.as_secs_f64() * 1000.0,
            took.as_secs_f64() / floor.as_secs_f64(),
        ));
        rows.push(format!(
            "| newest page right after the {} clear (removal still running): p50 / p99 | {a50:.2} / {a99:.2} ms | | |",
            if query.starts_with("sender") { "`sender`" } else { "`before`" }
        ));
    }
    let (p50, p99) = page(&mut user)?;
    rows.push(format!(
        "| newest page after both removals finished: p50 / p99 | {p50:.2} / {p99:.2} ms | | |"
    ));

    // A user purge across 1,000 rooms.
    let covered = db.rows_where("sender = 'u1' AND room_id LIKE 'p%'")?;
    db.checkpoint()?;
    let twins: Vec<String> = purge_rooms.iter().map(|r| format!("f{r}")).collect();
    let t = Instant::now();
    db.user_purge(&twins, "v1", None)?;
    let dry_floor = t.elapsed();
    let (r, dry_took) = admin.timed("DELETE", "/admin/clients/u1/messages?dryRun=true", None)?;
    let previewed = ok(r, "user purge dry run")?["result"]["deletedCount"]
        .as_i64()
        .unwrap_or(-1);
    rows.push(format!(
        "| user purge across {PURGE_ROOMS} rooms, dry run: response, deletedCount | {:.0} ms, {previewed} of {covered} | {:.0} ms | {:.1}× |",
        dry_took.as_secs_f64() * 1000.0,
        dry_floor.as_secs_f64() * 1000.0,
        dry_took.as_secs_f64() / dry_floor.as_secs_f64(),
    ));
    let t = Instant::now();
    db.user_purge(&twins, "v1", Some("floor-purge"))?;
    let floor = t.elapsed();
    db.settle(&twins)?;
    let (r, took) = admin.timed("DELETE", "/admin/clients/u1/messages", None)?;
    let result = ok(r, "user purge")?;
    let deleted = result["result"]["deletedCount"].as_i64().unwrap_or(-1);
    let affected = result["result"]["rooms"].as_array().map_or(0, Vec::len);
    let started = Instant::now();
    while db.rows_where("sender = 'u1' AND room_id LIKE 'p%'")? > 0 {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(900),
            "purge stalled"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let gone = started.elapsed() + took;
    rows.push(format!(
        "| user purge across {PURGE_ROOMS} rooms: response, deletedCount in rooms (rows gone after) | {:.0} ms, {deleted} of {covered} in {affected} ({:.1} s) | {:.0} ms | {:.1}× |",
        took.as_secs_f64() * 1000.0,
        gone.as_secs_f64(),
        floor.as_secs_f64() * 1000.0,
        took.as_secs_f64() / floor.as_secs_f64(),
    ));
    // The rows so far are reported even should the wave fail (its clear can run into the
    // server's 8-second deadline on a slow machine).
    if let Err(e) = platform_wave(&mut admin, &mut db, &mut rows) {
        rows.push(format!("| the platform wave failed: {e} | | | |"));
    }
    Ok(rows)
}

/// Rooms of the platform's day, and its messages.
const PLATFORM_ROOMS: u64 = 10_000;
const PLATFORM_MESSAGES: u64 = 1_000_000;

/// A clear by content across a platform's day: 10,000 rooms with 1,000,000 messages sent in
/// that day, a spam wave of 1,000 messages in 1,000 rooms; the dry run and the clear of
/// `DELETE /admin/messages` over the day, beside the floor (the same window and `LIKE`
/// straight at the database, on the twin wave `spam-a`, which has the same shape).
fn platform_wave(admin: &mut Client, db: &mut Sql, rows: &mut Vec<String>) -> anyhow::Result<()> {
    let seeding = Instant::now();
    for i in 0..PLATFORM_ROOMS {
        let r = admin.call(
            "POST",
            "/rooms",
            Some(&format!(r#"{{"_id":"w{i:05}","owner":"mod"}}"#)),
        )?;
        anyhow::ensure!(
            r.status == 200,
            "platform room: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    let day = 86_400_000;
    let t0 = chrono::Utc::now().timestamp_millis() - 3 * day;
    db.seed_platform(PLATFORM_ROOMS, PLATFORM_MESSAGES, t0, day)?;
    db.checkpoint()?;
    eprintln!(
        "platform seeded in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );
    let (after, before) = (t0, t0 + day + 1);
    let mut run = |dry: bool| -> anyhow::Result<(i64, usize, Duration)> {
        let dry_run = if dry { "&dryRun=true" } else { "" };
        let (r, took) = admin.timed(
            "DELETE",
            &format!(
                "/admin/messages?contains=spam-b.example&after={after}&before={before}{dry_run}"
            ),
            None,
        )?;
        anyhow::ensure!(
            r.status == 200,
            "clear by content: {}",
            String::from_utf8_lossy(&r.body)
        );
        let v = r.json()?;
        let n = v["result"]["deletedCount"].as_i64().unwrap_or(-1);
        let affected = v["result"]["rooms"].as_array().map_or(0, Vec::len);
        Ok((n, affected, took))
    };
    let t = Instant::now();
    let counted = db.platform_clear(after, before, "%spam-a.example%", None)?;
    let dry_floor = t.elapsed();
    let (previewed, rooms_hit, dry_took) = run(true)?;
    rows.push(format!(
        "| `DELETE /admin/messages` over a day of {PLATFORM_ROOMS} rooms and {PLATFORM_MESSAGES} messages, dry run: response, deletedCount in rooms | {:.0} ms, {previewed} in {rooms_hit} (floor's wave: {counted}) | {:.0} ms | {:.1}× |",
        dry_took.as_secs_f64() * 1000.0,
        dry_floor.as_secs_f64() * 1000.0,
        dry_took.as_secs_f64() / dry_floor.as_secs_f64(),
    ));
    let t = Instant::now();
    db.platform_clear(after, before, "%spam-a.example%", Some("floor-wave"))?;
    let floor = t.elapsed();
    let (deleted, rooms_hit, took) = run(false)?;
    rows.push(format!(
        "| the same, cleared: response (rows gone with it), deletedCount in rooms | {:.0} ms, {deleted} in {rooms_hit} | {:.0} ms (batched, no events) | {:.1}× |",
        took.as_secs_f64() * 1000.0,
        floor.as_secs_f64() * 1000.0,
        took.as_secs_f64() / floor.as_secs_f64(),
    ));
    Ok(())
}
