//! The verifiable audit log (docs/api.md §8.5–8.7): every record's `hash`
//! links it to its room's previous record, witnesses travel in events, `verify` finds any
//! edit of the database, and the export streams every record.

use crate::receiver::Receiver;
use crate::support::*;
use roomwarden_adapters::testing::Rows;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Every record of `room`, oldest first, as the API lists them.
fn records(app: &TestApp, room: &str) -> Vec<Value> {
    let res = app
        .get(&format!("/rooms/{room}/deletions?limit=100"))
        .api_key()
        .send();
    let mut all = res.ok()["data"].as_array().expect("records").clone();
    all.reverse();
    all
}

/// Recomputes the chain from the listing alone, as docs/api.md tells an auditor to: SHA-256
/// of the previous `hash` and the record's JSON without `hash`, keys sorted, no spaces.
fn recompute(records: &[Value]) -> Vec<String> {
    let mut previous = GENESIS.to_owned();
    records
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.as_object_mut().expect("object").remove("hash");
            // serde_json's map sorts keys; `to_string` writes no spaces.
            let digest = Sha256::digest(format!("{previous}{r}").as_bytes());
            previous = hex::encode(digest);
            previous.clone()
        })
        .collect()
}

fn verify(app: &TestApp, room: &str) -> Value {
    app.get(&format!("/rooms/{room}/deletions/verify"))
        .api_key()
        .send()
        .ok()
        .clone()
}

#[test]
fn every_kind_of_deletion_extends_a_chain_that_an_auditor_can_recompute() {
    let receiver = Receiver::start(&[]);
    let app = TestApp::spawn();
    let (owner, manager, member, spammer) = (
        app.user("owner"),
        app.user("manager"),
        app.user("member"),
        app.user("spammer"),
    );
    app.room("r", "owner", &["manager"], &["member", "spammer"]);
    app.put("/rooms/r")
        .api_key()
        .json(json!({"webhook": receiver.url}))
        .send()
        .ok();
    let ids: Vec<String> = (0..6)
        .map(|i| app.say(&member, "r", &format!("m{i}")))
        .collect();
    app.say(&spammer, "r", "spam");
    // In two rooms, so that the user purge takes the batched path (one statement moves
    // both rooms' heads): the clear after it must link to the purge's record.
    app.room("r2", "owner", &[], &["spammer"]);
    app.say(&spammer, "r2", "spam");
    let hello = app.say(&owner, "r2", "hello");
    app.delete(&format!("/rooms/r2/messages/{hello}"))
        .api_key()
        .send()
        .ok();
    // One of each: a message, a bulk deletion, a filtered clear, a user purge, a clear.
    app.delete(&format!("/rooms/r/messages/{}", ids[0]))
        .user(&manager)
        .header("X-Audit-Log-Reason", "off%20topic")
        .send()
        .ok();
    app.post("/rooms/r/messages/delete")
        .user(&owner)
        .json(json!({"messageIDs": [ids[1], ids[2]]}))
        .send()
        .ok();
    app.delete(&format!(
        "/rooms/r/messages/_all?sender=member&before={}",
        ids[4]
    ))
    .user(&owner)
    .send()
    .ok();
    app.delete("/admin/clients/spammer/messages")
        .api_key()
        .send()
        .ok();
    app.delete("/rooms/r/messages/_all").api_key().send().ok();
    app.delete("/rooms/r2/messages/_all").api_key().send().ok();
    let r2 = records(&app, "r2");
    assert_eq!(
        r2.len(),
        3,
        "a message, the purge's record, a clear: {r2:?}"
    );
    assert_eq!(
        verify(&app, "r2")["valid"],
        true,
        "{:?}",
        verify(&app, "r2")
    );

    let listed = records(&app, "r");
    assert!(listed.len() >= 4, "{listed:?}");
    let hashes: Vec<&str> = listed
        .iter()
        .map(|r| r["hash"].as_str().expect("hash"))
        .collect();
    assert_eq!(recompute(&listed), hashes, "the documented algorithm");
    let report = verify(&app, "r");
    assert_eq!(
        report,
        json!({"roomID": "r", "records": listed.len(), "head": hashes[hashes.len() - 1], "valid": true})
    );
    // Each webhook carries its record's hash: the receiver's witness.
    let events = receiver.wait_for(listed.len(), std::time::Duration::from_secs(30));
    for event in events {
        let body = event.json();
        let record = listed
            .iter()
            .find(|r| r["_id"] == body["id"])
            .expect("the event's record");
        assert_eq!(body["data"]["auditHash"], record["hash"], "{body}");
    }
    // A room without records verifies, with the genesis as its head.
    app.room("quiet", "owner", &[], &[]);
    assert_eq!(
        verify(&app, "quiet"),
        json!({"roomID": "quiet", "records": 0, "head": GENESIS, "valid": true})
    );
    // The room's moderators may verify, members may not.
    app.get("/rooms/r/deletions/verify")
        .user(&manager)
        .send()
        .ok();
    app.get("/rooms/r/deletions/verify")
        .user(&member)
        .send()
        .err(403, "INSUFFICIENT_PERMISSION");
    app.get("/rooms/nowhere/deletions/verify")
        .api_key()
        .send()
        .err(404, "ROOM_NOT_FOUND");
    // Room changes are chained too.
    let changes = app.get("/rooms/r/changes?limit=100").api_key().send().ok()["data"]
        .as_array()
        .expect("changes")
        .clone();
    let mut changes = changes;
    changes.reverse();
    let change_hashes: Vec<String> = changes
        .iter()
        .map(|c| c["hash"].as_str().expect("hash").to_owned())
        .collect();
    assert_eq!(recompute(&changes), change_hashes);
}

