//! [`DieselStore`]: the domain's storage ports over a [`Database`].

//!
//! All SQL of the crate lives here: the ports' methods, the outbox ([`outbox`]), the
//! background purge ([`purge`]) and the real-time feed ([`feed`]). The workers of
//! [`crate::workers`] take a store; the store knows nothing of them and reports work it
//! leaves behind to a [`CommitListener`].

mod audit;
mod clients;
pub mod feed;
mod messages;
pub mod outbox;
pub mod purge;
mod rooms;
mod settings;

pub use feed::{FeedEvent, RealtimeFeed};
pub use outbox::{ClaimedEvent, OutboxCounts, OutboxState};
pub use purge::PURGE_BATCH;

use crate::db::{Database, DbConnection};
use diesel::QueryResult;
use roomwarden_domain::ports::StoreResult;
use std::sync::Arc;

/// Background work a commit left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backlog {
    /// A deletion's event is in the outbox.
    Event,
    /// A clear left rows for the purge ([`DieselStore::purge_pending`]).
    Purge,
}

/// Told after a commit that leaves background work, so that whoever does it can start at
/// once instead of at its next poll (the workers' [`crate::workers::Wakeups`]).
pub trait CommitListener: Send + Sync + std::fmt::Debug {
    /// Called after the commit, outside the transaction; must not block.
    fn committed(&self, backlog: Backlog);
}

/// The listener of a store nobody listens to: workers find the work at their next poll.
#[derive(Debug)]
struct Unheard;

impl CommitListener for Unheard {
    fn committed(&self, _: Backlog) {}
}

/// Implements every storage port of the domain over one database.
#[derive(Clone, Debug)]
pub struct DieselStore {
    db: Database,
    listener: Arc<dyn CommitListener>,
    purge_batch: usize,
}

impl DieselStore {
    /// A store over `db`. Large room clears are finished by the purger
    /// ([`crate::workers::spawn_purger`]), events sent by the dispatcher
    /// ([`crate::workers::spawn_dispatcher`]).
    #[must_use]
    pub fn new(db: Database) -> Self {
        Self {
            db,
            listener: Arc::new(Unheard),
            purge_batch: PURGE_BATCH,
        }
    }

    /// Tells `listener` about the background work each commit leaves.
    #[must_use]
    pub fn with_listener(mut self, listener: Arc<dyn CommitListener>) -> Self {
        self.listener = listener;
        self
    }

    /// Sets the purge batch size: clears of at most this many messages remove their rows
    /// in their own transaction, larger ones leave them to the purger, which removes this
    /// many per statement. Default [`PURGE_BATCH`].
    #[must_use]
    pub fn with_purge_batch(mut self, batch: usize) -> Self {
        self.purge_batch = batch.max(1);
        self
    }

    /// The purge batch size.
    #[must_use]
    pub fn purge_batch(&self) -> usize {
        self.purge_batch
    }

    /// The database behind the store.
    #[must_use]
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Runs `f` on a pooled connection, classifying failures.
    pub(crate) fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut DbConnection) -> QueryResult<T>,
    ) -> StoreResult<T> {
        let mut conn = self.db.conn()?;
        f(&mut conn).map_err(crate::error::query)
    }
}

/// Converts a stored count to the domain's `u64` result.
pub(crate) fn unsigned(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}
