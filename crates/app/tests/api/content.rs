//! Clear by content, row by row of docs/api.md §7.9: `contains` on a room's clear and its
//! dry run, and `DELETE /admin/messages` across rooms within a window.

use crate::support::*;
use serde_json::{Value, json};

/// The visible message IDs of `room`, newest first, as `token` sees them.
fn visible(app: &TestApp, token: &str, room: &str) -> Vec<String> {
    app.get(&format!("/rooms/{room}/messages/v3?limit=100"))
        .user(token)
        .send()
        .ok()["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|m| m["_id"].as_str().expect("id").to_owned())
        .collect()
}

/// Sends `message` (any JSON) as `token`'s user; returns its ID.
fn send(app: &TestApp, token: &str, room: &str, message: Value) -> String {
    let res = app
        .post(&format!("/rooms/{room}/message"))
        .user(token)
        .json(json!({ "message": message }))
        .send();
    res.ok()["_id"].as_str().expect("id").to_owned()
}

fn sample_ids(result: &Value) -> Vec<&str> {
    result["sample"]
        .as_array()
        .expect("sample")
        .iter()
        .map(|m| m["_id"].as_str().expect("id"))
        .collect()
}

#[test]
fn a_room_clear_by_content_previews_a_sample_then_removes_exactly_the_matches() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    let plain = send(
        &app,
        &cast.member,
        "r",
        json!("Free crypto at BIT.LY/Spam!"),
    );
    let ham = send(&app, &cast.member, "r", json!("see the bit-ly/spam docs"));
    let nested = send(
        &app,
        &cast.member,
        "r",
        json!({"card": {"links": ["x", "https://bit.ly/SPAM"]}}),
    );
    let key_only = send(&app, &cast.member, "r", json!({"bit.ly/spam": true}));
    let greek = send(&app, &cast.member, "r", json!("ΣΟΦΙΑΣ"));
    let path = "/rooms/r/messages/_all?contains=bit.ly%2Fspam&contains=%CF%86%CE%B9%CE%B1%CF%82";
    let res = app
        .delete(&format!("{path}&dryRun=true"))
        .user(&cast.manager)
        .send();
    assert_eq!(res.body["RM"], "Dry run: nothing deleted");
    let dry = res.ok().clone();
    assert_eq!(dry["deletedCount"], 3);
    assert_eq!(dry["filter"], json!({"contains": ["bit.ly/spam", "φιας"]}));
    assert_eq!(sample_ids(&dry), [&greek, &nested, &plain], "newest first");
    assert_eq!(dry["sample"][1]["roomID"], "r");
    assert_eq!(dry["sample"][1]["sender"], "member");
    assert_eq!(
        dry["sample"][1]["message"],
        json!({"card": {"links": ["x", "https://bit.ly/SPAM"]}})
    );
    assert_eq!(visible(&app, &cast.member, "r").len(), 5, "nothing deleted");
    assert!(app.audit("r").is_empty());

    let res = app
        .delete(path)
        .user(&cast.manager)
        .header("X-Audit-Log-Reason", "spam%20wave")
        .send();
    assert_eq!(res.body["RM"], "All messages deleted successfully");
    let done = res.ok();
    assert_eq!(done["deletedCount"], 3);
    assert!(done.get("sample").is_none() && done.get("dryRun").is_none());
    assert_eq!(visible(&app, &cast.member, "r"), [key_only, ham]);
    let records = app.audit("r");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["filter"], dry["filter"]);
    assert_eq!(records[0]["reason"], "spam wave");
    // Combined with a sender: both must hold; the owner's spam stays.
    let owners = send(&app, &cast.owner, "r", json!("bit.ly/spam again"));
    let members = send(&app, &cast.member, "r", json!("bit.ly/spam again"));
    let res = app
        .delete("/rooms/r/messages/_all?contains=BIT.LY/SPAM&sender=member")
        .user(&cast.owner)
        .send();
    assert_eq!(res.ok()["deletedCount"], 1);
    let left = visible(&app, &cast.member, "r");
    assert!(left.contains(&owners) && !left.contains(&members));
}

