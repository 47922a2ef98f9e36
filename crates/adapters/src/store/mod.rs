//! [`DieselStore`]: the domain's storage ports over a [`Database`].

mod audit;
mod clients;
mod messages;
mod rooms;
mod settings;

use crate::db::{Database, DbConnection};
use crate::worker::Wakeup;
use diesel::QueryResult;
use roomwarden_domain::ports::StoreResult;

/// Implements every storage port of the domain over one database.
#[derive(Clone, Debug)]
pub struct DieselStore {
    db: Database,
    purge: Wakeup,
    outbox: Wakeup,
    purge_batch: usize,
}

impl DieselStore {
    /// A store over `db`. Large room clears are finished by the purger
    /// ([`crate::purge::spawn_purger`]), events sent by the dispatcher
    /// ([`crate::outbox::spawn_dispatcher`]).
    #[must_use]
    pub fn new(db: Database) -> Self {
        Self {
            db,
            purge: Wakeup::default(),
            outbox: Wakeup::default(),
            purge_batch: crate::purge::PURGE_BATCH,
        }
    }

    /// Sets the purge batch size: clears of at most this many messages remove their rows
    /// in their own transaction, larger ones leave them to the purger, which removes this
    /// many per statement. Default [`crate::purge::PURGE_BATCH`].
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

    /// Woken after a clear that left rows for the purger.
    #[must_use]
    pub fn purge_wakeup(&self) -> Wakeup {
        self.purge.clone()
    }

    /// Woken after every committed deletion (its event is in the outbox).
    #[must_use]
    pub fn outbox_wakeup(&self) -> Wakeup {
        self.outbox.clone()
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