#[test]
fn concurrent_deletions_in_one_room_never_fork_the_chain() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    let ids: Vec<String> = (0..24)
        .map(|i| app.say(&cast.member, "r", &format!("m{i}")))
        .collect();
    std::thread::scope(|s| {
        for chunk in ids.chunks(3) {
            let (app, owner) = (&app, &cast.owner);
            s.spawn(move || {
                for id in chunk {
                    app.delete(&format!("/rooms/r/messages/{id}"))
                        .user(owner)
                        .send()
                        .ok();
                }
            });
        }
    });
    let listed = records(&app, "r");
    assert_eq!(listed.len(), 24);
    let hashes: Vec<&str> = listed
        .iter()
        .map(|r| r["hash"].as_str().expect("hash"))
        .collect();
    // A fork (two records after the same one) would break the recomputed sequence.
    assert_eq!(recompute(&listed), hashes);
    assert_eq!(verify(&app, "r")["valid"], true);
}

/// A room with five single deletions; their record IDs, oldest first.
fn five_deletions(app: &TestApp) -> Vec<String> {
    let cast = app.cast("r");
    for i in 0..5 {
        let id = app.say(&cast.member, "r", &format!("m{i}"));
        app.delete(&format!("/rooms/r/messages/{id}"))
            .api_key()
            .header("X-Audit-Log-Reason", "spam")
            .send()
            .ok();
    }
    records(app, "r")
        .iter()
        .map(|r| r["_id"].as_str().expect("id").to_owned())
        .collect()
}

#[test]
fn verify_finds_an_edit_a_removal_and_a_reordering_at_the_right_record() {
    let app = TestApp::spawn();
    let ids = five_deletions(&app);
    let rows = Rows::open(&app.database_url);
    let broken_at = |app: &TestApp| {
        let report = verify(app, "r");
        assert_eq!(report["valid"], false, "{report}");
        report["firstInvalid"]
            .as_str()
            .expect("firstInvalid")
            .to_owned()
    };

    rows.execute(&format!(
        "UPDATE deletions SET reason = 'nothing to see' WHERE id = '{}'",
        ids[1]
    ));
    assert_eq!(broken_at(&app), ids[1], "an edited reason");
    rows.execute(&format!(
        "UPDATE deletions SET reason = 'spam' WHERE id = '{}'",
        ids[1]
    ));
    assert_eq!(verify(&app, "r")["valid"], true, "restored");

    rows.execute(&format!(
        "UPDATE deletions SET deleted_count = 7 WHERE id = '{}'",
        ids[2]
    ));
    assert_eq!(broken_at(&app), ids[2], "a changed count");
    rows.execute(&format!(
        "UPDATE deletions SET deleted_count = 1 WHERE id = '{}'",
        ids[2]
    ));

    // Records 2 and 4 swapped in the log's order (their sequence numbers exchanged).
    let (s2, s4) = (rows.deletion_seq(&ids[2]), rows.deletion_seq(&ids[4]));
    rows.execute(&format!(
        "UPDATE deletions SET seq = -5 WHERE id = '{}'",
        ids[2]
    ));
    rows.execute(&format!(
        "UPDATE deletions SET seq = {s2} WHERE id = '{}'",
        ids[4]
    ));
    rows.execute(&format!(
        "UPDATE deletions SET seq = {s4} WHERE id = '{}'",
        ids[2]
    ));
    // Now: 0, 1, 4 (in 2's place), 3, 2 (in 4's place): 4 is the first out of place.
    assert_eq!(broken_at(&app), ids[4], "a reordering");
}

#[test]
fn verify_finds_a_removed_record_at_the_one_after_it() {
    let app = TestApp::spawn();
    let ids = five_deletions(&app);
    Rows::open(&app.database_url)
        .execute(&format!("DELETE FROM deletions WHERE id = '{}'", ids[2]));
    let report = verify(&app, "r");
    assert_eq!(report["valid"], false);
    assert_eq!(report["firstInvalid"], ids[3].as_str());
    assert_eq!(report["records"], 4);
}

