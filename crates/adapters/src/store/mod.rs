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
mod matching;
mod messages;
pub mod outbox;
pub mod purge;
mod reports;
mod room_lock;
mod rooms;
mod settings;
mod visibility;

pub use feed::{FeedEvent, RealtimeFeed};
pub use outbox::{ClaimedEvent, OutboxCounts};
pub use purge::{PURGE_BATCH, PurgeBacklog};

use crate::db::{Database, DbConnection, OpenUnit, PooledConn};
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
    /// Single deletions committing together (`deletion::group`), shared by the clones.
    groups: Arc<
        deletion::group::Groups<roomwarden_domain::model::DeletionRequest, deletion::Committed>,
    >,
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

/// A session's connection, shared by the clones of its store, and its open unit of work.
#[derive(Clone)]
struct Held(Arc<HeldConn>);

/// [`Held`]'s connection and unit of work.
struct HeldConn {
    conn: Mutex<PooledConn>,
    unit: Mutex<Option<Unit>>,
}

impl Drop for HeldConn {
    /// A unit of work left open (its caller panicked) is rolled back before the connection
    /// goes back to the pool.
    fn drop(&mut self) {
        let unit = self
            .unit
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(unit) = unit {
            let conn = self.conn.get_mut().unwrap_or_else(PoisonError::into_inner);
            if let Err(e) = Database::end_unit(conn, unit.open, false) {
                tracing::warn!(error = %e, "a unit of work left open could not be rolled back");
            }
        }
    }
}

