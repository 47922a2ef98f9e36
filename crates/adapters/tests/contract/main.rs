//! The repository contract suite against a fresh database per test: the domain's published
//! storage contract (`roomwarden_domain::testkit`, module `domain`), then what only the
//! diesel store promises (background purge and its backlog, outbox, webhook delivery,
//! SQLite's files, idempotency records).
//!
//! SQLite by default (a temporary file per test). Set `ROOMWARDEN_TEST_MYSQL_URL` to a server
//! URL (`mysql://root@127.0.0.1:3306`) and build with `--features mysql` to run the very same
//! tests against MySQL, one new database per test. `ROOMWARDEN_REQUIRE_MYSQL=1` (set by CI)
//! makes a missing URL or an unreachable server fail every test instead of falling back.

mod support;

mod backlog;
mod deletion;
mod event_log;
mod events;
mod idempotency;
mod moderation;
mod session;
mod settings;
mod transient;
mod webhook;

/// Every case of the published storage contract, against the diesel store.
mod domain {
    roomwarden_domain::store_contract!(crate::support::store());
}

/// Every case of the idempotency port's contract, against the diesel store.
mod domain_idempotency {
    roomwarden_domain::idempotency_contract!(crate::support::store());
}
