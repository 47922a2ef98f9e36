//! The moderator console in a real browser: headless Chromium over WebDriver
//! (`browser.rs`), against the real binary on loopback. Every step goes through the page as
//! a moderator would; the API is used only to set the scene and to check the outcome.

use crate::browser::{Browser, Driver, WAIT};
use crate::receiver::Receiver;
use crate::support::*;
use serde_json::json;
use std::time::Duration;

const ENTER: &str = "\u{E007}";
const ESCAPE: &str = "\u{E00C}";

/// Signs in with the client key and `token` (moderators).
fn sign_in(browser: &Browser<'_>, app: &TestApp, token: &str) {
    browser.open(&format!("{}/console", app.base));
    browser.fill("#client-key", CLIENT_KEY);
    browser.fill("#token", token);
    browser.click("#sign-in-button");
    browser.find("#room-list");
}

/// Signs in with the API key (platform admins).
fn sign_in_with_api_key(browser: &Browser<'_>, app: &TestApp) {
    browser.open(&format!("{}/console", app.base));
    browser.click(r#"input[name="mode"][value="api-key"]"#);
    browser.fill("#api-key", API_KEY);
    browser.click("#sign-in-button");
    browser.find("#room-list");
}

fn open_room(browser: &Browser<'_>, room: &str) {
    browser.click(&format!(r#"#room-list [data-room-id="{room}"]"#));
    browser.wait_until(&format!("room {room} to open"), |b| {
        b.text("#room-title").contains(room)
    });
}

fn message(id: &str) -> String {
    format!(r#"#messages [data-message-id="{id}"]"#)
}

/// Waits until the confirmation dialog shows `title`.
fn confirmation(browser: &Browser<'_>, title: &str) {
    browser.wait_until(&format!("the confirmation {title:?}"), |b| {
        b.visible("#confirm") && b.text("#confirm-title") == title
    });
}

/// A reported message in the room's Reports tab (`room-reports`) or on the platform's
/// Reports screen (`platform-reports`).
fn reported(queue: &str, id: &str) -> String {
    format!(r#"#{queue}-list [data-message-id="{id}"]"#)
}

/// Reports `message` of `room` as `token`'s user.
fn report(app: &TestApp, token: &str, room: &str, message: &str, category: &str, reason: &str) {
    app.post(&format!("/rooms/{room}/messages/{message}/reports"))
        .user(token)
        .json(json!({"category": category, "reason": reason}))
        .send()
        .ok();
}

/// Chooses `value` in the select matching `css`, as a user would: the value, then `change`.
fn choose(browser: &Browser<'_>, css: &str, value: &str) {
    browser.find(css);
    browser.run(
        "const e = document.querySelector(arguments[0]); e.value = arguments[1]; \
         e.dispatchEvent(new Event('change', {bubbles: true}));",
        json!([css, value]),
    );
}

/// A page of the room's report queue in `state`, read with the API key.
fn report_queue(app: &TestApp, room: &str, state: &str) -> Vec<serde_json::Value> {
    app.get(&format!("/rooms/{room}/reports?state={state}"))
        .api_key()
        .send()
        .ok()["data"]
        .as_array()
        .expect("reported messages")
        .clone()
}

fn live(browser: &Browser<'_>) {
    browser.wait_until("the live connection", |b| b.text("#live") == "Live");
}

fn visible_ids(app: &TestApp, room: &str) -> Vec<String> {
    app.get(&format!("/rooms/{room}/messages/v3?limit=100"))
        .api_key()
        .send()
        .ok()["data"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["_id"].as_str().expect("id").to_owned())
        .collect()
}

/// Keeps the screenshot for the README when asked (`ROOMWARDEN_UPDATE_SCREENSHOT=1`), and
/// always in cargo's temporary folder for integration tests (`CARGO_TARGET_TMPDIR`, inside
/// whatever target directory is in use) for a look after a failing run.
fn keep_screenshot(png: &[u8]) {
    let target = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console.png");
    std::fs::write(&target, png)
        .unwrap_or_else(|e| panic!("screenshot written to {}: {e}", target.display()));
    if std::env::var("ROOMWARDEN_UPDATE_SCREENSHOT").is_ok_and(|v| v == "1") {
        let docs = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/console.png");
        std::fs::write(docs, png).expect("docs/console.png written");
    }
}

#[test]
fn a_moderator_signs_in_previews_and_clears_the_spam_and_reads_the_audit_record() {
    let Some(driver) = Driver::start() else {
        return;
    };
    let app = TestApp::binary(&[]);
    let manager = app.user("manager");
    let member = app.user("member");
    let spammer = app.user("spammer42");
    app.user("owner");
    app.room("lobby", "owner", &["manager"], &["member", "spammer42"]);
    app.room("elsewhere", "owner", &[], &[]);
    let kept: Vec<String> = ["Morning all", "Anyone up for lunch?"]
        .iter()
        .map(|text| app.say(&member, "lobby", text))
        .collect();
    for i in 1..=3 {
        app.say(
            &spammer,
            "lobby",
            &format!("BUY CHEAP WATCHES {i} http://spam.example"),
        );
    }

    let browser = driver.browser(1280, 800);
    sign_in(&browser, &app, &manager);
    assert!(browser.text("#who").contains("manager"));
    // Only the manager's rooms; search by name.
    browser.find(r#"#room-list [data-room-id="lobby"]"#);
    assert_eq!(browser.count(r#"#room-list [data-room-id="elsewhere"]"#), 0);
    browser.fill("#room-search", "lob");
    assert_eq!(browser.count("#room-list li"), 1);
    open_room(&browser, "lobby");
    browser.wait_until("five messages", |b| b.count("#messages li") == 5);
    assert_eq!(browser.text("#message-count"), "5 messages in this room");
    // Newest first.
    assert!(
        browser
            .text("#messages li:first-child .body")
            .starts_with("BUY CHEAP WATCHES 3")
    );

    // From one spam message to the clear of everything its sender wrote.
    browser.click("#messages li:first-child .from-sender");
    assert_eq!(
        browser
            .run(
                "return document.getElementById('clear-senders').value;",
                json!([])
            )
            .as_str(),
        Some("spammer42")
    );
    browser.fill("#clear-reason", "spam wave — déjà vu ✓");
    browser.click("#clear-preview");
    confirmation(&browser, "Permanently delete 3 messages from 1 sender?");
    assert_eq!(browser.text("#confirm-ok"), "Delete 3 messages");
    keep_screenshot(&browser.screenshot());
    // The preview deleted nothing.
    assert_eq!(visible_ids(&app, "lobby").len(), 5);
    assert!(app.audit("lobby").is_empty());

    // The first answer is lost on its way back (a dropped connection, after the server
    // cleared): "Try again" resends with the same Idempotency-Key and gets that answer
    // again, not a second clear (which would have found nothing and said so).
    browser.run(
        "const real = window.fetch; let dropped = false; \
         window.fetch = async (url, options) => { \
           const res = await real(url, options); \
           if (!dropped && options && options.method === 'DELETE' && !String(url).includes('dryRun')) { \
             dropped = true; throw new TypeError('connection reset'); } \
           return res; };",
        json!([]),
    );
    browser.click("#confirm-ok");
    browser.wait_until("the lost answer", |b| b.text("#confirm-ok") == "Try again");
    assert!(
        browser.text("#confirm-error").contains("connection reset"),
        "the error is shown"
    );
    browser.click("#confirm-ok");
    browser.wait_until("the clear to finish", |b| {
        b.text("#status") == "Deleted 3 messages."
    });
    browser.wait_until("two messages left", |b| b.count("#messages li") == 2);
    let mut left = visible_ids(&app, "lobby");
    left.reverse();
    assert_eq!(left, kept);

    browser.click("#tab-audit");
    browser.wait_until("the audit record", |b| b.count("#audit-rows tr") == 1);
    let cells: Vec<String> = (2..=6)
        .map(|n| browser.text(&format!("#audit-rows tr td:nth-child({n})")))
        .collect();
    assert_eq!(
        cells[..4],
        ["manager", "Filtered clear", "3", "spam wave — déjà vu ✓"]
    );
    assert!(cells[4].contains("senders spammer42"), "{cells:?}");
    let records = app.audit("lobby");
    assert_eq!(records.len(), 1, "one confirmation, one deletion");
    assert_eq!(records[0]["reason"], "spam wave — déjà vu ✓");
    // Pinned to the preview: the senders, and everything up to the preview's moment.
    assert_eq!(records[0]["filter"]["sender"], json!(["spammer42"]));
    assert!(records[0]["filter"]["before"].is_string());
    // Readable at 1280×800: nothing wider than the window.
    let overflow = browser.run(
        "return document.documentElement.scrollWidth - window.innerWidth;",
        json!([]),
    );
    assert!(
        overflow.as_i64() <= Some(0),
        "horizontal overflow {overflow}"
    );
}

#[test]
fn deletions_vanish_live_in_a_second_console_and_new_messages_appear() {
    let Some(driver) = Driver::start() else {
        return;
    };
    let app = TestApp::binary(&[]);
    let owner = app.user("owner");
    let manager = app.user("manager");
    let member = app.user("member");
    let other = app.user("other");
    app.room("lobby", "owner", &["manager"], &["member", "other"]);
    let ids: Vec<String> = (0..4)
        .map(|i| {
            let token = if i % 2 == 0 { &member } else { &other };
            app.say(token, "lobby", &format!("message {i}"))
        })
        .collect();

    let first = driver.browser(1280, 800);
    let second = driver.browser(1280, 800);
    sign_in(&first, &app, &owner);
    sign_in(&second, &app, &manager);
    for browser in [&first, &second] {
        open_room(browser, "lobby");
        browser.wait_until("four messages", |b| b.count("#messages li") == 4);
        live(browser);
    }

    // Escape cancels a confirmation and deletes nothing.
    first.click(&format!("{} .delete-one", message(&ids[0])));
    confirmation(&first, "Permanently delete 1 message from member?");
    first.keys(ESCAPE);
    first.wait_until("the dialog to close", |b| !b.visible("#confirm"));
    assert_eq!(visible_ids(&app, "lobby").len(), 4);

    // One message, with a reason typed and confirmed from the keyboard. A double click on
    // Delete opens one confirmation; a double click on its button deletes once. Its answer
    // is held back until the socket's frame has taken the message off the list, so the
    // frame lands while the dialog is still open (focus inside it).
    first.run(
        "const gone = arguments[0]; const real = window.fetch; \
         window.fetch = async (url, options) => { \
           const res = await real(url, options); \
           if (options && options.method === 'DELETE' && !String(url).includes('dryRun')) { \
             while (document.querySelector(gone)) { await new Promise((r) => setTimeout(r, 20)); } } \
           return res; };",
        json!([message(&ids[0])]),
    );
    first.run(
        "const b = document.querySelector(arguments[0]); b.click(); b.click();",
        json!([format!("{} .delete-one", message(&ids[0]))]),
    );
    confirmation(&first, "Permanently delete 1 message from member?");
    first.fill("#confirm-reason", "abusive");
    first.keys(ENTER);
    first.run("document.getElementById('confirm-ok').click();", json!([]));
    first.wait_until("the deletion", |b| b.count(&message(&ids[0])) == 0);
    first.wait_until("the dialog to close", |b| !b.visible("#confirm"));
    // Keyboard focus moves to the neighbouring message (the oldest went: the one before it).
    let focused = |b: &Browser<'_>| {
        b.run(
            "const li = document.activeElement.closest('#messages li'); \
             return li ? li.dataset.messageId : null;",
            json!([]),
        )
    };
    first.wait_until("focus on the neighbouring message", |b| {
        focused(b) == json!(ids[1])
    });
    second.wait_until("the deletion to reach the second console", |b| {
        b.count(&message(&ids[0])) == 0
    });
    let records = app.audit("lobby");
    assert_eq!(records.len(), 1, "deleted once");
    assert_eq!(records[0]["reason"], "abusive");

    // A new message appears in both, without reload.
    let fresh = app.say(&member, "lobby", "hello again");
    for browser in [&first, &second] {
        browser.wait_until("the new message", |b| b.count(&message(&fresh)) == 1);
    }

    // Several selected in the second console, gone from the first.
    second.click(&format!("{} input[type=checkbox]", message(&ids[1])));
    second.click(&format!("{} input[type=checkbox]", message(&ids[2])));
    assert_eq!(second.text("#delete-selected"), "Delete selected (2)");
    second.click("#delete-selected");
    confirmation(&second, "Permanently delete 2 messages from 2 senders?");
    second.click("#confirm-ok");
    for browser in [&second, &first] {
        browser.wait_until("the bulk deletion", |b| {
            b.count(&message(&ids[1])) == 0 && b.count(&message(&ids[2])) == 0
        });
        // 4 − 1 + 1 − 2, each deletion counted once (the deleting console hears its own).
        assert_eq!(browser.text("#message-count"), "2 messages in this room");
    }
    let records = app.audit("lobby");
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["messageID"], "_bulk");
    assert_eq!(records[0]["deletedBy"], "manager");
    let mut left = visible_ids(&app, "lobby");
    left.sort();
    let mut expected = vec![ids[3].clone(), fresh];
    expected.sort();
    assert_eq!(left, expected);
}

#[test]
fn a_platform_admin_purges_a_user_and_redelivers_an_event() {
    let Some(driver) = Driver::start() else {
        return;
    };
    let receiver = Receiver::start(&[]);
    let app = TestApp::binary(&[("ROOMWARDEN_WEBHOOK_ALLOW_PRIVATE", "true")]);
    let member = app.user("member");
    let spammer = app.user("spammer");
    app.user("owner");
    for room in ["north", "south"] {
        app.room(room, "owner", &[], &["member", "spammer"]);
        app.put(&format!("/rooms/{room}"))
            .api_key()
            .json(json!({"webhook": receiver.url}))
            .send()
            .ok();
    }
    let kept = app.say(&member, "north", "legit");
    for i in 0..2 {
        app.say(&spammer, "north", &format!("spam {i}"));
    }
    for i in 0..3 {
        app.say(&spammer, "south", &format!("spam {i}"));
    }

    let browser = driver.browser(1280, 800);
    sign_in_with_api_key(&browser, &app);
    assert!(browser.text("#who").contains("API key"));
    browser.click("#nav-purge");
    browser.fill("#purge-client", "spammer");
    browser.fill("#purge-reason", "throwaway account");
    browser.click("#purge-preview");
    confirmation(
        &browser,
        "Permanently delete 5 messages of spammer from 2 rooms?",
    );
    assert_eq!(browser.count("#confirm-detail tbody tr"), 2);
    let table = browser.text("#confirm-detail tbody");
    assert!(
        table.contains("north2") && table.contains("south3"),
        "{table}"
    );
    assert_eq!(
        visible_ids(&app, "south").len(),
        3,
        "the preview deletes nothing"
    );
    browser.click("#confirm-ok");
    browser.wait_until("the purge", |b| {
        b.text("#status") == "Deleted 5 messages of spammer from 2 rooms."
    });
    assert_eq!(visible_ids(&app, "north"), vec![kept]);
    assert!(visible_ids(&app, "south").is_empty());

    // Both rooms' events are delivered; one is sent again from the deliveries screen.
    let delivered = receiver.wait_for(2, WAIT);
    assert_eq!(delivered.len(), 2, "both events delivered");
    browser.click("#nav-deliveries");
    browser.set_value("#deliveries-state", "delivered");
    browser.wait_until("two delivered events", |b| {
        b.click("#deliveries-show");
        std::thread::sleep(Duration::from_millis(200));
        b.count("#delivery-rows tr") == 2
    });
    let id = browser
        .run(
            "return document.querySelector('#delivery-rows tr').dataset.eventId;",
            json!([]),
        )
        .as_str()
        .expect("event ID")
        .to_owned();
    browser.click(&format!(
        r#"#delivery-rows tr[data-event-id="{id}"] button"#
    ));
    browser.wait_until("the redelivery's answer", |b| {
        b.text("#status") == format!("Event {id}: Event queued for delivery.")
    });
    let again = receiver.wait_for(3, WAIT);
    assert_eq!(again.len(), 3, "redelivered");
    assert_eq!(again[2].json()["id"], id.as_str(), "the same event ID");

    // A spam wave by another account, cleared by its text across rooms after a preview
    // that shows the rooms and the newest matches.
    let wave = app.say(&member, "south", "deal at FREE.example/now");
    let ham = app.say(&member, "south", "a free example, not spam");
    browser.click("#nav-purge");
    browser.fill("#wave-contains", "free.EXAMPLE/");
    browser.fill("#wave-reason", "spam wave");
    browser.click("#wave-preview");
    confirmation(
        &browser,
        "Permanently delete 1 message containing “free.EXAMPLE/” from 1 room?",
    );
    assert!(browser.text("#confirm-detail tbody").contains("south1"));
    assert_eq!(
        browser.text("#clear-sample li"),
        "member: deal at FREE.example/now"
    );
    assert!(
        visible_ids(&app, "south").contains(&wave),
        "the preview deletes nothing"
    );
    browser.click("#confirm-ok");
    browser.wait_until("the clear by content", |b| {
        b.text("#status") == "Deleted 1 message from 1 room."
    });
    assert_eq!(visible_ids(&app, "south"), vec![ham]);
    let record = &app.audit("south")[0];
    assert_eq!(record["filter"]["contains"], json!(["free.EXAMPLE/"]));
    assert_eq!(record["reason"], "spam wave");
}

#[test]
fn a_bad_or_revoked_token_goes_back_to_sign_in_and_a_phone_fits() {
    let Some(driver) = Driver::start() else {
        return;
    };
    let app = TestApp::binary(&[]);
    let owner = app.user("owner");
    // A comma is allowed in an ID: the senders field must not split on it.
    let odd = app.user("spam,bot");
    app.room("lobby", "owner", &[], &["spam,bot"]);
    app.say(&odd, "lobby", "odd one");
    let id = app.say(&owner, "lobby", "hello");
    let mut newest = String::new();
    for i in 0..60 {
        newest = app.say(&owner, "lobby", &format!("later {i}"));
    }

    let browser = driver.browser(390, 844);
    browser.open(&format!("{}/console", app.base));
    browser.fill("#client-key", CLIENT_KEY);
    browser.fill("#token", "not-a-token");
    browser.keys(ENTER);
    browser.wait_until("the error", |b| {
        b.text("#notice-text") == "Unauthorized: Invalid or expired token"
    });
    assert!(browser.visible("#sign-in"));

    sign_in(&browser, &app, &owner);
    let url = browser.run("return location.href;", json!([])).to_string();
    assert!(!url.contains(&owner), "no token in the URL");
    let stored = browser
        .run("return sessionStorage.length;", json!([]))
        .as_u64();
    assert_eq!(stored, Some(1), "the credentials live in session storage");
    open_room(&browser, "lobby");
    // Scrolling to the end of the list brings older messages (a page is 50).
    browser.wait_until("the first page", |b| b.count("#messages li") == 50);
    browser.find(&format!("{} .delete-one", message(&newest)));
    browser.run(
        "document.getElementById('older-messages').scrollIntoView();",
        json!([]),
    );
    browser.wait_until("the older messages", |b| b.count("#messages li") == 62);
    browser.find(&format!("{} .delete-one", message(&id)));
    let overflow = browser.run(
        "return document.documentElement.scrollWidth - window.innerWidth;",
        json!([]),
    );
    assert!(
        overflow.as_i64() <= Some(0),
        "horizontal overflow {overflow}"
    );
    live(&browser);
    browser.click("#tab-clear");
    browser.fill("#clear-senders", "spam,bot");
    browser.click("#clear-preview");
    confirmation(&browser, "Permanently delete 1 message from 1 sender?");
    browser.click("#confirm-cancel");
    browser.wait_until("the dialog to close", |b| !b.visible("#confirm"));
    // By content: the preview shows what the text catches before anything is deleted.
    browser.fill("#clear-senders", "");
    browser.fill("#clear-contains", "ODD ON");
    browser.click("#clear-preview");
    confirmation(
        &browser,
        "Permanently delete 1 message containing “ODD ON”?",
    );
    assert_eq!(browser.count("#clear-sample li"), 1);
    assert_eq!(browser.text("#clear-sample li"), "spam,bot: odd one");
    browser.click("#confirm-cancel");
    browser.wait_until("the dialog to close", |b| !b.visible("#confirm"));
    browser.fill("#clear-contains", "");

    // A 401 from any call signs out too: here the tab's stored token is made wrong, and
    // the next call (opening the room) is refused.
    browser.run(
        "const c = JSON.parse(sessionStorage.getItem('roomwarden.console.credentials')); \
         c.token = 'not-a-token'; \
         sessionStorage.setItem('roomwarden.console.credentials', JSON.stringify(c));",
        json!([]),
    );
    browser.click(r#"#room-list [data-room-id="lobby"]"#);
    browser.wait_until("the sign-in screen after a 401", |b| b.visible("#sign-in"));
    assert_eq!(
        browser.text("#notice-text"),
        "Signed out: Unauthorized: Invalid or expired token"
    );
    sign_in(&browser, &app, &owner);
    live(&browser);

    // Revoking the token ends the session: back to sign in, credentials forgotten.
    app.delete("/admin/clients/owner/token")
        .api_key()
        .send()
        .ok();
    browser.wait_until("the sign-in screen", |b| b.visible("#sign-in"));
    assert!(
        browser
            .text("#notice-text")
            .contains("token revoked or expired")
    );
    assert_eq!(
        browser
            .run("return sessionStorage.length;", json!([]))
            .as_u64(),
        Some(0)
    );
}

#[test]
fn a_room_owner_deletes_and_dismisses_reported_messages_and_sees_new_reports_live() {
    let Some(driver) = Driver::start() else {
        return;
    };
    let app = TestApp::binary(&[]);
    let owner = app.user("owner");
    let member = app.user("member");
    let other = app.user("other");
    let spammer = app.user("spammer");
    app.room("lobby", "owner", &[], &["member", "other", "spammer"]);
    let spam = app.say(&spammer, "lobby", "BUY NOW at bit.ly/x");
    let dull = app.say(&member, "lobby", "this room is dull");
    report(&app, &member, "lobby", &spam, "spam", "link farm");
    report(&app, &other, "lobby", &spam, "sensitive", "posts my number");
    report(&app, &other, "lobby", &dull, "other", "");

    // A phone: the queue fits its width too.
    let browser = driver.browser(390, 844);
    sign_in(&browser, &app, &owner);
    open_room(&browser, "lobby");
    live(&browser);
    browser.click("#tab-reports");
    browser.wait_until("two reported messages", |b| {
        b.count("#room-reports-list > li") == 2
    });
    // The most reported first: its content, sender, count, categories and reasons.
    let item = reported("room-reports", &spam);
    assert_eq!(
        browser
            .run(
                "return document.querySelector('#room-reports-list > li').dataset.messageId;",
                json!([])
            )
            .as_str(),
        Some(spam.as_str())
    );
    assert_eq!(
        browser.text(&format!("{item} .body")),
        "BUY NOW at bit.ly/x"
    );
    assert!(browser.text(&format!("{item} .meta")).contains("spammer"));
    assert_eq!(browser.text(&format!("{item} .report-count")), "2 reports");
    assert_eq!(
        browser.text(&format!("{item} .report-categories")),
        "spam 1, sensitive 1"
    );
    let overflow = browser.run(
        "return document.documentElement.scrollWidth - window.innerWidth;",
        json!([]),
    );
    assert!(
        overflow.as_i64() <= Some(0),
        "horizontal overflow {overflow}"
    );
    let reasons = browser.text(&format!("{item} tbody"));
    assert!(
        reasons.contains("memberspamlink farm")
            && reasons.contains("othersensitiveposts my number"),
        "{reasons}"
    );

    // Delete: the dry run's confirmation, then the message and its open reports are gone.
    browser.click(&format!("{item} .report-delete"));
    confirmation(&browser, "Permanently delete 1 message from spammer?");
    assert!(
        visible_ids(&app, "lobby").contains(&spam),
        "the preview deletes nothing"
    );
    browser.fill("#confirm-reason", "link spam");
    browser.click("#confirm-ok");
    browser.wait_until("the deletion", |b| {
        b.text("#status") == "Deleted 1 message."
    });
    browser.wait_until("the item to leave the open queue", |b| {
        b.count(&item) == 0 && b.count("#room-reports-list > li") == 1
    });
    // Keyboard focus moves to the item now in the deleted one's place.
    browser.wait_until("focus on the next reported message", |b| {
        b.run(
            "const li = document.activeElement.closest('#room-reports-list li'); \
             return li ? li.dataset.messageId : null;",
            json!([]),
        ) == json!(dull)
    });
    assert!(!visible_ids(&app, "lobby").contains(&spam));
    let record = app.audit("lobby")[0].clone();
    assert_eq!(record["reason"], "link spam");
    assert_eq!(record["reportCount"], 2, "the deletion closed both reports");

    // Dismiss: the message stays, the open queue is empty.
    let dismissed = reported("room-reports", &dull);
    browser.click(&format!("{dismissed} .report-dismiss"));
    confirmation(&browser, "Dismiss 1 report of the message from member?");
    browser.fill("#confirm-reason", "harmless");
    browser.click("#confirm-ok");
    browser.wait_until("the dismissal", |b| {
        b.text("#status") == "Dismissed 1 report."
    });
    browser.wait_until("an empty open queue", |b| {
        b.count("#room-reports-list > li") == 0 && b.visible("#room-reports-empty")
    });
    assert_eq!(browser.text("#room-reports-empty"), "No open reports.");
    assert!(
        visible_ids(&app, "lobby").contains(&dull),
        "a dismissed message stays"
    );
    assert!(report_queue(&app, "lobby", "open").is_empty());

    // The deleted state lists the deleted message: no content, its reports closed by the
    // deletion's audit record, no actions. The dismissed state has the other, with why.
    choose(&browser, "#room-reports-state", "deleted");
    browser.wait_until("the deleted reports", |b| b.count(&item) == 1);
    assert_eq!(browser.text(&format!("{item} .body")), "(deleted)");
    assert_eq!(browser.text(&format!("{item} .report-count")), "2 reports");
    let closed = browser.text(&format!("{item} tbody"));
    assert!(
        closed.contains(record["_id"].as_str().expect("record ID")),
        "{closed}"
    );
    assert_eq!(browser.count(&format!("{item} button")), 0);
    choose(&browser, "#room-reports-state", "dismissed");
    browser.wait_until("the dismissed report", |b| {
        b.count(&dismissed) == 1 && b.text(&format!("{dismissed} tbody")).contains("harmless")
    });
    assert_eq!(browser.count(&item), 0);

    // Live: new reports appear in the open tab without a reload of the page, and a
    // deletion (which closes reports) takes its message off.
    choose(&browser, "#room-reports-state", "open");
    browser.wait_until("the empty open queue", |b| b.visible("#room-reports-empty"));
    browser.run("window.sameConsole = true;", json!([]));
    let rude = app.say(&spammer, "lobby", "you are all idiots");
    report(&app, &member, "lobby", &rude, "abuse", "insults");
    let fresh = reported("room-reports", &rude);
    browser.wait_until("the new report, live", |b| b.count(&fresh) == 1);
    assert!(browser.text(&format!("{fresh} tbody")).contains("insults"));
    report(&app, &member, "lobby", &dull, "spam", "again");
    browser.wait_until("a second new report, live", |b| {
        b.count("#room-reports-list > li") == 2
    });
    app.delete(&format!("/rooms/lobby/messages/{dull}"))
        .api_key()
        .send()
        .ok();
    browser.wait_until("the deleted message to leave the queue, live", |b| {
        b.count(&dismissed) == 0 && b.count(&fresh) == 1
    });
    assert_eq!(
        browser.run("return window.sameConsole === true;", json!([])),
        json!(true),
        "no page reload"
    );

    // "Delete all from this sender…": the clear form with the sender, previewed first;
    // the clear closes the report too.
    browser.click(&format!("{fresh} .report-from-sender"));
    browser.wait_until("the clear tab", |b| b.visible("#panel-clear"));
    assert_eq!(
        browser
            .run(
                "return document.getElementById('clear-senders').value;",
                json!([])
            )
            .as_str(),
        Some("spammer")
    );
    browser.click("#clear-preview");
    confirmation(&browser, "Permanently delete 1 message from 1 sender?");
    browser.click("#confirm-ok");
    browser.wait_until("the clear", |b| b.text("#status") == "Deleted 1 message.");
    browser.click("#tab-reports");
    browser.wait_until("an empty open queue again", |b| {
        b.count("#room-reports-list > li") == 0 && b.visible("#room-reports-empty")
    });
    assert!(report_queue(&app, "lobby", "open").is_empty());
}

#[test]
fn the_platform_reports_screen_lists_every_room_s_reports_and_acts_in_each_room() {
    let Some(driver) = Driver::start() else {
        return;
    };
    let app = TestApp::binary(&[]);
    let member = app.user("member");
    let spammer = app.user("spammer");
    app.user("owner");
    for room in ["north", "south"] {
        app.room(room, "owner", &[], &["member", "spammer"]);
    }
    let pills = app.say(&spammer, "north", "cheap pills");
    let watches = app.say(&spammer, "south", "cheap watches");
    report(&app, &member, "north", &pills, "spam", "pills again");
    report(&app, &member, "south", &watches, "spam", "watches again");

    let browser = driver.browser(1280, 800);
    sign_in_with_api_key(&browser, &app);
    browser.click("#nav-reports");
    browser.wait_until("both rooms' reports", |b| {
        b.count("#platform-reports-list > li") == 2
    });
    let north = reported("platform-reports", &pills);
    let south = reported("platform-reports", &watches);
    assert_eq!(browser.text(&format!("{north} .report-room")), "north");
    assert_eq!(browser.text(&format!("{south} .report-room")), "south");
    assert!(
        browser
            .text(&format!("{south} tbody"))
            .contains("watches again")
    );
    // One room only, then every room again.
    browser.fill("#platform-reports-room", "south");
    browser.click("#platform-reports-show");
    browser.wait_until("south's reports only", |b| {
        b.count("#platform-reports-list > li") == 1 && b.count(&south) == 1
    });
    browser.fill("#platform-reports-room", "");
    browser.click("#platform-reports-show");
    browser.wait_until("both rooms' reports again", |b| {
        b.count("#platform-reports-list > li") == 2
    });

    // Dismiss, in the item's room.
    browser.click(&format!("{north} .report-dismiss"));
    confirmation(&browser, "Dismiss 1 report of the message from spammer?");
    browser.fill("#confirm-reason", "a pharmacy ad, allowed here");
    browser.click("#confirm-ok");
    browser.wait_until("the dismissal", |b| {
        b.text("#status") == "Dismissed 1 report."
    });
    browser.wait_until("the dismissed item to leave", |b| {
        b.count(&north) == 0 && b.count("#platform-reports-list > li") == 1
    });
    let closed = report_queue(&app, "north", "dismissed");
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0]["reports"][0]["dismissedBy"], "_platform");
    assert_eq!(
        closed[0]["reports"][0]["dismissReason"],
        "a pharmacy ad, allowed here"
    );
    assert!(visible_ids(&app, "north").contains(&pills));

    // A new report in any room appears without a reload.
    let more = app.say(&spammer, "north", "cheaper pills");
    report(&app, &member, "north", &more, "abuse", "pushy");
    let fresh = reported("platform-reports", &more);
    browser.wait_until("the new report, live", |b| b.count(&fresh) == 1);

    // Delete, in the item's room, after its dry run.
    browser.click(&format!("{south} .report-delete"));
    confirmation(&browser, "Permanently delete 1 message from spammer?");
    browser.click("#confirm-ok");
    browser.wait_until("the deletion", |b| {
        b.text("#status") == "Deleted 1 message."
    });
    browser.wait_until("the deleted item to leave", |b| b.count(&south) == 0);
    assert!(visible_ids(&app, "south").is_empty());
    assert_eq!(app.audit("south")[0]["reportCount"], 1);

    // "Delete all from this sender…" opens the item's room at its clear form.
    browser.click(&format!("{fresh} .report-from-sender"));
    browser.wait_until("the room's clear form", |b| {
        b.text("#room-title").contains("north") && b.visible("#panel-clear")
    });
    assert_eq!(
        browser
            .run(
                "return document.getElementById('clear-senders').value;",
                json!([])
            )
            .as_str(),
        Some("spammer")
    );
}

#[test]
fn the_console_is_served_from_the_binary_with_a_strict_policy() {
    let app = TestApp::spawn();
    let agent = agent();
    for (path, kind) in [
        ("/console", "text/html"),
        ("/console/", "text/html"),
        ("/console/app.js", "text/javascript"),
        ("/console/app.css", "text/css"),
    ] {
        let mut res = agent
            .get(&format!("{}{path}", app.base))
            .call()
            .expect("answer");
        assert_eq!(res.status().as_u16(), 200, "{path}");
        let header = |name: &str| {
            res.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert!(header("content-type").starts_with(kind), "{path}");
        assert_eq!(
            header("content-security-policy"),
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
             img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            "{path}"
        );
        assert_eq!(header("x-content-type-options"), "nosniff");
        let body = res.body_mut().read_to_string().expect("body");
        assert!(
            !body.contains("http://") && !body.contains("https://"),
            "{path} loads nothing from elsewhere"
        );
    }
    // Every file of the console is served (a module left out would break the page).
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/console");
    for entry in std::fs::read_dir(dir).expect("console files") {
        let name = entry.expect("entry").file_name();
        let name = name.to_str().expect("UTF-8 name");
        let served = if name == "index.html" {
            "/console".to_owned()
        } else {
            format!("/console/{name}")
        };
        let mut res = agent
            .get(&format!("{}{served}", app.base))
            .call()
            .expect("answer");
        assert_eq!(res.status().as_u16(), 200, "{served}");
        let body = res.body_mut().read_to_string().expect("body");
        let file = std::fs::read_to_string(format!("{dir}/{name}")).expect("file");
        assert_eq!(body, file, "{served} is the file as built");
    }
    // Anything else under /console is an unknown route, enveloped.
    app.get("/console/secrets.txt").send().err(404, "NOT_FOUND");
}