/// A session's open unit of work ([`DieselStore::begin_unit`]): its transaction, and the
/// background work its writes left, told to the listener once it commits.
#[derive(Debug)]
struct Unit {
    open: OpenUnit,
    backlog: Vec<Backlog>,
    /// Whether a write removed content that must leave the SQLite WAL once committed.
    scrub: bool,
}

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
            groups: Arc::default(),
        }
    }

    /// A session: the same store with one connection checked out now, on which every
    /// call made through it (and its clones) runs, in turn; the connection goes back to the
    /// pool when the last of them is dropped. A request authenticates and runs its use case
    /// on one session, so it waits for the pool once. Each port call still commits on its
    /// own (the atomic guarantees are the ports' methods, see `roomwarden_domain::ports`),
    /// unless a unit of work spans them ([`Self::begin_unit`]). A session serves one thread
    /// at a time (a request's hop): its connection and its unit are each locked per call,
    /// in an order that assumes no concurrent caller.
    ///
    /// # Errors
    /// [`roomwarden_domain::error::StoreError::Unavailable`] when no connection can be had.
    pub fn session(&self) -> StoreResult<Self> {
        if self.held.is_some() {
            return Ok(self.clone());
        }
        let conn = self.db.conn()?;
        Ok(Self {
            held: Some(Held::new(conn)),
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
            held: Some(Held::new(conn)),
            ..self.clone()
        })
    }

    /// The connection for one call: the session's, or one from the pool.
    fn conn(&self) -> StoreResult<Conn<'_>> {
        match &self.held {
            Some(held) => Ok(Conn::Held(
                held.0.conn.lock().unwrap_or_else(PoisonError::into_inner),
            )),
            None => Ok(Conn::Pooled(self.db.conn()?)),
        }
    }

    /// Opens a unit of work on this session: one transaction that every call made through
    /// it (and its clones) joins, each write in a savepoint of its own, until
    /// [`Self::end_unit`]. Background work its writes leave is told to the listener when
    /// it commits, not before, and so is the scrub of the SQLite WAL that its deletions need
    /// (`DieselStore::scrub_wal`). On SQLite it holds a write turn until it ends, so keep it
    /// short. It is not run again when the database aborts it (a deadlock, a Galera
    /// conflict): the call that meets the abort fails, and so does the unit's commit.
    ///
    /// # Errors
    /// [`StoreError::Internal`](roomwarden_domain::error::StoreError::Internal) outside a
    /// session or inside an open unit; a storage failure.
    pub fn begin_unit(&self) -> StoreResult<()> {
        let held = self.unit_holder()?;
        let mut unit = held.0.unit.lock().unwrap_or_else(PoisonError::into_inner);
        if unit.is_some() {
            return Err(internal("a unit of work is open already"));
        }
        let mut conn = self.conn()?;
        // A checkout sends nothing (`crate::db::Manager`): the unit's `BEGIN` may be the
        // first statement to find the connection lost. Nothing ran yet, so it runs again on
        // a new one.
        let mut reconnects = 0;
        let open = loop {
            match self.db.begin_unit(&mut conn) {
                Err(e) if reconnects < RECONNECTS && lost_before_commit(&e) => {
                    reconnects += 1;
                    tracing::debug!(error = %e, "connection lost; opening the unit on a new one");
                    conn.replace(&self.db)?;
                }
                outcome => break outcome.map_err(crate::error::query)?,
            }
        };
        *unit = Some(Unit {
            open,
            backlog: Vec::new(),
            scrub: false,
        });
        Ok(())
    }

    /// Ends the session's open unit of work: commits it (`commit`), then tells the listener
    /// what it left; or rolls it back. A connection lost during `COMMIT` is reported as
    /// [`StoreError::Uncertain`](roomwarden_domain::error::StoreError::Uncertain).
    ///
    /// # Errors
    /// [`StoreError::Internal`](roomwarden_domain::error::StoreError::Internal) without an
    /// open unit; a storage failure (nothing committed, unless uncertain).
    pub fn end_unit(&self, commit: bool) -> StoreResult<()> {
        let held = self.unit_holder()?;
        let Some(unit) = held
            .0
            .unit
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            return Err(internal("no unit of work is open"));
        };
        let mut conn = self.conn()?;
        Database::end_unit(&mut conn, unit.open, commit).map_err(crate::error::query)?;
        drop(conn);
        if commit {
            if unit.scrub {
                self.db.scrub_wal();
            }
            for backlog in unit.backlog {
                self.tell(backlog, unit.scrub);
            }
        }
        Ok(())
    }

    fn unit_holder(&self) -> StoreResult<&Held> {
        self.held
            .as_ref()
            .ok_or_else(|| internal("a unit of work needs a session"))
    }

    /// Whether this session has a unit of work open.
    fn in_unit(&self) -> bool {
        self.in_open_unit(|_| ())
    }

    /// How this store's writes run now: in its session's open unit of work, or each as a
    /// transaction of its own. Read it before taking the connection.
    pub(crate) fn writes(&self) -> Writes<'_> {
        if self.in_unit() {
            Writes::InUnit
        } else {
            Writes::Own(&self.db)
        }
    }

    /// After a commit that removed content: scrubs the SQLite WAL now
    /// ([`Database::scrub_wal`]), or once the open unit of work has committed (its write
    /// turn, which the checkpoint needs, released).
    pub(crate) fn scrub_wal(&self) {
        if !self.in_open_unit(|unit| unit.scrub = true) {
            self.db.scrub_wal();
        }
    }

    /// Tells the listener about `backlog` now, or when the open unit of work commits.
    /// `scrubbed`: the commit asked for a WAL checkpoint ([`Self::scrub_wal`]) first.
    pub(crate) fn committed(&self, backlog: Backlog, scrubbed: bool) {
        let deferred = self.in_open_unit(|unit| {
            if !unit.backlog.contains(&backlog) {
                unit.backlog.push(backlog);
            }
        });
        if !deferred {
            self.tell(backlog, scrubbed);
        }
    }

    /// Tells the listener about `backlog` after a commit. The purger is told only once the
    /// checkpoint the commit asked for (`scrubbed`) has finished: started at once, its first
    /// steps would take the write turn ahead of that checkpoint, which would then copy
    /// their pages too, all while the clear's answer waits for it.
    fn tell(&self, backlog: Backlog, scrubbed: bool) {
        if backlog == Backlog::Purge && scrubbed {
            let listener = Arc::clone(&self.listener);
            self.db.after_scrub(move || listener.committed(backlog));
        } else {
            self.listener.committed(backlog);
        }
    }

    /// Applies `note` to the session's open unit of work; `false` when none is open.
    fn in_open_unit(&self, note: impl FnOnce(&mut Unit)) -> bool {
        let Some(held) = &self.held else {
            return false;
        };
        let mut unit = held.0.unit.lock().unwrap_or_else(PoisonError::into_inner);
        unit.as_mut().map(note).is_some()
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
        if self.in_unit() {
            let mut conn = self.conn()?;
            return Writes::InUnit
                .write(&mut conn, f)
                .map_err(crate::error::query);
        }
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

    /// [`Self::with_write`] for a write that may be refused: when `f` answers `Err`, its
    /// transaction is rolled back instead of committed (a refusal writes nothing, not even
    /// the room lock's bump, which on SQLite a commit would put in the WAL) and the refusal
    /// is returned as `Ok(Err(refusal))`.
    pub(crate) fn with_write_or_refuse<T, R>(
        &self,
        mut f: impl FnMut(&mut DbConnection) -> QueryResult<Result<T, R>>,
    ) -> StoreResult<Result<T, R>> {
        let mut refused = None;
        let outcome = self.with_write(|conn| {
            refused = None;
            f(conn)?.map_err(|refusal| {
                refused = Some(refusal);
                diesel::result::Error::RollbackTransaction
            })
        });
        match (outcome, refused) {
            (Err(_), Some(refusal)) => Ok(Err(refusal)),
            (outcome, _) => outcome.map(Ok),
        }
    }

    /// Runs `f` on a pooled connection, classifying failures. Only for reads: writes go
    /// through [`DieselStore::with_write`]. A connection found lost is replaced and `f` runs
    /// again, once.
    pub(crate) fn with_conn<T>(
        &self,
        mut f: impl FnMut(&mut DbConnection) -> QueryResult<T>,
    ) -> StoreResult<T> {
        // A unit's transaction does not survive its connection: nothing to read again.
        let may_replace = !self.in_unit();
        let mut conn = self.conn()?;
        match f(&mut conn) {
            Err(e) if may_replace && crate::error::is_connection_loss(&e) => {
                tracing::debug!(error = %e, "connection lost; reading again on a new one");
                conn.replace(&self.db)?;
                f(&mut conn).map_err(crate::error::query)
            }
            outcome => outcome.map_err(crate::error::query),
        }
    }
}

