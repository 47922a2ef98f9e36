//! Connections, the pool, per-connection settings and embedded migrations.

use crate::cluster::Writer;
use crate::error::INTACT_SAVEPOINT;
use crate::sqlite_writes::{OwnedWriteTurn, WalScrubber, WriteGate};
use anyhow::{Context, bail};
use diesel::ConnectionError;
use diesel::connection::{SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use r2d2::{Pool, PooledConnection};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// One connection to either backend; the variant is chosen from the URL scheme.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    /// Embedded SQLite (always available).
    Sqlite(diesel::SqliteConnection),
    /// MySQL or MariaDB (cargo feature `mysql`).
    #[cfg(feature = "mysql")]
    Mysql(diesel::MysqlConnection),
}

/// Evaluates `$body` with `$c` bound to the backend's own connection, for statements that
/// diesel builds only for a concrete backend (multi-row inserts).
macro_rules! per_backend {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::db::DbConnection::Sqlite($c) => $body,
            #[cfg(feature = "mysql")]
            $crate::db::DbConnection::Mysql($c) => $body,
        }
    };
}
pub(crate) use per_backend;

/// A pooled connection: the backend's own, the writer election it was opened in (see
/// [`crate::cluster`]) and what is known of its health; it derefs to the [`DbConnection`].
pub struct NodeConnection {
    conn: DbConnection,
    /// [`Writer::generation`] when it was opened; 0 without a node list.
    generation: u64,
    /// Set when one of its statements found the connection to the server gone
    /// ([`crate::error::is_connection_loss`]): it is discarded when it goes back.
    lost: Arc<AtomicBool>,
    /// [`Losses::count`] when it was opened or last tried with `DO 1`.
    checked: u64,
}

impl std::ops::Deref for NodeConnection {
    type Target = DbConnection;
    fn deref(&self) -> &DbConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for NodeConnection {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.conn
    }
}

/// The pool type.
pub type DbPool = Pool<Manager>;
/// A connection checked out of the pool.
pub type PooledConn = PooledConnection<Manager>;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
#[cfg(feature = "mysql")]
const MYSQL_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/mysql");

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite://<path>`.
    Sqlite,
    /// `mysql://user:pass@host:port/db`.
    Mysql,
}

impl Backend {
    /// Reads the backend from the URL scheme.
    ///
    /// # Errors
    /// For an unknown scheme, or `mysql://` in a build without the `mysql` feature.
    pub fn of_url(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("sqlite://") {
            Ok(Self::Sqlite)
        } else if url.starts_with("mysql://") {
            if cfg!(feature = "mysql") {
                Ok(Self::Mysql)
            } else {
                bail!("this build has no MySQL support: rebuild with `--features mysql`")
            }
        } else {
            bail!("database URL must start with sqlite:// or mysql://")
        }
    }
}

/// Pool settings.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// Most connections open at once.
    pub max_size: u32,
    /// How long a request waits for a free connection before the store reports
    /// itself unavailable.
    pub checkout_timeout: Duration,
    /// Galera only: the session's `wsrep_sync_wait` (0 to 15; default 1, reads wait until
    /// the node has applied every write the cluster committed before them).
    pub sync_wait: u8,
}

/// The default [`PoolOptions::sync_wait`]: causality checks on reads.
pub const DEFAULT_SYNC_WAIT: u8 = 1;

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_size: 10,
            checkout_timeout: Duration::from_secs(5),
            sync_wait: DEFAULT_SYNC_WAIT,
        }
    }
}

/// The pool's connections at one moment ([`Database::pool_state`]). SQLite's checkpoint
/// connection (`WalScrubber`) is not pooled and not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolState {
    /// Connections open, in use or idle.
    pub open: u32,
    /// Open connections not checked out.
    pub idle: u32,
    /// Most connections the pool opens ([`PoolOptions::max_size`]).
    pub max: u32,
}

impl PoolState {
    /// Connections checked out (by a request, a worker or a session) now.
    #[must_use]
    pub fn in_use(&self) -> u32 {
        self.open.saturating_sub(self.idle)
    }
}

/// Milliseconds SQLite waits on a locked database before giving up.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 5_000;

/// Opens connections of one backend for the pool, each with its session settings.
///
/// `MultiConnection::establish` would try every backend in turn and hide the real error,
/// so connections are opened for the backend the URL names.
///
/// With a node list ([`crate::cluster`]), connections open on the elected writer, and one
/// opened before the writer changed is discarded on its next checkout or return.
#[derive(Debug)]
pub struct Manager {
    target: String,
    backend: Backend,
    writer: Option<Arc<Writer>>,
    losses: Arc<Losses>,
}

