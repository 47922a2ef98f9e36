//! Black-box HTTP tests: the real application on a free port (port 0), driven over HTTP.
//!
//! SQLite by default; with `ROOMWARDEN_TEST_MYSQL_URL` (and `--features mysql`) every test
//! gets a fresh MySQL database instead. `ROOMWARDEN_REQUIRE_MYSQL=1` makes a missing URL fail.

mod browser;
mod document;
mod receiver;
mod support;

mod admin_events;
mod audit_chain;
mod auth;
mod clients;
mod cluster;
mod console;
mod content;
mod deletion;
mod envelope;
mod events;
mod failures;
mod hardening;
mod idempotency;
mod messages;
mod metrics;
mod moderation;
mod protocol;
mod reports;
mod room_changes;
mod rooms;
mod socket;