/// How a store's writes run ([`DieselStore::writes`]).
pub(crate) enum Writes<'a> {
    /// Inside the session's open unit of work ([`Database::write_in_unit`]).
    InUnit,
    /// Each a transaction of its own ([`Database::write`]).
    Own(&'a Database),
}

impl Writes<'_> {
    /// Runs `f` as one write, as this says.
    pub(crate) fn write<T>(
        &self,
        conn: &mut DbConnection,
        f: impl FnMut(&mut DbConnection) -> QueryResult<T>,
    ) -> QueryResult<T> {
        match self {
            Self::InUnit => Database::write_in_unit(conn, f),
            Self::Own(db) => db.write(conn, f),
        }
    }
}

impl Held {
    fn new(conn: PooledConn) -> Self {
        Self(Arc::new(HeldConn {
            conn: Mutex::new(conn),
            unit: Mutex::new(None),
        }))
    }
}

fn internal(what: &str) -> roomwarden_domain::error::StoreError {
    roomwarden_domain::error::StoreError::Internal(anyhow::anyhow!("{what}"))
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

    /// What a store's listener was told, in order.
    #[derive(Debug, Default)]
    struct Told(Mutex<Vec<Backlog>>);

    impl CommitListener for Told {
        fn committed(&self, backlog: Backlog) {
            self.0.lock().expect("told").push(backlog);
        }
    }

    impl Told {
        fn take(&self) -> Vec<Backlog> {
            std::mem::take(&mut *self.0.lock().expect("told"))
        }
    }

    /// A store over a fresh database, telling `Told`, with a room `r` of alice's.
    fn unit_store() -> (crate::testing::FreshDatabase, DieselStore, Arc<Told>) {
        let fresh = crate::testing::FreshDatabase::new();
        let db = Database::connect(&fresh.url, &PoolOptions::default()).expect("connects");
        let told = Arc::new(Told::default());
        let store = DieselStore::new(db).with_listener(told.clone());
        add_room(&store, "r", "alice", &[], &[]);
        (fresh, store, told)
    }

    fn stored(store: &DieselStore, id: &str) -> bool {
        let (room, id) = (
            roomwarden_domain::testkit::fixtures::rid("r"),
            roomwarden_domain::testkit::fixtures::mid(id),
        );
        store.find_message(&room, &id).expect("read").is_some()
    }

    #[test]
    fn a_unit_of_work_commits_its_writes_together_and_tells_the_listener_after() {
        use roomwarden_domain::ids::DeleteTarget;
        use roomwarden_domain::testkit::fixtures::{mid, request};
        let (fresh, store, told) = unit_store();
        store
            .insert_message(&message("r", "alice", "old", "unit-scrubbed-content"))
            .expect("sent");
        let session = store.session().expect("session");
        session.begin_unit().expect("begun");
        assert!(
            session
                .insert_message(&message("r", "alice", "m1", "one"))
                .expect("sent")
        );
        // A write that fails inside the unit leaves the unit's other writes as they were.
        assert!(
            !session
                .insert_message(&message("r", "alice", "m1", "again"))
                .expect("refused")
        );
        session
            .delete(&request("r", DeleteTarget::One(mid("old")), "admin"))
            .expect("deleted");
        assert!(stored(&session, "m1"), "the unit sees its own writes");
        assert!(told.take().is_empty(), "nothing is told before the commit");
        session.end_unit(true).expect("committed");
        assert_eq!(told.take(), vec![Backlog::Event]);
        assert!(stored(&store, "m1") && !stored(&store, "old"));
        // On SQLite the deleted content left the files once the unit committed (the WAL
        // checkpoint it needs waits for the unit's write turn, so it runs after).
        if let Some(file) = &fresh.sqlite_file {
            for suffix in ["", "-wal"] {
                let bytes =
                    std::fs::read(format!("{}{suffix}", file.display())).unwrap_or_default();
                let needle = b"unit-scrubbed-content";
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle),
                    "the deleted content is still in the database file{suffix}"
                );
            }
        }
    }

    /// The room row's `write_version`, which the SQLite lock bumps.
    fn write_version(store: &DieselStore) -> i64 {
        use crate::schema::rooms;
        use diesel::prelude::*;
        let mut conn = store.database().conn().expect("connection");
        rooms::table
            .find("r")
            .select(rooms::write_version)
            .first::<i64>(&mut **conn)
            .expect("read")
    }

    /// A refused deletion rolls back instead of committing: on SQLite the room's lock is a
    /// write to its row, which a commit would put in the WAL for each refusal.
    #[test]
    fn a_refused_deletion_writes_nothing() {
        use roomwarden_domain::actor::Actor;
        use roomwarden_domain::ids::DeleteTarget;
        use roomwarden_domain::model::DeleteOutcome;
        use roomwarden_domain::testkit::fixtures::{cid, mid, request, request_as};
        let fresh = crate::testing::FreshDatabase::new();
        let db = Database::connect(&fresh.url, &PoolOptions::default()).expect("connects");
        let store = DieselStore::new(db);
        add_room(&store, "r", "alice", &[], &["bob"]);
        store
            .insert_message(&message("r", "alice", "m1", "hi"))
            .expect("sent");
        let bob = Actor::Client {
            id: cid("bob"),
            is_platform_admin: false,
        };
        let before = write_version(&store);
        let refused = [
            (
                request_as("r", DeleteTarget::One(mid("m1")), bob.clone()),
                DeleteOutcome::PermissionDenied,
            ),
            (
                request_as("r", DeleteTarget::All, bob),
                DeleteOutcome::PermissionDenied,
            ),
            (
                request("r", DeleteTarget::One(mid("nope")), "admin"),
                DeleteOutcome::MessageNotFound,
            ),
        ];
        for (request, expected) in refused {
            assert_eq!(store.delete(&request).expect("answered"), expected);
        }
        assert_eq!(write_version(&store), before, "a refusal committed a write");
        // Inside a unit of work a refusal leaves the unit's other writes alone.
        let session = store.session().expect("session");
        session.begin_unit().expect("begun");
        assert!(
            session
                .insert_message(&message("r", "alice", "m2", "kept"))
                .expect("sent")
        );
        let missing = request("r", DeleteTarget::One(mid("nope")), "admin");
        assert_eq!(
            session.delete(&missing).expect("answered"),
            DeleteOutcome::MessageNotFound
        );
        session.end_unit(true).expect("committed");
        assert!(stored(&store, "m2"));
        // A deletion that is carried out commits.
        assert!(matches!(
            store
                .delete(&request("r", DeleteTarget::One(mid("m1")), "admin"))
                .expect("deleted"),
            DeleteOutcome::Deleted(_)
        ));
        assert!(!stored(&store, "m1"));
    }

    /// Refused report attempts write nothing, and on SQLite, answered from a read, they
    /// answer while another writer holds the write turn.
    #[test]
    fn refused_report_attempts_write_nothing_and_wait_for_no_write_turn() {
        use roomwarden_domain::ids::ReportId;
        use roomwarden_domain::ports::ReportStore;
        use roomwarden_domain::report::{NewReport, RateLimit, ReportCategory, ReportOutcome};
        use roomwarden_domain::testkit::fixtures::{add_client, cid, mid, now, rid};
        let fresh = crate::testing::FreshDatabase::new();
        let db = Database::connect(&fresh.url, &PoolOptions::default()).expect("connects");
        let store = DieselStore::new(db.clone());
        add_room(&store, "r", "alice", &[], &["bob"]);
        add_client(&store, "outsider");
        for id in ["m1", "m2"] {
            store
                .insert_message(&message("r", "alice", id, "hi"))
                .expect("sent");
        }
        let report = |room: &str, message: &str, reporter: &str| NewReport {
            id: ReportId::generate(now()),
            room: rid(room),
            message: mid(message),
            reporter: cid(reporter),
            category: ReportCategory::Spam,
            reason: None,
            created_at: now(),
            limit: RateLimit {
                max: 1,
                window: chrono::Duration::seconds(60),
            },
        };
        assert!(matches!(
            store.file_report(&report("r", "m1", "bob")).expect("filed"),
            ReportOutcome::Created(_)
        ));
        let before = write_version(&store);
        let held = db.write_gate().map(crate::sqlite_writes::WriteGate::enter);
        let attempts = [
            (report("nowhere", "m1", "bob"), "room"),
            (report("r", "m1", "outsider"), "member"),
            (report("r", "nope", "bob"), "message"),
            (report("r", "m1", "bob"), "repeat"),
            (report("r", "m2", "bob"), "rate"),
        ];
        let (sent, answers) = std::sync::mpsc::channel();
        let reporter = store.clone();
        let filing = std::thread::spawn(move || {
            for (attempt, what) in attempts {
                let outcome = reporter.file_report(&attempt).expect("answered");
                sent.send((outcome, what)).expect("sent");
            }
        });
        let outcomes: Vec<_> = (0..5)
            .map_while(|_| answers.recv_timeout(Duration::from_secs(5)).ok())
            .collect();
        drop(held);
        filing.join().expect("joined");
        assert_eq!(
            outcomes.len(),
            5,
            "a refused attempt waited for the write turn"
        );
        for (outcome, what) in outcomes {
            let expected = match what {
                "room" => matches!(outcome, ReportOutcome::RoomNotFound),
                "member" => matches!(outcome, ReportOutcome::NotMember),
                "message" => matches!(outcome, ReportOutcome::MessageNotFound),
                "repeat" => matches!(outcome, ReportOutcome::Existing(_)),
                _ => matches!(outcome, ReportOutcome::Limited { .. }),
            };
            assert!(expected, "{what}: {outcome:?}");
        }
        assert_eq!(write_version(&store), before, "a refusal committed a write");
    }

    /// Records the size of the SQLite WAL file when it is told about a purge.
    #[derive(Debug)]
    struct WalAtPurge {
        wal: std::path::PathBuf,
        size: Mutex<Option<u64>>,
    }

    impl CommitListener for WalAtPurge {
        fn committed(&self, backlog: Backlog) {
            if backlog == Backlog::Purge {
                let size = std::fs::metadata(&self.wal).map_or(0, |m| m.len());
                *self.size.lock().expect("size") = Some(size);
            }
        }
    }

    /// The purger of a large clear is woken only once the clear's WAL checkpoint has run,
    /// also when the clear's caller waits for that checkpoint later (the server does):
    /// woken at the commit, its first steps took the write turn ahead of the checkpoint,
    /// which then copied their pages too while the clear's answer waited.
    #[test]
    fn a_large_clear_wakes_the_purger_after_its_checkpoint() {
        use roomwarden_domain::ids::DeleteTarget;
        use roomwarden_domain::testkit::fixtures::request;
        let fresh = crate::testing::FreshDatabase::new();
        let Some(file) = fresh.sqlite_file.clone() else {
            return; // SQLite's checkpoints only
        };
        let db = Database::connect(&fresh.url, &PoolOptions::default()).expect("connects");
        let listener = Arc::new(WalAtPurge {
            wal: std::path::PathBuf::from(format!("{}-wal", file.display())),
            size: Mutex::new(None),
        });
        let store = DieselStore::new(db)
            .with_listener(listener.clone())
            .with_purge_batch(2);
        add_room(&store, "r", "alice", &[], &[]);
        for id in ["m1", "m2", "m3"] {
            store
                .insert_message(&message("r", "alice", id, "to purge"))
                .expect("sent");
        }
        // Outside a hop the clear waits for its checkpoint itself: told before it returns,
        // without a second checkpoint asked for.
        store
            .delete(&request("r", DeleteTarget::All, "admin"))
            .expect("cleared");
        assert_eq!(listener.size.lock().expect("size").take(), Some(0));
        for id in ["m4", "m5", "m6"] {
            store
                .insert_message(&message("r", "alice", id, "to purge"))
                .expect("sent");
        }
        let (deleted, wait) =
            crate::deferring_wal_scrub(|| store.delete(&request("r", DeleteTarget::All, "admin")));
        deleted.expect("cleared");
        wait.expect("a checkpoint to wait for").wait();
        // The callback runs on the checkpoints' thread just after the waiters are woken.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let told = loop {
            let told = *listener.size.lock().expect("size");
            if told.is_some() || std::time::Instant::now() > deadline {
                break told;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        assert_eq!(
            told,
            Some(0),
            "the purger was told before the checkpoint emptied the WAL"
        );
    }

    #[test]
    fn a_unit_of_work_rolled_back_or_dropped_leaves_nothing_and_a_clean_connection() {
        let (_fresh, store, told) = unit_store();
        let session = store.session().expect("session");
        session.begin_unit().expect("begun");
        assert!(
            session.begin_unit().is_err(),
            "one unit at a time per session"
        );
        session
            .insert_message(&message("r", "alice", "m1", "one"))
            .expect("sent");
        session.end_unit(false).expect("rolled back");
        assert!(!stored(&store, "m1"));
        assert!(session.end_unit(true).is_err(), "no unit is open");

        // Dropped open (its caller panicked): rolled back before the connection goes back.
        session.begin_unit().expect("begun");
        session
            .insert_message(&message("r", "alice", "m2", "two"))
            .expect("sent");
        drop(session);
        assert!(!stored(&store, "m2"));
        assert!(told.take().is_empty());
        // Every pooled connection commits on its own again.
        for id in ["m3", "m4", "m5"] {
            let session = store.session().expect("session");
            session
                .insert_message(&message("r", "alice", id, "later"))
                .expect("sent");
        }
        assert!(["m3", "m4", "m5"].iter().all(|id| stored(&store, id)));
        assert!(store.begin_unit().is_err(), "a unit needs a session");
    }

    /// A checkout sends nothing: a unit opened first on a connection the server closed
    /// (a restart, `wait_timeout`, `KILL`) opens on a new one, and the closed one leaves
    /// the pool.
    #[cfg(feature = "mysql")]
    #[test]
    fn a_unit_opened_first_on_a_connection_the_server_closed_opens_on_a_new_one() {
        use diesel::prelude::*;
        #[derive(QueryableByName)]
        struct Id {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            id: i64,
        }
        let fresh = crate::testing::FreshDatabase::new();
        if fresh.url.starts_with("sqlite") {
            return; // an SQLite connection is a file the process holds
        }
        let options = PoolOptions {
            max_size: 2,
            ..PoolOptions::default()
        };
        let db = Database::connect(&fresh.url, &options).expect("connects");
        let store = DieselStore::new(db.clone());
        add_room(&store, "r", "alice", &[], &[]);
        let pooled: Id = {
            let mut conn = db.conn().expect("checked out");
            diesel::sql_query("SELECT CAST(CONNECTION_ID() AS SIGNED) AS id")
                .get_result(&mut **conn)
                .expect("its ID")
        };
        // On the node the pool's connections are on (the elected writer of a node list).
        let nodes = crate::cluster::split_hosts(&fresh.url).expect("a mysql:// URL");
        let node = db
            .writer()
            .and_then(|(label, _)| nodes.iter().find(|n| n.label == label))
            .unwrap_or(&nodes[0]);
        let mut other = diesel::MysqlConnection::establish(&node.url).expect("connects");
        diesel::sql_query(format!("KILL CONNECTION {}", pooled.id))
            .execute(&mut other)
            .expect("killed");
        assert_eq!(db.pool_state().open, 1, "the killed one is pooled");

        let session = store.session().expect("checked out without a query");
        session.begin_unit().expect("opened on a new connection");
        session
            .insert_message(&message("r", "alice", "m1", "one"))
            .expect("sent in the unit");
        session.end_unit(true).expect("committed");
        drop(session);
        assert!(stored(&store, "m1"));
        assert_eq!(db.pool_state().open, 1, "the killed one was discarded");
    }
}
