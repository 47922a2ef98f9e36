//! Connections, the pool, per-connection settings and embedded migrations.

use crate::sqlite_writes::{WalScrubber, WriteGate};
use anyhow::{Context, bail};
use diesel::ConnectionError;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use r2d2::{Pool, PooledConnection};
use std::sync::Arc;
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
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_size: 10,
            checkout_timeout: Duration::from_secs(5),
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
#[derive(Debug)]
pub struct Manager {
    target: String,
    backend: Backend,
}

impl r2d2::ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = ConnectionError;

    fn connect(&self) -> Result<DbConnection, ConnectionError> {
        open(&self.target, self.backend)
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), ConnectionError> {
        conn.batch_execute("SELECT 1")
            .map_err(ConnectionError::CouldntSetupConfiguration)
    }

    /// A connection returned while its thread panics, or with a transaction still open or
    /// failed, is discarded instead of pooled: reused, its open transaction would turn the
    /// next caller's transaction into a savepoint that never commits.
    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        std::thread::panicking() || diesel::r2d2::R2D2Connection::is_broken(conn)
    }
}

/// Applies the session settings ([`setup_session`]) to every new pooled connection.
#[derive(Debug)]
struct SessionSetup;

impl r2d2::CustomizeConnection<DbConnection, ConnectionError> for SessionSetup {
    fn on_acquire(&self, conn: &mut DbConnection) -> Result<(), ConnectionError> {
        setup_session(conn).map_err(ConnectionError::CouldntSetupConfiguration)
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
        let target = diesel_url(url)?;
        let mut conn = establish(&target, backend)?;
        setup_session(&mut conn).context("cannot configure the database session")?;
        run_migrations(&mut conn)?;
        drop(conn);
        let pool = Pool::builder()
            .max_size(options.max_size)
            .min_idle(Some(0))
            .connection_timeout(options.checkout_timeout)
            .connection_customizer(Box::new(SessionSetup))
            .build_unchecked(Manager {
                target: target.clone(),
                backend,
            });
        let sqlite = backend == Backend::Sqlite;
        let scrubber = match backend {
            Backend::Sqlite => Some(Arc::new(
                WalScrubber::open(&target).context("cannot open the checkpoint connection")?,
            )),
            Backend::Mysql => None,
        };
        Ok(Self {
            pool,
            backend,
            writes: sqlite.then(Arc::default),
            scrubber,
        })
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
        conn.batch_execute("SELECT 1").map_err(crate::error::query)
    }

    /// Runs `f` in one write transaction on `conn`. On SQLite it first waits for its turn
    /// among the process's writers ([`WriteGate`]), so no writer sleeps in SQLite's busy
    /// handler; on MySQL the database orders writers itself, and a transaction it aborts
    /// (a deadlock, a lock wait timeout, a Galera node not ready: [`crate::error::is_transient`])
    /// is run again whole, up to [`WRITE_ATTEMPTS`] times with short jittered pauses. `f` must
    /// therefore be a closure that can run again from the start: it changes nothing outside
    /// the transaction (what it computes is returned, never accumulated in captured state).
    pub(crate) fn write<T>(
        &self,
        conn: &mut DbConnection,
        mut f: impl FnMut(&mut DbConnection) -> QueryResult<T>,
    ) -> QueryResult<T> {
        let _turn = self.writes.as_deref().map(WriteGate::enter);
        let mut attempt = 0;
        loop {
            match conn.transaction(&mut f) {
                Err(e) if attempt + 1 < WRITE_ATTEMPTS && crate::error::is_transient(&e) => {
                    attempt += 1;
                    tracing::debug!(attempt, error = %e, "write transaction aborted by the database; retrying it whole");
                    std::thread::sleep(retry_pause(attempt));
                }
                outcome => return outcome,
            }
        }
    }

    /// SQLite only: returns once the content of every transaction committed before the call
    /// is out of the WAL: a checkpoint that started after the call copies the WAL into the
    /// main file and truncates it, so content that `secure_delete` zeroed is not left in
    /// older WAL frames. Concurrent callers share checkpoints ([`WalScrubber`]), which hold a
    /// write turn while they run. A no-op on MySQL.
    pub(crate) fn scrub_wal(&self) {
        if let Some(scrubber) = &self.scrubber {
            scrubber.after_commit(|| self.writes.as_deref().map(WriteGate::enter));
        }
    }

    /// The SQLite write gate, for tests that hold it.
    #[cfg(test)]
    pub(crate) fn write_gate(&self) -> Option<&WriteGate> {
        self.writes.as_deref()
    }
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
    let mut conn = open(&server, Backend::Mysql)
        .map_err(|e| anyhow::anyhow!("cannot connect to the database server: {e}"))?;
    conn.batch_execute(&format!(
        "CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
    ))
    .with_context(|| format!("cannot create database {name}"))?;
    tracing::info!(database = name, "created MySQL database");
    Ok(())
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
            checkout_timeout: Duration::from_secs(5),
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
            .get_result::<Count>(&mut fresh)
            .expect("counted")
            .n;
        assert_eq!(kept, 1);
    }
}