#[test]
fn records_written_before_the_chain_are_linked_at_start_up() {
    let database = fresh_database();
    let url = database.url.clone();
    // The file (SQLite) goes with the second server, which outlives the first.
    let app = TestApp::spawn_with(test_config(url.clone()), None);
    five_deletions(&app);
    let linked: Vec<Value> = records(&app, "r");
    // As a database of the release before the chain: no record has a hash.
    let rows = Rows::open(&url);
    rows.execute("UPDATE deletions SET hash = NULL");
    rows.execute("UPDATE room_changes SET hash = NULL");
    rows.execute("DELETE FROM settings WHERE name = 'audit_chain_linked'");
    assert!(records(&app, "r").iter().all(|r| r["hash"].is_null()));
    assert_eq!(verify(&app, "r")["valid"], false);
    // More than two batches' worth, two rooms interleaved.
    app.room("s", "owner", &[], &[]);
    let values: Vec<String> = (0..2_500)
        .map(|i| {
            let room = if i % 2 == 0 { "r" } else { "s" };
            format!(
                "('old-{i:05}', '{room}', 'm{i}', 1, '_platform', {}, NULL)",
                1_800_000_000_000_i64 + i
            )
        })
        .collect();
    rows.execute(&format!(
        "INSERT INTO deletions (id, room_id, message_id, deleted_count, deleted_by, deleted_at, reason) VALUES {}",
        values.join(", ")
    ));
    // Nor does any room keep a head (the column came later still).
    rows.execute("UPDATE rooms SET audit_head = NULL");
    drop(app);

    // The next start links them, oldest first, exactly as they would have been linked.
    let restarted = TestApp::binary_on(url, Some(database), &[]);
    let (_, _, exported) = export(&restarted, "");
    assert_eq!(exported.len(), 5 + 2_500);
    assert_eq!(
        exported[..5],
        linked[..],
        "the same hashes as when first written"
    );
    for room in ["r", "s"] {
        let report = verify(&restarted, room);
        assert_eq!(report["valid"], true, "{report}");
    }
    assert_eq!(verify(&restarted, "r")["records"], 5 + 1_250);
    assert_eq!(verify(&restarted, "s")["records"], 1_250);
    // Their rows keep no head (the column came later): the next deletion of each room
    // links to its newest record, and the one after it to that deletion.
    for room in ["r", "s", "r", "s"] {
        restarted
            .delete(&format!("/rooms/{room}/messages/_all"))
            .api_key()
            .send()
            .ok();
    }
    for room in ["r", "s"] {
        let report = verify(&restarted, room);
        assert_eq!(report["valid"], true, "{report}");
    }
    assert_eq!(verify(&restarted, "s")["records"], 1_250 + 2);
}

