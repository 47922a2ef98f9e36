//! Fresh databases for tests (feature `testing`): the one helper the contract suite, the
//! app's black-box suite and this crate's unit tests share.
//!
//! SQLite by default (a temporary file, removed on drop). With `ROOMWARDEN_TEST_MYSQL_URL`
//! set to a server URL (`mysql://root@127.0.0.1:3306`) and the `mysql` feature, a new
//! `rw_test_*` database on that server instead (dropped on drop). `ROOMWARDEN_REQUIRE_MYSQL=1` (set by CI)
//! makes a missing URL panic instead of silently testing SQLite.

use std::path::PathBuf;

/// A fresh, empty database of the backend this test run uses, removed when this is dropped:
/// drop it after whatever uses the database (a MySQL `DROP DATABASE` waits up to 5 s for
/// connections still inside a transaction on it).
#[derive(Debug)]
pub struct FreshDatabase {
    /// Its URL, for [`crate::Database::connect`] or `ROOMWARDEN_DATABASE_URL`.
    pub url: String,
    /// The SQLite file, removed (with its WAL and shared-memory files) on drop.
    pub sqlite_file: Option<PathBuf>,
}

impl FreshDatabase {
    /// Names a new database; it is created when first connected to.
    ///
    /// # Panics
    /// When CI requires MySQL and no server URL is set, or the URL is set in a build
    /// without the `mysql` feature.
    #[must_use]
    pub fn new() -> Self {
        Self::labelled("")
    }

    /// [`Self::new`], with `label` (letters, digits, underscores) in the database's name,
    /// to tell whose it is.
    ///
    /// # Panics
    /// As [`Self::new`].
    #[must_use]
    pub fn labelled(label: &str) -> Self {
        let random = &roomwarden_domain::auth::generate_secret()[..12];
        let name = if label.is_empty() {
            random.to_owned()
        } else {
            format!("{label}_{random}")
        };
        match mysql_server() {
            Some(server) => Self {
                url: format!("{}/rw_test_{name}", server.trim_end_matches('/')),
                sqlite_file: None,
            },
            None => {
                let path = std::env::temp_dir().join(format!("roomwarden-test-{name}.db"));
                Self {
                    url: format!("sqlite://{}", path.display()),
                    sqlite_file: Some(path),
                }
            }
        }
    }
}

impl Default for FreshDatabase {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        remove_sqlite(self.sqlite_file.as_deref());
        #[cfg(feature = "mysql")]
        if self.url.starts_with("mysql://")
            && let Err(e) = crate::db::drop_mysql_database(&self.url)
        {
            eprintln!("test database {} left behind: {e:#}", self.url);
        }
    }
}

/// The MySQL server URL to test against, if this run uses MySQL.
///
/// # Panics
/// As [`FreshDatabase::new`].
#[must_use]
pub fn mysql_server() -> Option<String> {
    let url = std::env::var("ROOMWARDEN_TEST_MYSQL_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() && std::env::var("ROOMWARDEN_REQUIRE_MYSQL").is_ok_and(|v| v == "1") {
        panic!("ROOMWARDEN_REQUIRE_MYSQL=1 but ROOMWARDEN_TEST_MYSQL_URL is not set");
    }
    if url.is_some() && cfg!(not(feature = "mysql")) {
        panic!("ROOMWARDEN_TEST_MYSQL_URL is set but this build lacks --features mysql");
    }
    url
}

/// The step between the `seq`s the database hands out (3 on a 3-node Galera cluster, else 1).
///
/// # Panics
/// On any storage failure.
#[must_use]
pub fn seq_step(db: &crate::Database) -> i64 {
    let mut conn = db.conn().expect("connection");
    crate::db::seq_step(&mut conn).expect("read")
}

