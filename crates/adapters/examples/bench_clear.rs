//! Benchmark: deletion in a room of N messages on embedded SQLite (`just bench`).
//!
//! Seeds one room with N messages (default 1,000,000) in a temporary database, then measures
//! what a moderator waits for: reading the newest page, deleting single messages, clearing
//! the whole room with `_all`, and the background purge that follows. Prints a Markdown table.
#![expect(
    clippy::print_stdout,
    reason = "a benchmark reports on standard output"
)]

use chrono::Utc;
use diesel::connection::SimpleConnection;
use diesel::{Connection, SqliteConnection};
use roomwarden_adapters::{Database, DieselStore, PoolOptions};
use roomwarden_domain::actor::Actor;
use roomwarden_domain::ids::{ClientId, DeleteTarget, DeletionId, MessageId, RoomId};
use roomwarden_domain::model::{ClientChanges, DeleteOutcome, DeletionRequest, NewRoom, RoomType};
use roomwarden_domain::ports::{ClientStore, MessageStore, RoomStore};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn peak_rss_mib() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_owned())
        })
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or_else(|| "n/a".to_owned(), |kb| format!("{:.0} MiB", kb / 1024.0))
}

fn request(room: &RoomId, target: DeleteTarget) -> DeletionRequest {
    DeletionRequest {
        id: DeletionId::generate(Utc::now()),
        room: room.clone(),
        target,
        actor: roomwarden_domain::actor::Actor::Platform,
        deleted_at: Utc::now(),
        reason: None,
        filter: Default::default(),
        skip_if_nothing: false,
        retention: None,
    }
}

fn main() -> anyhow::Result<()> {
    let n: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let dir = std::env::temp_dir().join(format!("roomwarden-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("bench.db");
    let url = format!("sqlite://{}", path.display());
    let store = DieselStore::new(Database::connect(&url, &PoolOptions::default())?);
    let alice = ClientId::parse("alice")?;
    let room = RoomId::parse("big")?;
    store.save_client(
        &ClientChanges {
            id: alice.clone(),
            nickname: None,
            avatar_url: None,
            is_platform_admin: None,
        },
        None,
        Utc::now(),
    )?;
    store.insert_room(
        &NewRoom {
            id: room.clone(),
            name: None,
            room_type: RoomType::Group,
            owner: Some(alice.clone()),
            managers: vec![],
            members: vec![],
            webhook: None,
            retention_days: None,
            created_at: Utc::now(),
        },
        &Actor::Platform,
        None,
    )?;

    let started = Instant::now();
    // Seeded with one SQL statement, beside the store, so the room's visible count is set
    // the way the store's sends would have left it.
    let mut seed = SqliteConnection::establish(&path.display().to_string())?;
    seed.batch_execute(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;
         WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {n})
         INSERT INTO messages (id, room_id, sender, message_type, body, created_at)
         SELECT printf('m%09d', x), 'big', 'alice', 'text', '\"spam message number ' || x || '\"', 0 FROM c;
         UPDATE rooms SET visible_count = {n} WHERE id = 'big';"
    ))?;
    drop(seed);
    let seeded = started.elapsed();

    let page = median(
        (0..20)
            .map(|_| {
                let t = Instant::now();
                let _ = store.list_messages(&room, None, 20);
                t.elapsed()
            })
            .collect(),
    );
    let single = median(
        (0..20)
            .map(|i| {
                let id = MessageId::parse(&format!("m{:09}", n / 2 + i))
                    .unwrap_or_else(|_| unreachable!("valid ID"));
                let t = Instant::now();
                let outcome = store.delete(&request(&room, DeleteTarget::One(id)));
                let took = t.elapsed();
                assert!(
                    matches!(outcome, Ok(DeleteOutcome::Deleted(_))),
                    "{outcome:?}"
                );
                took
            })
            .collect(),
    );

    let t = Instant::now();
    let cleared = store.delete(&request(&room, DeleteTarget::All))?;
    let clear = t.elapsed();
    let DeleteOutcome::Deleted(deletion) = cleared else {
        anyhow::bail!("clear failed: {cleared:?}")
    };
    assert_eq!(deletion.deleted_count, n - 20);

    let t = Instant::now();
    let after = store.list_messages(&room, None, 20)?.map(|p| p.total_count);
    let read_after = t.elapsed();
    assert_eq!(after, Some(0), "invisible at once");

    let t = Instant::now();
    let purged = store.purge_pending(&AtomicBool::new(false))?;
    let purge = t.elapsed();
    assert_eq!(purged, n - 20);
    let rate = purged as f64 / purge.as_secs_f64();

    println!("| measure ({n} messages in one room, SQLite) | result |");
    println!("|---|---|");
    println!(
        "| seeding (setup, not a feature) | {:.1} s |",
        seeded.as_secs_f64()
    );
    println!(
        "| newest page of 20 with totalCount, median of 20 | {} |",
        ms(page)
    );
    println!("| delete one message, median of 20 | {} |", ms(single));
    println!(
        "| clear the room (`_all`), messages invisible when it returns | {} |",
        ms(clear)
    );
    println!(
        "| read right after the clear (totalCount 0) | {} |",
        ms(read_after)
    );
    println!(
        "| background purge of {purged} rows | {:.1} s ({:.0} rows/s) |",
        purge.as_secs_f64(),
        rate
    );
    println!(
        "| peak resident memory of the process | {} |",
        peak_rss_mib()
    );
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