#[test]
fn contains_out_of_rule_is_an_invalid_parameter_after_authentication() {
    let app = TestApp::spawn();
    let cast = app.cast("r");
    let id = app.say(&cast.member, "r", "hello there");
    let six = "contains=aaa&contains=bbb&contains=ccc&contains=ddd&contains=eee&contains=fff";
    let long = format!("contains={}", "x".repeat(201));
    for query in ["contains=ab", six, long.as_str()] {
        app.delete(&format!("/rooms/r/messages/_all?{query}"))
            .user(&cast.owner)
            .send()
            .err(400, "INVALID_PARAMETER");
    }
    app.delete(&format!("/rooms/r/messages/{id}?contains=hello"))
        .user(&cast.owner)
        .send()
        .err(400, "INVALID_PARAMETER");
    app.delete("/rooms/r/messages/_all?contains=ab")
        .send()
        .err(401, "INVALID_CLIENT_KEY");
    // Permission before the rest: a member may not clear, whatever the filter matches.
    app.delete("/rooms/r/messages/_all?contains=hello")
        .user(&cast.member)
        .send()
        .err(403, "INSUFFICIENT_PERMISSION");
    assert_eq!(visible(&app, &cast.member, "r"), [id]);
}

#[test]
fn a_spam_wave_is_cleared_across_rooms_after_a_dry_run() {
    let app = TestApp::spawn();
    let cast = app.cast("a");
    app.room("b", "owner", &[], &["member"]);
    app.room("c", "owner", &[], &["member"]);
    let a1 = app.say(&cast.member, "a", "join FREE-COINS.example today");
    let a_ham = app.say(&cast.member, "a", "hello");
    let b1 = app.say(&cast.owner, "b", "free-coins.EXAMPLE");
    let b2 = send(
        &app,
        &cast.member,
        "b",
        json!({"text": "Free-Coins.example!"}),
    );
    let c_ham = app.say(&cast.member, "c", "nothing to see");
    let since = "2020-01-01T00:00:00Z";
    let after = format!("after={}", chrono::Utc::now().timestamp_millis() - 60_000);
    let path = format!("/admin/messages?contains=free-coins.example&{after}");

    // Only the API key; the window is required and bounded; contains is required.
    app.delete(&path)
        .user(&cast.owner)
        .send()
        .err(401, "INVALID_API_KEY");
    for query in [
        "contains=free-coins.example".to_owned(),
        after.clone(),
        format!("contains=free-coins.example&after={since}"),
        format!("contains=free-coins.example&{after}&sender=member"),
        format!("contains=fr&{after}"),
    ] {
        app.delete(&format!("/admin/messages?{query}"))
            .api_key()
            .send()
            .err(400, "INVALID_PARAMETER");
    }

    let res = app.delete(&format!("{path}&dryRun=true")).api_key().send();
    assert_eq!(res.body["RM"], "Dry run: nothing deleted");
    let dry = res.ok().clone();
    assert_eq!(dry["deletedCount"], 3);
    assert_eq!(dry["dryRun"], true);
    assert_eq!(
        dry["rooms"],
        json!([{"roomID": "a", "deletedCount": 1}, {"roomID": "b", "deletedCount": 2}])
    );
    assert_eq!(sample_ids(&dry), [&b2, &b1, &a1]);
    assert_eq!(dry["filter"]["contains"], json!(["free-coins.example"]));
    assert!(
        dry["filter"]["before"].is_string(),
        "before defaults to now"
    );
    assert_eq!(visible(&app, &cast.member, "a").len(), 2, "nothing deleted");
    // Limited to listed rooms.
    let only_b = app
        .delete(&format!("{path}&roomID=b&roomID=c&dryRun=true"))
        .api_key()
        .send();
    assert_eq!(only_b.ok()["deletedCount"], 2);

    let res = app
        .delete(&path)
        .api_key()
        .header("X-Audit-Log-Reason", "coin%20spam")
        .send();
    assert_eq!(res.body["RM"], "Matching messages deleted successfully");
    let done = res.ok().clone();
    assert_eq!(done["deletedCount"], dry["deletedCount"]);
    assert_eq!(done["rooms"], dry["rooms"]);
    assert_eq!(done["deletedBy"], "_platform");
    assert_eq!(done["dryRun"], false);
    assert!(done.get("sample").is_none());
    assert_eq!(visible(&app, &cast.member, "a"), [a_ham]);
    assert!(visible(&app, &cast.member, "b").is_empty());
    assert_eq!(visible(&app, &cast.member, "c"), [c_ham]);
    for (room, count) in [("a", 1), ("b", 2)] {
        let records = app.audit(room);
        assert_eq!(records.len(), 1, "one record per room affected");
        assert_eq!(records[0]["deletedCount"], count);
        assert_eq!(records[0]["messageID"], "_all");
        assert_eq!(records[0]["filter"], done["filter"]);
        assert_eq!(records[0]["reason"], "coin spam");
    }
    assert!(app.audit("c").is_empty());
    // Sent after the clear: kept, whatever it says.
    let later = app.say(&cast.member, "a", "free-coins.example is back");
    assert!(visible(&app, &cast.member, "a").contains(&later));
}

