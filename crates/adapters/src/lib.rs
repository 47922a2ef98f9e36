//! # roomwarden-adapters
//!
//! Storage for Roomwarden: [`DieselStore`] implements every port of `roomwarden-domain`
//! over diesel, on embedded SQLite (always built, `sqlite://<path>`) or MySQL/MariaDB
//! (cargo feature `mysql`, `mysql://...`), through one `MultiConnection` and an r2d2 pool.
//! Migrations are embedded per backend and run by [`Database::connect`]. Background
//! [`Worker`]s finish large room clears ([`spawn_purger`]) and send deletion events
//! ([`spawn_dispatcher`]). No diesel type appears in
//! this crate's public API: failures reach callers as the domain's `StoreError`.

mod db;
mod error;
pub mod outbox;
pub mod purge;
pub mod realtime;
mod rows;
mod schema;
mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod webhook;
pub mod worker;

pub use db::{Backend, Database, PoolOptions};
pub use outbox::{DispatchOptions, OutboxCounts, OutboxState, spawn_dispatcher};
pub use purge::{PURGE_BATCH, spawn_purger};
pub use realtime::{FeedEvent, RealtimeFeed};
pub use store::DieselStore;
pub use webhook::{AddressPolicy, WebhookNotifier};
pub use worker::{Wakeup, Worker};