/// How many times a pooled connection found the server gone. A checkout tries a connection
/// with a query only when the count moved since the connection last worked: a restarted
/// database or a dropped network closes every idle connection at once, and one found lost
/// says the others may be too. Otherwise a checkout sends nothing, and a connection found
/// lost by a request is replaced there (`DieselStore::with_conn`, `with_write`,
/// `begin_unit`, [`Database::ping`]) and discarded when it goes back.
#[derive(Debug, Default)]
struct Losses(AtomicU64);

impl Losses {
    fn count(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Manager {
    /// Whether `conn` was opened on an earlier writer than the one elected now.
    fn stale(&self, conn: &NodeConnection) -> bool {
        self.writer
            .as_ref()
            .is_some_and(|w| w.generation() != conn.generation)
    }

    /// Wraps a connection just opened, watching its statements for a lost connection.
    #[cfg_attr(not(feature = "mysql"), allow(unused_mut))]
    fn watched(&self, mut conn: DbConnection, generation: u64) -> NodeConnection {
        let lost = Arc::new(AtomicBool::new(false));
        #[cfg(feature = "mysql")]
        if let DbConnection::Mysql(c) = &mut conn {
            let (flag, losses) = (Arc::clone(&lost), Arc::clone(&self.losses));
            c.set_instrumentation(move |event: diesel::connection::InstrumentationEvent<'_>| {
                if let diesel::connection::InstrumentationEvent::FinishQuery {
                    error: Some(e), ..
                } = event
                    && crate::error::is_connection_loss(e)
                    && !flag.swap(true, Ordering::Relaxed)
                {
                    losses.0.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        NodeConnection {
            conn,
            generation,
            lost,
            checked: self.losses.count(),
        }
    }
}

impl r2d2::ManageConnection for Manager {
    type Connection = NodeConnection;
    type Error = ConnectionError;

    fn connect(&self) -> Result<NodeConnection, ConnectionError> {
        let Some(writer) = &self.writer else {
            return open(&self.target, self.backend).map(|conn| self.watched(conn, 0));
        };
        let Some((node, generation)) = writer.current() else {
            writer.suspect();
            return Err(ConnectionError::BadConnection(
                "no database node can take writes now".to_owned(),
            ));
        };
        open(&node.url, self.backend)
            .map(|conn| self.watched(conn, generation))
            .inspect_err(|_| writer.suspect())
    }

    fn is_valid(&self, conn: &mut NodeConnection) -> Result<(), ConnectionError> {
        if self.stale(conn) {
            return Err(ConnectionError::BadConnection(
                "opened on a former writer".to_owned(),
            ));
        }
        if conn.lost.load(Ordering::Relaxed) {
            return Err(ConnectionError::BadConnection("found lost".to_owned()));
        }
        let losses = self.losses.count();
        if conn.checked == losses {
            // Nothing sent: no connection was found lost since this one last worked.
            return Ok(());
        }
        let works: Result<(), ConnectionError> = match &mut conn.conn {
            // A file the process has open: nothing to lose between checkouts.
            DbConnection::Sqlite(_) => Ok(()),
            // `DO 1`: a `SELECT` would wait for the node's causality check
            // (`wsrep_sync_wait`).
            #[cfg(feature = "mysql")]
            DbConnection::Mysql(c) => c
                .batch_execute("DO 1")
                .map_err(ConnectionError::CouldntSetupConfiguration),
        };
        works?;
        conn.checked = losses;
        Ok(())
    }

    /// A connection returned while its thread panics, or with a transaction still open or
    /// failed, is discarded instead of pooled: reused, its open transaction would turn the
    /// next caller's transaction into a savepoint that never commits. So is one opened on a
    /// former writer, and one a statement found lost.
    fn has_broken(&self, conn: &mut NodeConnection) -> bool {
        std::thread::panicking()
            || conn.lost.load(Ordering::Relaxed)
            || diesel::r2d2::R2D2Connection::is_broken(&mut conn.conn)
            || self.stale(conn)
    }
}

/// Applies the session settings ([`setup_session`]) to every new pooled connection, and
/// notes whether the server is a Galera node.
#[derive(Debug)]
struct SessionSetup {
    galera: Arc<AtomicBool>,
    sync_wait: u8,
}

impl r2d2::CustomizeConnection<NodeConnection, ConnectionError> for SessionSetup {
    fn on_acquire(&self, conn: &mut NodeConnection) -> Result<(), ConnectionError> {
        setup_session(conn).map_err(ConnectionError::CouldntSetupConfiguration)?;
        if setup_galera(conn, self.sync_wait).map_err(ConnectionError::CouldntSetupConfiguration)? {
            self.galera.store(true, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// On a Galera node, sets the session's `wsrep_sync_wait`; whether it is one.
#[cfg_attr(not(feature = "mysql"), allow(unused_variables))]
fn setup_galera(conn: &mut DbConnection, sync_wait: u8) -> QueryResult<bool> {
    match conn {
        DbConnection::Sqlite(_) => Ok(false),
        #[cfg(feature = "mysql")]
        DbConnection::Mysql(c) => {
            if !crate::cluster::wsrep_on(c)? {
                return Ok(false);
            }
            c.batch_execute(&format!(
                "SET SESSION wsrep_sync_wait = {}",
                sync_wait.min(15)
            ))?;
            Ok(true)
        }
    }
}

/// Opens one connection of `backend`.
fn open(target: &str, backend: Backend) -> Result<DbConnection, ConnectionError> {
    match backend {
        Backend::Sqlite => diesel::SqliteConnection::establish(target).map(DbConnection::Sqlite),
        #[cfg(feature = "mysql")]
        Backend::Mysql => diesel::MysqlConnection::establish(target).map(DbConnection::Mysql),
        #[cfg(not(feature = "mysql"))]
        Backend::Mysql => Err(ConnectionError::InvalidConnectionUrl(
            "this build has no MySQL support".to_owned(),
        )),
    }
}

/// SQLite: WAL, a busy timeout, foreign keys, and `secure_delete` so that freed content is
/// overwritten with zeros. MySQL: READ COMMITTED, so each statement of a transaction sees
/// what committed before it (the room-row lock then makes clears exact).
fn setup_session(conn: &mut DbConnection) -> QueryResult<()> {
    match conn {
        DbConnection::Sqlite(c) => c.batch_execute(&format!(
            "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; PRAGMA journal_mode = WAL; \
             PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON;"
        )),
        #[cfg(feature = "mysql")]
        DbConnection::Mysql(c) => c.batch_execute(
            "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED; SET SESSION sql_mode = 'STRICT_ALL_TABLES';",
        ),
    }
}

/// Whether `conn` is a MySQL connection.
pub(crate) fn is_mysql(conn: &DbConnection) -> bool {
    match conn {
        DbConnection::Sqlite(_) => false,
        #[cfg(feature = "mysql")]
        DbConnection::Mysql(_) => true,
    }
}

/// The step between the `seq`s one node hands out: `auto_increment_increment` on MySQL (the
/// cluster size on Galera), 1 on SQLite.
pub(crate) fn seq_step(conn: &mut DbConnection) -> QueryResult<i64> {
    match conn {
        DbConnection::Sqlite(_) => Ok(1),
        #[cfg(feature = "mysql")]
        DbConnection::Mysql(c) => {
            #[derive(QueryableByName)]
            struct Step {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                n: i64,
            }
            Ok(
                diesel::sql_query("SELECT CAST(@@auto_increment_increment AS SIGNED) AS n")
                    .get_result::<Step>(c)?
                    .n,
            )
        }
    }
}

/// Turns `sqlite://<path>` into what SQLite opens, creating the parent folder.
fn sqlite_path(url: &str) -> anyhow::Result<String> {
    let path = url.trim_start_matches("sqlite://");
    if path.is_empty() {
        bail!("sqlite:// URL has no path");
    }
    if let Some(parent) = std::path::Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    Ok(path.to_owned())
}

/// The connection string diesel expects for `url`.
fn diesel_url(url: &str) -> anyhow::Result<String> {
    match Backend::of_url(url)? {
        Backend::Sqlite => sqlite_path(url),
        Backend::Mysql => Ok(url.to_owned()),
    }
}

/// A database: its pool and backend, migrated and ready.
#[derive(Clone)]
pub struct Database {
    pool: DbPool,
    backend: Backend,
    /// SQLite only: the process's writers, served one at a time in arrival order.
    writes: Option<Arc<WriteGate>>,
    /// SQLite only: the WAL checkpoints deletions share.
    scrubber: Option<Arc<WalScrubber>>,
    /// A node list's elected writer (`mysql://u@h1,h2,h3/db`).
    writer: Option<Arc<Writer>>,
    /// Whether the server is a Galera node: write transactions then guard against a
    /// brute-force abort ([`Database::write`]).
    galera: Arc<AtomicBool>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Database {
    /// Connects (creating a MySQL database that does not exist yet), runs pending
    /// migrations, and builds the pool.
    ///
    /// # Errors
    /// A bad URL, an unreachable database, or a failed migration, each with a one-line cause.
    pub fn connect(url: &str, options: &PoolOptions) -> anyhow::Result<Self> {
        let backend = Backend::of_url(url)?;
        let writer = cluster_writer(url, backend)?;
        let target = match &writer {
            Some(writer) => elected(writer)?,
            None => diesel_url(url)?,
        };
        let mut conn = establish(&target, backend)?;
        setup_session(&mut conn).context("cannot configure the database session")?;
        run_migrations(&mut conn)?;
        drop(conn);
        let galera = Arc::new(AtomicBool::new(false));
        let pool = Pool::builder()
            .max_size(options.max_size)
            .min_idle(Some(0))
            .connection_timeout(options.checkout_timeout)
            .connection_customizer(Box::new(SessionSetup {
                galera: Arc::clone(&galera),
                sync_wait: options.sync_wait,
            }))
            .build_unchecked(Manager {
                target: target.clone(),
                backend,
                writer: writer.clone(),
                losses: Arc::default(),
            });
        let writes: Option<Arc<WriteGate>> = (backend == Backend::Sqlite).then(Arc::default);
        let scrubber = match backend {
            Backend::Sqlite => Some(Arc::new(
                WalScrubber::open(&target, writes.clone())
                    .context("cannot open the checkpoint connection")?,
            )),
            Backend::Mysql => None,
        };
        Ok(Self {
            pool,
            backend,
            writes,
            scrubber,
            writer,
            galera,
        })
    }

    /// The node list's writer now (`host:port`) and how many times it changed, when the URL
    /// names several hosts.
    #[must_use]
    pub fn writer(&self) -> Option<(String, u64)> {
        let writer = self.writer.as_ref()?;
        let label = writer
            .current()
            .map_or_else(String::new, |(node, _)| node.label.clone());
        Some((label, writer.failovers()))
    }

    /// The backend.
    #[must_use]
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool's connections now, from memory (no database access).
    #[must_use]
    pub fn pool_state(&self) -> PoolState {
        let state = self.pool.state();
        PoolState {
            open: state.connections,
            idle: state.idle_connections,
            max: self.pool.max_size(),
        }
    }

    /// A connection from the pool.
    pub(crate) fn conn(&self) -> Result<PooledConn, roomwarden_domain::error::StoreError> {
        self.pool.get().map_err(crate::error::pool)
    }

    /// A connection from the pool, waiting at most `wait` (instead of the pool's checkout
    /// timeout) for one.
    pub(crate) fn conn_within(
        &self,
        wait: std::time::Duration,
    ) -> Result<PooledConn, roomwarden_domain::error::StoreError> {
        self.pool.get_timeout(wait).map_err(crate::error::pool)
    }

    /// Whether the database answers a trivial query now.
    ///
    /// # Errors
    /// [`roomwarden_domain::error::StoreError::Unavailable`] when it does not.
    pub fn ping(&self) -> Result<(), roomwarden_domain::error::StoreError> {
        let mut conn = self.conn()?;
        match conn.batch_execute("SELECT 1") {
            // A checkout sends nothing: the probe may be the first to find its connection
            // closed (a restart, `wait_timeout`). That one is discarded, and the next
            // checkout answers for the database.
            Err(e) if crate::error::is_connection_loss(&e) => {
                drop(conn);
                let mut conn = self.conn()?;
                conn.batch_execute("SELECT 1").map_err(crate::error::query)
            }
            other => other.map_err(crate::error::query),
        }
    }

    /// Runs `f` in one write transaction on `conn`. On SQLite it first waits for its turn
    /// among the process's writers ([`WriteGate`]), so no writer sleeps in SQLite's busy
    /// handler; on MySQL the database orders writers itself, and a transaction it aborts
    /// (a deadlock, a lock wait timeout, a Galera node not ready: [`crate::error::is_transient`])
    /// is run again whole, up to [`WRITE_ATTEMPTS`] times with short jittered pauses. `f` must
    /// therefore be a closure that can run again from the start: it changes nothing outside
    /// the transaction (what it computes is returned, never accumulated in captured state).
    ///
    /// On a Galera node the transaction is guarded: after a brute-force abort (the cluster
    /// rolls it back in favour of a replicated one) the session's next statement fails with
    /// a deadlock, and any statement after that would run in autocommit, committing on its
    /// own. Every write here stops at its first error, and besides, `autocommit` is off for
    /// the transaction's length and a savepoint set after `BEGIN` must still exist just
    /// before `COMMIT`; when it is gone the transaction is not the one that began, and it is
    /// rolled back and run again (docs/operations.md, "Running on a Galera cluster").
    ///
    /// A connection lost while `COMMIT` ran is an uncertain outcome: the error is diesel's
    /// `RollbackErrorOnCommit`, which [`crate::error::query`] reports as
    /// [`roomwarden_domain::error::StoreError::Uncertain`], and nothing is retried.
    pub(crate) fn write<T>(
        &self,
        conn: &mut DbConnection,
        mut f: impl FnMut(&mut DbConnection) -> QueryResult<T>,
    ) -> QueryResult<T> {
        let _turn = self.writes.as_deref().map(WriteGate::enter);
        let guarded = self.galera.load(Ordering::Relaxed);
        let mut attempt = 0;
        loop {
            match transaction(conn, guarded, &mut f) {
                Err(e) if attempt + 1 < WRITE_ATTEMPTS && crate::error::is_transient(&e) => {
                    attempt += 1;
                    tracing::debug!(attempt, error = %e, "write transaction aborted by the database; retrying it whole");
                    std::thread::sleep(retry_pause(attempt));
                }
                outcome => return outcome,
            }
        }
    }

    /// SQLite only: the content of every transaction committed before the call leaves the
    /// WAL: a checkpoint that starts after the call copies the WAL into the main file and
    /// truncates it, so content that `secure_delete` zeroed is not left in older WAL frames.
    /// Concurrent callers share checkpoints ([`WalScrubber`]), which hold a write turn while
    /// they run. Returns once it is done, unless the caller runs inside
    /// [`crate::deferring_wal_scrub`], which hands the wait to the caller's caller. A no-op
    /// on MySQL.
    pub(crate) fn scrub_wal(&self) {
        if let Some(scrubber) = &self.scrubber {
            crate::sqlite_writes::scrub(scrubber);
        }
    }

    /// SQLite: copies what the WAL holds into the main file, on `conn`, waiting for no
    /// reader or writer (`wal_checkpoint(PASSIVE)`; it takes no write turn). The purger runs
    /// one after each batch, so that the WAL its batches write is copied in its own time:
    /// left to SQLite, the commit that finds the WAL past 1,000 pages copies it, and that
    /// is usually a send into another room, holding the write turn meanwhile. A no-op on
    /// MySQL; a failure is logged, the next one retries.
    pub(crate) fn copy_wal(conn: &mut DbConnection) {
        let copied = match conn {
            DbConnection::Sqlite(c) => c.batch_execute("PRAGMA wal_checkpoint(PASSIVE)"),
            #[cfg(feature = "mysql")]
            DbConnection::Mysql(_) => Ok(()),
        };
        if let Err(e) = copied {
            tracing::warn!(error = %e, "passive WAL checkpoint failed; the next one retries");
        }
    }

    /// SQLite: runs `f` once the checkpoint of the caller's last [`Self::scrub_wal`] has
    /// finished: at once when it has (the caller waited for it), else on the checkpoints'
    /// thread, without waiting for it here. At once on MySQL. `f` must not block.
    pub(crate) fn after_scrub(&self, f: impl FnOnce() + Send + 'static) {
        match &self.scrubber {
            Some(scrubber) => scrubber.when_asked_done(f),
            None => f(),
        }
    }

    /// Opens a unit of work on `conn`: a transaction that the calls made until
    /// [`Database::end_unit`] share ([`Database::write`] inside it becomes
    /// [`Database::write_in_unit`]). On SQLite it holds a write turn until it ends; on a
    /// Galera node it is guarded as [`Database::write`]'s transactions are. It is not run
    /// again when the database aborts it: its caller decides.
    pub(crate) fn begin_unit(&self, conn: &mut DbConnection) -> QueryResult<OpenUnit> {
        let turn = self.writes.as_ref().map(OwnedWriteTurn::enter);
        let guarded = self.galera.load(Ordering::Relaxed);
        begin(conn, guarded)?;
        Ok(OpenUnit {
            _turn: turn,
            guarded,
        })
    }

    /// Ends `unit`: commits it (`commit`), or rolls it back. A lost connection during
    /// `COMMIT` is reported as for [`Database::write`] (an uncertain outcome).
    pub(crate) fn end_unit(
        conn: &mut DbConnection,
        unit: OpenUnit,
        commit: bool,
    ) -> QueryResult<()> {
        let body = if commit {
            Ok(())
        } else {
            Err(diesel::result::Error::RollbackTransaction)
        };
        match end(conn, unit.guarded, body) {
            Err(diesel::result::Error::RollbackTransaction) => Ok(()),
            outcome => outcome,
        }
    }

    /// One write inside an open unit: a savepoint, so that a write that fails leaves the
    /// unit as it was; no turn of its own (the unit holds it) and no second run (an abort
    /// ends the whole unit).
    pub(crate) fn write_in_unit<T>(
        conn: &mut DbConnection,
        mut f: impl FnMut(&mut DbConnection) -> QueryResult<T>,
    ) -> QueryResult<T> {
        conn.transaction(|conn| f(conn))
    }

    /// The SQLite write gate, for tests that hold it.
    #[cfg(test)]
    pub(crate) fn write_gate(&self) -> Option<&WriteGate> {
        self.writes.as_deref()
    }
}

/// One run of `f` in a transaction: `BEGIN`, (the guard), `f`, (its check), `COMMIT`. A
/// failure before `COMMIT` rolls back; a `COMMIT` that fails on a lost connection is reported
/// as diesel's `RollbackErrorOnCommit` (the outcome is unknown).
///
/// The guard, on a Galera node: `autocommit` is off for the transaction's length, so that
/// statements after a brute-force abort open a new transaction instead of committing one
/// by one, and a savepoint set after `BEGIN` must still exist just before `COMMIT`.
fn transaction<T>(
    conn: &mut DbConnection,
    guarded: bool,
    f: &mut impl FnMut(&mut DbConnection) -> QueryResult<T>,
) -> QueryResult<T> {
    begin(conn, guarded)?;
    let body = f(conn);
    end(conn, guarded, body)
}

/// `BEGIN`, and the guard on a Galera node (see [`transaction`]).
fn begin(conn: &mut DbConnection, guarded: bool) -> QueryResult<()> {
    type Manager = <DbConnection as Connection>::TransactionManager;
    Manager::begin_transaction(conn)?;
    if guarded
        && let Err(e) = conn.batch_execute(&format!(
            "SET SESSION autocommit = 0; SAVEPOINT {INTACT_SAVEPOINT}"
        ))
    {
        let _ = Manager::rollback_transaction(conn);
        restore_autocommit(conn);
        return Err(e);
    }
    Ok(())
}

/// Ends a transaction that [`begin`] opened: commits it after a successful `body` (once
/// the guard's check passes), else rolls it back (see [`transaction`]).
fn end<T>(conn: &mut DbConnection, guarded: bool, body: QueryResult<T>) -> QueryResult<T> {
    type Manager = <DbConnection as Connection>::TransactionManager;
    let body = body.and_then(|value| {
        if guarded {
            conn.batch_execute(&format!("RELEASE SAVEPOINT {INTACT_SAVEPOINT}"))?;
        }
        Ok(value)
    });
    let committed = match body {
        Ok(value) => Manager::commit_transaction(conn).map(|()| value),
        Err(e) => {
            // The error that ended the body is the one that matters; a rollback that fails
            // leaves the connection broken, and the pool discards it.
            let _ = Manager::rollback_transaction(conn);
            if guarded {
                restore_autocommit(conn);
            }
            return Err(e);
        }
    };
    if guarded {
        restore_autocommit(conn);
    }
    match committed {
        Ok(value) => Ok(value),
        Err(e @ diesel::result::Error::RollbackErrorOnCommit { .. }) => Err(e),
        Err(e) if crate::error::is_connection_loss(&e) => {
            Err(diesel::result::Error::RollbackErrorOnCommit {
                rollback_error: Box::new(diesel::result::Error::BrokenTransactionManager),
                commit_error: Box::new(e),
            })
        }
        Err(e) => Err(e),
    }
}

/// Turns `autocommit` back on after a guarded transaction ended (committed or rolled back,
/// so nothing is open that it could commit). A connection where this fails is lost: the
/// failure marked it so ([`Manager`]), and it is discarded when it goes back to the pool.
fn restore_autocommit(conn: &mut DbConnection) {
    if let Err(e) = conn.batch_execute("SET SESSION autocommit = 1") {
        tracing::debug!(error = %e, "autocommit not restored; the connection is discarded when it goes back");
    }
}

/// A unit of work's open transaction ([`Database::begin_unit`]): the SQLite write turn it
/// holds until it ends, and whether it is guarded.
#[derive(Debug)]
pub(crate) struct OpenUnit {
    _turn: Option<OwnedWriteTurn>,
    guarded: bool,
}

/// Most runs of one write transaction that the database keeps aborting (see
/// [`Database::write`]); then its error stands (503 for a deadlock or a node not ready).
pub(crate) const WRITE_ATTEMPTS: u32 = 5;

/// The pause before run `attempt + 1` of an aborted transaction: 2, 4, 8, 16 ms, each plus
/// up to as much again at random, so that two transactions aborting each other part ways.
fn retry_pause(attempt: u32) -> std::time::Duration {
    let base = 1_u64 << attempt.min(6);
    let jitter = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()))
        % (base * 1000);
    std::time::Duration::from_micros(base * 1000 + jitter)
}

/// The writer of a `mysql://` URL that names several hosts (its probers started); `None`
/// for one host.
fn cluster_writer(url: &str, backend: Backend) -> anyhow::Result<Option<Arc<Writer>>> {
    if backend != Backend::Mysql {
        return Ok(None);
    }
    let nodes = crate::cluster::split_hosts(url)?;
    if nodes.len() < 2 {
        return Ok(None);
    }
    let writer = Arc::new(Writer::new(nodes));
    #[cfg(feature = "mysql")]
    crate::cluster::spawn_probers(&writer);
    Ok(Some(writer))
}

/// How long the start waits for a node list to elect a writer.
const ELECTION_WAIT: Duration = Duration::from_secs(15);

/// The URL of the elected writer, once there is one.
fn elected(writer: &Writer) -> anyhow::Result<String> {
    match writer.await_writer(ELECTION_WAIT) {
        Some(node) => Ok(node.url.clone()),
        None => {
            let labels: Vec<&str> = writer.nodes().iter().map(|n| n.label.as_str()).collect();
            bail!(
                "no database node can take writes (tried {} for {} s): none answers, or none is a synced member of the primary component",
                labels.join(", "),
                ELECTION_WAIT.as_secs()
            )
        }
    }
}

/// Connects; a MySQL database that does not exist yet is created first.
fn establish(target: &str, backend: Backend) -> anyhow::Result<DbConnection> {
    match open(target, backend) {
        Ok(conn) => Ok(conn),
        Err(e) if backend == Backend::Mysql && e.to_string().contains("Unknown database") => {
            create_mysql_database(target)?;
            open(target, backend)
                .map_err(|e| anyhow::anyhow!("cannot connect to the database: {e}"))
        }
        Err(e) => Err(anyhow::anyhow!("cannot connect to the database: {e}")),
    }
}

/// `CREATE DATABASE IF NOT EXISTS` for the database a `mysql://` URL names.
fn create_mysql_database(url: &str) -> anyhow::Result<()> {
    let (server, name) = mysql_server_and_name(url)?;
    let mut conn = open(&server, Backend::Mysql)
        .map_err(|e| anyhow::anyhow!("cannot connect to the database server: {e}"))?;
    conn.batch_execute(&format!(
        "CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
    ))
    .with_context(|| format!("cannot create database {name}"))?;
    tracing::info!(database = name, "created MySQL database");
    Ok(())
}

/// `DROP DATABASE IF EXISTS` for the database a `mysql://` URL names (through the first
/// of its hosts that answers), waiting at most 5 s for connections still using it (a test's
/// fresh database, [`crate::testing`]).
#[cfg(all(feature = "mysql", any(test, feature = "testing")))]
pub(crate) fn drop_mysql_database(url: &str) -> anyhow::Result<()> {
    let (mut conn, name) = mysql_server_of(url)?;
    conn.batch_execute(&format!(
        "SET SESSION lock_wait_timeout = 5; DROP DATABASE IF EXISTS `{name}`"
    ))
    .with_context(|| format!("cannot drop database {name}"))
}

/// A connection to the server of a `mysql://` URL, without its database (the first of a
/// host list's servers that answers), and the database's name.
#[cfg(all(feature = "mysql", any(test, feature = "testing")))]
pub(crate) fn mysql_server_of(url: &str) -> anyhow::Result<(DbConnection, String)> {
    let mut failed = None;
    for node in crate::cluster::split_hosts(url)? {
        let (server, name) = mysql_server_and_name(&node.url)?;
        match open(&server, Backend::Mysql) {
            Ok(conn) => return Ok((conn, name.to_owned())),
            Err(e) => failed = Some(e),
        }
    }
    Err(anyhow::anyhow!(
        "cannot connect to the database server: {}",
        failed.map_or_else(|| "no host".to_owned(), |e| e.to_string())
    ))
}

/// The server's URL (the query kept) and the database's name, of a `mysql://` URL whose
/// database name is letters, digits and underscores.
fn mysql_server_and_name(url: &str) -> anyhow::Result<(String, &str)> {
    let (base, rest) = url
        .rsplit_once('/')
        .filter(|(base, _)| base.len() > "mysql://".len())
        .ok_or_else(|| anyhow::anyhow!("mysql:// URL names no database"))?;
    let (name, query) = rest.split_once('?').map_or((rest, ""), |(n, q)| (n, q));
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        bail!(
            "MySQL database name must be letters, digits and underscores to be created automatically"
        );
    }
    let server = if query.is_empty() {
        base.to_owned()
    } else {
        format!("{base}/?{query}")
    };
    Ok((server, name))
}

fn run_migrations(conn: &mut DbConnection) -> anyhow::Result<()> {
    let applied = match conn {
        DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
        #[cfg(feature = "mysql")]
        DbConnection::Mysql(c) => c.run_pending_migrations(MYSQL_MIGRATIONS).map(|v| v.len()),
    }
    .map_err(|e| anyhow::anyhow!("database migration failed: {e}"))?;
    if applied > 0 {
        tracing::info!(applied, "database migrations applied");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::sql_types::BigInt;

    /// A fresh database of the backend under test (MySQL when `ROOMWARDEN_TEST_MYSQL_URL` is
    /// set), with a pool of one connection so that the same connection is reused.
    fn single_connection_database() -> (Database, crate::testing::FreshDatabase) {
        let fresh = crate::testing::FreshDatabase::new();
        let options = PoolOptions {
            max_size: 1,
            ..PoolOptions::default()
        };
        (
            Database::connect(&fresh.url, &options).expect("connects"),
            fresh,
        )
    }

    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }

    fn settings_rows(conn: &mut DbConnection) -> i64 {
        diesel::sql_query("SELECT COUNT(*) AS n FROM settings")
            .get_result::<Count>(conn)
            .expect("counted")
            .n
    }

    /// The queue items' migration fills `report_items` from the reports already there, as
    /// the writes after it keep them (`store::reports::refresh_items`).
    #[test]
    fn the_report_items_migration_fills_the_queues_from_the_reports_before_it() {
        #[derive(QueryableByName, Debug, PartialEq)]
        struct Item {
            #[diesel(sql_type = diesel::sql_types::Text)]
            state: String,
            #[diesel(sql_type = diesel::sql_types::Text)]
            message_id: String,
            #[diesel(sql_type = diesel::sql_types::Text)]
            sender: String,
            #[diesel(sql_type = BigInt)]
            seq: i64,
            #[diesel(sql_type = BigInt)]
            n: i64,
            #[diesel(sql_type = BigInt)]
            first_at: i64,
            #[diesel(sql_type = BigInt)]
            last_at: i64,
            #[diesel(sql_type = BigInt)]
            n_spam: i64,
            #[diesel(sql_type = BigInt)]
            n_abuse: i64,
            #[diesel(sql_type = BigInt)]
            n_other: i64,
        }
        let (db, _fresh) = single_connection_database();
        let mut pooled = db.conn().expect("connection");
        let conn: &mut DbConnection = &mut pooled;
        // Back to just before the queue items' migration (later ones reverted too).
        loop {
            let reverted = match conn {
                DbConnection::Sqlite(c) => c.revert_last_migration(SQLITE_MIGRATIONS),
                #[cfg(feature = "mysql")]
                DbConnection::Mysql(c) => c.revert_last_migration(MYSQL_MIGRATIONS),
            }
            .expect("reverted");
            if reverted.to_string() == "20261206000015" {
                break;
            }
        }
        conn.batch_execute(
            "INSERT INTO reports (id, room_id, message_id, message_seq, sender, \
             message_created_at, reporter, category, created_at, state) VALUES \
             ('r1', 'room', 'm1', 5, 's', 1, 'a', 'spam', 10, 'open'), \
             ('r2', 'room', 'm1', 7, 's', 1, 'b', 'abuse', 20, 'open'), \
             ('r3', 'room', 'm2', 9, 't', 1, 'a', 'other', 30, 'dismissed')",
        )
        .expect("inserted");
        run_migrations(conn).expect("migrated");
        let items: Vec<Item> = diesel::sql_query(
            "SELECT state, message_id, sender, seq, n, first_at, last_at, n_spam, n_abuse, \
             n_other FROM report_items ORDER BY state, message_id",
        )
        .load(conn)
        .expect("read");
        let item = |state: &str, message: &str, sender: &str, seq, n, first_at, last_at| Item {
            state: state.to_owned(),
            message_id: message.to_owned(),
            sender: sender.to_owned(),
            seq,
            n,
            first_at,
            last_at,
            n_spam: 0,
            n_abuse: 0,
            n_other: 0,
        };
        let open = Item {
            n_spam: 1,
            n_abuse: 1,
            ..item("open", "m1", "s", 7, 2, 10, 20)
        };
        let dismissed = Item {
            n_other: 1,
            ..item("dismissed", "m2", "t", 9, 1, 30, 30)
        };
        assert_eq!(items, vec![dismissed, open]);
    }

    /// The bundled SQLite keeps a statement's plan whatever is bound to it
    /// (`.cargo/config.toml`): without that, binding a `LIMIT` expires a cached statement
    /// and every run compiles it again (docs/benchmarks.md).
    #[test]
    fn the_bundled_sqlite_has_the_query_planner_stability_guarantee() {
        #[derive(QueryableByName)]
        struct CompileOption {
            #[diesel(sql_type = diesel::sql_types::Text)]
            compile_options: String,
        }
        let mut conn = diesel::SqliteConnection::establish(":memory:").expect("opened");
        let options: Vec<CompileOption> = diesel::sql_query("PRAGMA compile_options")
            .load(&mut conn)
            .expect("read");
        assert!(
            options.iter().any(|o| o.compile_options == "ENABLE_QPSG"),
            "LIBSQLITE3_FLAGS lost SQLITE_ENABLE_QPSG"
        );
    }

    #[test]
    fn a_connection_left_in_a_transaction_by_a_panic_is_not_reused() {
        let (db, fresh) = single_connection_database();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut conn = db.conn().expect("checked out");
            let _ = conn.transaction::<(), diesel::result::Error, _>(|conn| {
                conn.batch_execute("INSERT INTO settings (name, value) VALUES ('lost', 'x')")?;
                panic!("a bug inside a transaction");
            });
        }));
        assert!(panicked.is_err());

        let mut conn = db.conn().expect("a connection after the panic");
        conn.transaction::<(), diesel::result::Error, _>(|conn| {
            conn.batch_execute("INSERT INTO settings (name, value) VALUES ('kept', 'y')")
        })
        .expect("committed");
        drop(conn);

        // Seen from another connection: the second write committed, the first did not.
        let other = Database::connect(&fresh.url, &PoolOptions::default()).expect("connects");
        let mut fresh = other.conn().expect("fresh connection");
        assert_eq!(settings_rows(&mut fresh), 1);
        let kept: i64 = diesel::sql_query("SELECT COUNT(*) AS n FROM settings WHERE name = 'kept'")
            .get_result::<Count>(&mut **fresh)
            .expect("counted")
            .n;
        assert_eq!(kept, 1);
    }
}
