//! [`DieselStore`]: the domain's storage ports over a [`Database`].
//!
//! The SQL of the ports and the workers lives here (the visibility rule's fragments in
//! `crate::filter_sql`): the ports' methods (idempotency keys in `idempotency`,
//! the operators' view of the outbox in `event_log`), the outbox ([`outbox`]), the
//! background purge ([`purge`]) and the real-time feed ([`feed`]). The workers of
//! [`crate::workers`] take a store; the store knows nothing of them and reports work it
//! leaves behind to a [`CommitListener`].

mod audit;
mod chain;
mod clients;
mod deletion;
mod event_log;
pub mod feed;
mod idempotency;
mod messages;
pub mod outbox;
pub mod purge;
mod room_lock;
mod rooms;
mod settings;
mod visibility;

pub use feed::{FeedEvent, RealtimeFeed};
pub use outbox::{ClaimedEvent, OutboxCounts};
pub use purge::{PURGE_BATCH, PurgeBacklog};

use crate::db::{Database, DbConnection, PooledConn};
use diesel::QueryResult;
use roomwarden_domain::events::{EventEncoder, RecordBody};
use roomwarden_domain::model::RetentionDays;
use roomwarden_domain::ports::StoreResult;
use roomwarden_domain::time::{Clock, SystemClock};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Background work a commit left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backlog {
    /// A deletion's event is in the outbox, or an event was queued again (redelivery).
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
    /// Which deletions' events the dispatcher is to send.
    queueing: EventQueueing,
    /// Retention of rooms without their own (`ROOMWARDEN_RETENTION_DAYS`).
    default_retention: Option<RetentionDays>,
    /// Writes each deletion's event body into the outbox.
    events: Arc<dyn EventEncoder>,
    /// The time its reads are judged at (retention cutoffs) and its workers run at.
    clock: Arc<dyn Clock>,
    /// The connection of a [`DieselStore::session`]; `None`: one from the pool per call.
    held: Option<Held>,
}

/// Which deletion events are queued for the dispatcher. Every event is written to the
/// outbox (the real-time feed reads it there); one that is not queued is `skipped` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EventQueueing {
    /// Every event: a global webhook receives the events of rooms without their own.
    #[default]
    All,
    /// Only the events of rooms that have a webhook when the deletion commits (no global
    /// webhook is configured), so rooms without one never make the dispatcher work.
    RoomsWithWebhook,
}

/// A session's connection, shared by the clones of its store.
#[derive(Clone)]
struct Held(Arc<Mutex<PooledConn>>);

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Held(connection)")
    }
}

/// The connection one port call runs on: its own from the pool, or its session's.
enum Conn<'a> {
    Pooled(PooledConn),
    Held(MutexGuard<'a, PooledConn>),
}

impl std::ops::Deref for Conn<'_> {
    type Target = DbConnection;
    fn deref(&self) -> &DbConnection {
        match self {
            Self::Pooled(c) => c,
            Self::Held(c) => c,
        }
    }
}

impl Conn<'_> {
    /// Swaps the connection for a fresh one from the pool (the old one, broken, is
    /// discarded when it goes back).
    fn replace(&mut self, db: &Database) -> StoreResult<()> {
        let fresh = db.conn()?;
        match self {
            Self::Pooled(c) => *c = fresh,
            Self::Held(c) => **c = fresh,
        }
        Ok(())
    }
}

impl std::ops::DerefMut for Conn<'_> {
    fn deref_mut(&mut self) -> &mut DbConnection {
        match self {
            Self::Pooled(c) => c,
            Self::Held(c) => c,
        }
    }
}

impl DieselStore {
    /// A store over `db`, whose outbox keeps each event's body as [`RecordBody`] writes it
    /// until [`Self::with_event_encoder`] sets the server's format. Large room clears are finished by the purger
    /// ([`crate::workers::spawn_purger`]), events sent by the dispatcher
    /// ([`crate::workers::spawn_dispatcher`]).
    #[must_use]
    pub fn new(db: Database) -> Self {
        Self {
            db,
            listener: Arc::new(Unheard),
            purge_batch: PURGE_BATCH,
            queueing: EventQueueing::All,
            default_retention: None,
            events: Arc::new(RecordBody),
            clock: Arc::new(SystemClock),
            held: None,
        }
    }

    /// A unit of work: the same store with one connection checked out now, on which every
    /// call made through it (and its clones) runs, in turn; the connection goes back to the
    /// pool when the last of them is dropped. A request authenticates and runs its use case
    /// on one session, so it waits for the pool once. Each port call still commits on its
    /// own (the atomic guarantees are the ports' methods, see `roomwarden_domain::ports`).
    ///
    /// # Errors
    /// [`roomwarden_domain::error::StoreError::Unavailable`] when no connection can be had.
    pub fn session(&self) -> StoreResult<Self> {
        if self.held.is_some() {
            return Ok(self.clone());
        }
        let conn = self.db.conn()?;
        Ok(Self {
            held: Some(Held(Arc::new(Mutex::new(conn)))),
            ..self.clone()
        })
    }

    /// [`Self::session`], waiting at most `wait` for a pooled connection (for readers that
    /// must not queue behind requests, such as a metrics scrape).
    ///
    /// # Errors
    /// [`roomwarden_domain::error::StoreError::Unavailable`] when no connection is free
    /// within `wait`.
    pub fn session_within(&self, wait: std::time::Duration) -> StoreResult<Self> {
        if self.held.is_some() {
            return Ok(self.clone());
        }
        let conn = self.db.conn_within(wait)?;
        Ok(Self {
            held: Some(Held(Arc::new(Mutex::new(conn)))),
            ..self.clone()
        })
    }