/// A content clear answers only once the matched text is gone from the SQLite files.
#[test]
fn a_content_clear_leaves_no_matched_text_in_the_sqlite_files() {
    let app = TestApp::spawn();
    let Some(file) = app.sqlite_file().map(std::path::Path::to_path_buf) else {
        return; // a property of the embedded backend's files only
    };
    let cast = app.cast("r");
    let secret = "LEAKED-KEY-7f3a-content";
    app.say(&cast.member, "r", &format!("oops {secret}"));
    app.say(&cast.member, "r", "harmless");
    let bytes = || sqlite_text(&file);
    assert!(
        bytes().contains(secret),
        "the probe must see content that is there"
    );
    let res = app
        .delete("/rooms/r/messages/_all?contains=leaked-key-7F3A")
        .user(&cast.owner)
        .send();
    assert_eq!(res.ok()["deletedCount"], 1);
    assert!(!bytes().contains(secret));
}

/// kill -9 while a large clear by content runs: its matches are removed in its transaction,
/// so after the restart the room holds all of them or none (never some), no row is hidden
/// without being counted, and the clear sent again finishes it with the exact count.
#[test]
fn a_content_clear_killed_mid_way_is_all_or_nothing_after_restart() {
    let database = roomwarden_adapters::testing::FreshDatabase::new();
    let url = database.url.clone();
    let env = [
        ("ROOMWARDEN_DATABASE_URL", url.as_str()),
        ("ROOMWARDEN_API_KEY", API_KEY),
        ("ROOMWARDEN_CLIENT_KEY", CLIENT_KEY),
    ];
    let first = Binary::start(&env);
    let call = send_as_platform;
    for id in ["owner", "spammer"] {
        let res = call(
            &first.base,
            "POST",
            "/admin/clients",
            Some(json!({"_id": id})),
        );
        assert_eq!(res.status, 200);
    }
    let room = json!({"_id": "big", "owner": "owner", "members": ["spammer"]});
    assert_eq!(call(&first.base, "POST", "/rooms", Some(room)).status, 200);
    let rows = roomwarden_adapters::testing::Rows::open(&url);
    let now = chrono::Utc::now().timestamp_millis();
    rows.seed("big", "spammer", "wave", 20_000, now);
    rows.seed("big", "spammer", "ham", 20_000, now);
    let path = "/rooms/big/messages/_all?contains=WAVE%201";
    let base = first.base.clone();
    let clearing = std::thread::spawn(move || call(&base, "DELETE", path, None).status);
    std::thread::sleep(std::time::Duration::from_millis(30));
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &first.child.id().to_string()])
        .status();
    // `None` when the server died before answering (the client's read fails and panics).
    let answered = clearing.join().ok();
    drop(first);

    let second = Binary::start(&env);
    let total = |base: &str| {
        let page = call(base, "GET", "/rooms/big/messages/v3?limit=1", None);
        assert_eq!(page.status, 200);
        page.body["result"]["totalCount"].as_i64().expect("count")
    };
    // "wave 1", "wave 1x", "wave 1xx", "wave 1xxx", "wave 1xxxx" (x < 20,000): 11,111.
    let matching = 1 + 10 + 100 + 1_000 + 10_000;
    let stored = rows.stored("big", None);
    let records = call(&second.base, "GET", "/rooms/big/deletions", None).body["result"]["data"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(total(&second.base), stored, "no row hidden and uncounted");
    assert!(
        (stored == 40_000 && records == 0) || (stored == 40_000 - matching && records == 1),
        "all or nothing: {stored} rows, {records} records (answered {answered:?})"
    );
    let again = call(&second.base, "DELETE", path, None);
    assert_eq!(again.status, 200);
    let expected = if stored == 40_000 { matching } else { 0 };
    assert_eq!(again.body["result"]["deletedCount"], expected);
    assert_eq!(rows.stored("big", None), 40_000 - matching);
    drop(second);
}