/// Removes an SQLite database file with its WAL and shared-memory files.
pub fn remove_sqlite(path: Option<&std::path::Path>) {
    if let Some(path) = path {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}

/// Direct access to a test database's rows, for what the API cannot do: seeding many
/// messages at once, back-dating one, and counting rows that are invisible to the API.
pub struct Rows(crate::Database);

impl Rows {
    /// Opens the database at `url` (migrated if new).
    ///
    /// # Panics
    /// When it cannot be opened.
    #[must_use]
    pub fn open(url: &str) -> Self {
        Self(
            crate::Database::connect(url, &crate::PoolOptions::default())
                .expect("test database opens"),
        )
    }

    /// Inserts `n` messages `"<prefix>-<i>"` from `sender` into `room` (both must exist),
    /// sent at `sent_at_ms`, and counts them in the room's visible count, as sends would.
    ///
    /// # Panics
    /// On any storage failure.
    pub fn seed(&self, room: &str, sender: &str, prefix: &str, n: usize, sent_at_ms: i64) {
        use crate::schema::rooms;
        use diesel::prelude::*;
        let mut conn = self.0.conn().expect("connection");
        self.0
            .write(&mut conn, |conn| {
                // One multi-row statement per 500 (diesel's batch insert is not available
                // over the multi-backend connection); the values are the test's own.
                let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
                for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
                    let values: Vec<String> = chunk
                        .iter()
                        .map(|i| {
                            format!(
                                "({}, {}, {}, 'text', {}, {sent_at_ms})",
                                quote(&format!("{prefix}-{i}")),
                                quote(room),
                                quote(sender),
                                quote(&format!("\"{prefix} {i}\"")),
                            )
                        })
                        .collect();
                    diesel::sql_query(format!(
                        "INSERT INTO messages (id, room_id, sender, message_type, body, created_at) VALUES {}",
                        values.join(", ")
                    ))
                    .execute(conn)?;
                }
                diesel::update(rooms::table.find(room))
                    .set(rooms::visible_count.eq(rooms::visible_count + i64::try_from(n).unwrap_or(0)))
                    .execute(conn)
            })
            .expect("seeded");
    }

    /// Sets the sending time of message `id`.
    ///
    /// # Panics
    /// On any storage failure, or when there is no such message.
    pub fn backdate(&self, id: &str, sent_at_ms: i64) {
        use crate::schema::messages;
        use diesel::prelude::*;
        let mut conn = self.0.conn().expect("connection");
        let n = self
            .0
            .write(&mut conn, |conn| {
                diesel::update(messages::table.filter(messages::id.eq(id)))
                    .set(messages::created_at.eq(sent_at_ms))
                    .execute(conn)
            })
            .expect("updated");
        assert_eq!(n, 1, "message {id} exists");
    }

    /// How many rows of `room` are stored (visible or not), of `sender` when given.
    ///
    /// # Panics
    /// On any storage failure.
    #[must_use]
    pub fn stored(&self, room: &str, sender: Option<&str>) -> i64 {
        use crate::schema::messages;
        use diesel::prelude::*;
        let mut conn = self.0.conn().expect("connection");
        let mut q = messages::table
            .filter(messages::room_id.eq(room))
            .into_boxed();
        if let Some(s) = sender {
            q = q.filter(messages::sender.eq(s));
        }
        q.count().get_result(&mut **conn).expect("counted")
    }

    /// The idempotency records stored and the bytes of their answers (bodies and redacted
    /// bodies), as the database holds them.
    ///
    /// # Panics
    /// On any storage failure.
    #[must_use]
    pub fn idempotency_storage(&self) -> (i64, i64) {
        use crate::schema::idempotency_keys as keys;
        use diesel::dsl::sql;
        use diesel::prelude::*;
        use diesel::sql_types::BigInt;
        let mut conn = self.0.conn().expect("connection");
        keys::table
            .select((
                sql::<BigInt>("COUNT(*)"),
                sql::<BigInt>(
                    "CAST(COALESCE(SUM(LENGTH(body)), 0) + COALESCE(SUM(LENGTH(redacted_body)), 0) AS SIGNED)",
                ),
            ))
            .first(&mut **conn)
            .expect("counted")
    }

    /// Runs `sql` (statements of the test's own, such as a trigger that simulates a
    /// database failure) on one connection.
    ///
    /// # Panics
    /// On any failure.
    pub fn execute(&self, sql: &str) {
        use diesel::connection::SimpleConnection;
        let mut conn = self.0.conn().expect("connection");
        conn.batch_execute(sql).expect("executed");
    }

    /// The `seq` of the audit record `id`.
    ///
    /// # Panics
    /// On any storage failure, or when there is no such record.
    #[must_use]
    pub fn deletion_seq(&self, id: &str) -> i64 {
        use crate::schema::deletions;
        use diesel::prelude::*;
        let mut conn = self.0.conn().expect("connection");
        deletions::table
            .filter(deletions::id.eq(id))
            .select(deletions::seq)
            .first(&mut **conn)
            .expect("a record")
    }
}

#[cfg(test)]
mod tests {
    use super::FreshDatabase;

    /// Whether the database of `url` is still there: its file, or its MySQL schema.
    fn exists(url: &str, sqlite_file: Option<&std::path::Path>) -> bool {
        if let Some(file) = sqlite_file {
            return file.exists();
        }
        #[cfg(feature = "mysql")]
        {
            use diesel::connection::SimpleConnection;
            let (mut conn, name) = crate::db::mysql_server_of(url).expect("the server answers");
            conn.batch_execute(&format!("USE `{name}`")).is_ok()
        }
        #[cfg(not(feature = "mysql"))]
        unreachable!("{url}: no file, and no MySQL in this build")
    }

    #[test]
    fn a_fresh_database_is_gone_once_dropped() {
        let fresh = FreshDatabase::labelled("dropped");
        let db = crate::Database::connect(&fresh.url, &crate::PoolOptions::default())
            .expect("created and migrated");
        drop(db);
        let (url, file) = (fresh.url.clone(), fresh.sqlite_file.clone());
        assert!(exists(&url, file.as_deref()), "{url} was made");
        drop(fresh);
        assert!(!exists(&url, file.as_deref()), "{url} is left behind");
    }
}