    /// The connection for one call: the session's, or one from the pool.
    fn conn(&self) -> StoreResult<Conn<'_>> {
        match &self.held {
            Some(held) => Ok(Conn::Held(
                held.0.lock().unwrap_or_else(PoisonError::into_inner),
            )),
            None => Ok(Conn::Pooled(self.db.conn()?)),
        }
    }

    /// Sets which deletion events are queued for the dispatcher (default: all).
    #[must_use]
    pub fn with_event_queueing(mut self, queueing: EventQueueing) -> Self {
        self.queueing = queueing;
        self
    }

    /// Sets the clock (default: the system's): the one the server's handlers use too
    /// (`roomwarden_domain::time::Clock`).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The store's clock.
    #[must_use]
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    /// The current time by the store's clock.
    #[must_use]
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// Sets the retention of rooms without their own (default: keep forever). Read paths
    /// hide messages older than it at once; the retention job removes them.
    #[must_use]
    pub fn with_default_retention(mut self, days: Option<RetentionDays>) -> Self {
        self.default_retention = days;
        self
    }

    /// The retention of rooms without their own.
    #[must_use]
    pub fn default_retention(&self) -> Option<RetentionDays> {
        self.default_retention
    }

    /// Writes each deletion's event body into the outbox with `events` (the server's wire
    /// format), in the deletion's transaction.
    #[must_use]
    pub fn with_event_encoder(mut self, events: Arc<dyn EventEncoder>) -> Self {
        self.events = events;
        self
    }

    /// Tells `listener` about the background work each commit leaves.
    #[must_use]
    pub fn with_listener(mut self, listener: Arc<dyn CommitListener>) -> Self {
        self.listener = listener;
        self
    }

    /// Sets the purge batch size: clears of at most this many messages remove their rows
    /// in their own transaction, larger ones leave them to the purger, which removes this
    /// many per statement, and never more than 1,000. Default [`PURGE_BATCH`].
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

    /// Runs `f` as one write transaction ([`Database::write`]: in turn among the process's
    /// SQLite writers, run again when the database aborts it), classifying failures. A
    /// connection lost before `COMMIT` was sent (the server rolled the transaction back) is
    /// replaced by a fresh one, on the writer elected now, and `f` runs again, up to
    /// [`RECONNECTS`] times; one lost during `COMMIT` is an uncertain outcome and is not.
    pub(crate) fn with_write<T>(
        &self,
        mut f: impl FnMut(&mut DbConnection) -> QueryResult<T>,
    ) -> StoreResult<T> {
        let mut conn = self.conn()?;
        let mut reconnects = 0;
        loop {
            match self.db.write(&mut conn, &mut f) {
                Err(e) if reconnects < RECONNECTS && lost_before_commit(&e) => {
                    reconnects += 1;
                    tracing::debug!(error = %e, "connection lost before commit; running the write again on a new one");
                    conn.replace(&self.db)?;
                }
                outcome => return outcome.map_err(crate::error::query),
            }
        }
    }

    /// Runs `f` on a pooled connection, classifying failures. Only for reads: writes go
    /// through [`DieselStore::with_write`]. A connection found lost is replaced and `f` runs
    /// again, once.
    pub(crate) fn with_conn<T>(
        &self,
        mut f: impl FnMut(&mut DbConnection) -> QueryResult<T>,
    ) -> StoreResult<T> {
        let mut conn = self.conn()?;
        match f(&mut conn) {
            Err(e) if crate::error::is_connection_loss(&e) => {
                tracing::debug!(error = %e, "connection lost; reading again on a new one");
                conn.replace(&self.db)?;
                f(&mut conn).map_err(crate::error::query)
            }
            outcome => outcome.map_err(crate::error::query),
        }
    }
}

/// How many times one write runs again on a new connection after losing its connection
/// before `COMMIT` (a failover can take the first new connection's node down too).
const RECONNECTS: u32 = 2;

/// A connection loss that did not happen during `COMMIT`: nothing was committed.
fn lost_before_commit(err: &diesel::result::Error) -> bool {
    crate::error::is_connection_loss(err) && !crate::error::is_uncertain(err)
}

/// Converts a stored count to the domain's `u64` result.
pub(crate) fn unsigned(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::PoolOptions;
    use roomwarden_domain::ports::MessageStore;
    use roomwarden_domain::testkit::fixtures::{add_room, message};
    use std::time::Duration;

    #[test]
    fn sqlite_writers_wait_for_their_turn_instead_of_sleeping_in_the_busy_handler() {
        let fresh = crate::testing::FreshDatabase::new();
        let db = Database::connect(&fresh.url, &PoolOptions::default()).expect("connects");
        let store = DieselStore::new(db.clone());
        add_room(&store, "r", "alice", &[], &[]);
        let Some(gate) = db.write_gate() else {
            return; // MySQL orders its writers itself.
        };
        let held = gate.enter();
        let (sent, result) = std::sync::mpsc::channel();
        let writer = std::thread::spawn(move || {
            sent.send(store.insert_message(&message("r", "alice", "m1", "hi")))
                .expect("sent");
        });
        // While another writer holds the turn, the send waits in line (it neither fails
        // nor writes past the gate).
        assert!(
            result.recv_timeout(Duration::from_millis(300)).is_err(),
            "the send wrote while another writer held the turn"
        );
        assert_eq!(gate.queued(), 2);
        drop(held);
        assert!(result.recv().expect("answered").expect("stored"));
        writer.join().expect("joined");
    }
}
