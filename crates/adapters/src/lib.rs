//! # roomwarden-adapters
//!
//! Storage for Roomwarden: [`DieselStore`] implements every port of `roomwarden-domain`
//! over diesel, on embedded SQLite (always built, `sqlite://<path>`) or MySQL/MariaDB
//! (cargo feature `mysql`, `mysql://...`), through one `MultiConnection` and an r2d2 pool.
//! Migrations are embedded per backend and run by [`Database::connect`].
//!
//! The SQL of the ports and the workers is in [`store`] (the visibility rule's fragments in
//! `filter_sql`).
//! Background [`Worker`]s take a store: the purger finishes
//! large room clears ([`spawn_purger`]), the dispatcher sends deletion events
//! ([`spawn_dispatcher`]) through the [`WebhookNotifier`], the retention job removes
//! expired messages ([`spawn_retention`]), the key sweeper removes expired idempotency
//! records ([`spawn_key_sweeper`]); the store wakes the purger and the dispatcher through
//! [`Wakeups`].
//! The event's wire format is the server's: the store writes each event body with the
//! `EventEncoder` it is given ([`DieselStore::with_event_encoder`]). No
//! diesel type appears in this crate's public API: failures reach callers as the domain's
//! `StoreError`.

mod cached;
pub mod cluster;
mod db;
mod error;
mod filter_sql;
mod rows;
mod schema;
mod sqlite_writes;
pub mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod webhook;
pub mod workers;

pub use db::{Backend, DEFAULT_SYNC_WAIT, Database, PoolOptions, PoolState};
pub use sqlite_writes::{ScrubWait, deferring_wal_scrub};
pub use store::{
    Backlog, CommitListener, DieselStore, EventQueueing, FeedEvent, OutboxCounts, PURGE_BATCH,
    PurgeBacklog, RealtimeFeed,
};
pub use webhook::{AddressPolicy, WebhookNotifier};
pub use workers::{
    DeliveryOutcome, DispatchOptions, Observer, Unobserved, Wakeup, Wakeups, Worker,
    spawn_dispatcher, spawn_key_sweeper, spawn_purger, spawn_retention,
};
