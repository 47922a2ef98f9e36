//! The repository contract suite: every port of the domain, against a fresh database per test.
//!
//! SQLite by default (a temporary file per test). Set `ROOMWARDEN_TEST_MYSQL_URL` to a server
//! URL (`mysql://root@127.0.0.1:3306`) and build with `--features mysql` to run the very same
//! tests against MySQL, one new database per test. `ROOMWARDEN_REQUIRE_MYSQL=1` (set by CI)
//! makes a missing URL or an unreachable server fail every test instead of falling back.

mod support;

mod audit;
mod clients;
mod deletion;
mod events;
mod messages;
mod rooms;
mod settings;
mod webhook;