/// `roomwarden audit verify` against `url`: its exit status and output.
fn audit_verify(url: &str, args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_roomwarden"))
        .args(["audit", "verify"])
        .args(args)
        .env("ROOMWARDEN_DATABASE_URL", url)
        .env("ROOMWARDEN_API_KEY", API_KEY)
        .env("ROOMWARDEN_CLIENT_KEY", CLIENT_KEY)
        .env("RUST_LOG", "warn")
        .output()
        .expect("runs");
    (
        out.status.code().expect("exit status"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn the_command_line_verifies_every_room_or_one_and_exits_1_on_a_broken_chain() {
    let app = TestApp::spawn();
    let ids = five_deletions(&app);
    let (status, out) = audit_verify(&app.database_url, &[]);
    assert_eq!(status, 0, "{out}");
    assert!(
        out.contains("5 records in 1 rooms: every chain holds"),
        "{out}"
    );

    Rows::open(&app.database_url).execute(&format!(
        "UPDATE deletions SET deleted_by = 'someone else' WHERE id = '{}'",
        ids[0]
    ));
    let (status, out) = audit_verify(&app.database_url, &[]);
    assert_eq!(status, 1, "{out}");
    assert!(
        out.contains(&format!(
            "room r: chain broken at record {} (5 records)",
            ids[0]
        )),
        "{out}"
    );
    let (status, out) = audit_verify(&app.database_url, &["--room", "r"]);
    assert_eq!(status, 1, "{out}");
    let (status, out) = audit_verify(&app.database_url, &["--room", "elsewhere"]);
    assert_eq!(
        (status, out.trim()),
        (0, "0 records in 1 rooms: every chain holds")
    );
    let (status, _) = audit_verify(&app.database_url, &["--everything"]);
    assert_eq!(status, 1, "a bad argument");
}

/// `GET /admin/deletions/export` with the API key: status, content type and the records.
fn export(app: &TestApp, query: &str) -> (u16, String, Vec<Value>) {
    let mut res = agent()
        .get(format!("{}/admin/deletions/export{query}", app.base))
        .header("IM-API-KEY", API_KEY)
        .call()
        .expect("answered");
    let status = res.status().as_u16();
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = res.body_mut().read_to_string().expect("body");
    let lines = body
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON record per line"))
        .collect();
    (status, content_type, lines)
}

#[test]
fn the_export_streams_every_rooms_records_oldest_first_as_json_lines() {
    let app = TestApp::spawn();
    five_deletions(&app);
    let listed = records(&app, "r");
    let (status, content_type, exported) = export(&app, "");
    assert_eq!(
        (status, content_type.as_str()),
        (200, "application/x-ndjson")
    );
    assert_eq!(exported, listed, "oldest first, each with its hash");

    let third = listed[2]["deletedAt"].as_str().expect("time");
    let (_, _, from_third) = export(&app, &format!("?after={third}"));
    assert_eq!(from_third, listed[2..].to_vec());
    let fourth = listed[3]["deletedAt"].as_str().expect("time");
    let (_, _, before_fourth) = export(&app, &format!("?before={fourth}"));
    assert_eq!(before_fourth, listed[..3].to_vec());

    // More records than one page (1,000), from another room, written straight to the table.
    let values: Vec<String> = (0..2_500)
        .map(|i| {
            format!(
                "('bulk-{i:05}', 'elsewhere', 'm{i}', 1, '_platform', {}, NULL)",
                1_800_000_000_000_i64 + i
            )
        })
        .collect();
    Rows::open(&app.database_url).execute(&format!(
        "INSERT INTO deletions (id, room_id, message_id, deleted_count, deleted_by, deleted_at, reason) VALUES {}",
        values.join(", ")
    ));
    let (_, _, all) = export(&app, "");
    assert_eq!(all.len(), 2_505);
    assert_eq!(all[..5].to_vec(), listed);
    assert_eq!(all[5]["_id"], "bulk-00000");
    assert_eq!(all[2_504]["_id"], "bulk-02499");

    app.get("/admin/deletions/export?after=soon")
        .api_key()
        .send()
        .err(400, "INVALID_PARAMETER");
    let cast_token = app.user("someone");
    app.get("/admin/deletions/export")
        .user(&cast_token)
        .send()
        .err(401, "INVALID_API_KEY");
}

/// A `/proc/<pid>/status` field of a process, in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("field")
}

/// Records of the million-record export: a million, but on a Galera cluster (a node list),
/// where the seeding alone would replicate a million rows through the cluster while the
/// rest of the suite runs: 100,000 there (the export reads them the same way, a thousand at
/// a time).
fn export_size(url: &str) -> u64 {
    if url.contains(',') {
        100_000
    } else {
        1_000_000
    }
}

#[test]
fn the_export_streams_a_million_records_in_bounded_memory() {
    let app = TestApp::binary(&[]);
    let n = export_size(&app.database_url);
    // Records written straight to the table, in statements of 10,000 rows.
    let rows = Rows::open(&app.database_url);
    for start in (0..n).step_by(10_000) {
        let values: Vec<String> = (start..start + 10_000)
            .map(|i| {
                format!(
                    "('x{i:07}', 'big', 'm{i}', 1, '_platform', {}, 'bulk seeded')",
                    1_800_000_000_000_u64 + i
                )
            })
            .collect();
        rows.execute(&format!(
            "INSERT INTO deletions (id, room_id, message_id, deleted_count, deleted_by, deleted_at, reason) VALUES {}",
            values.join(", ")
        ));
    }
    let pid = app.pid().expect("the real binary");
    let before = status_kib(pid, "VmRSS:");
    let mut res = agent()
        .get(format!("{}/admin/deletions/export", app.base))
        .header("IM-API-KEY", API_KEY)
        .call()
        .expect("answered");
    assert_eq!(res.status().as_u16(), 200);
    let reader = std::io::BufReader::new(res.body_mut().as_reader());
    let mut count = 0_u64;
    let mut last = String::new();
    for line in std::io::BufRead::lines(reader) {
        let line = line.expect("a line");
        if count == 0 || count + 1 == n {
            let record: Value = serde_json::from_str(&line).expect("JSON");
            last = record["_id"].as_str().expect("id").to_owned();
        }
        count += 1;
    }
    assert_eq!(count, n);
    assert_eq!(
        last,
        format!("x{:07}", n - 1),
        "oldest first, to the last one"
    );
    // The server's peak memory over the whole export stays within a few MiB of where it
    // started: it holds one page of a thousand records at a time.
    let peak = status_kib(pid, "VmHWM:");
    assert!(
        peak < before + 32 * 1024,
        "peak {peak} KiB against {before} KiB before the export"
    );
}
