//! The harness's own database connections: seeding rooms with raw SQL (fast), watching rows
//! and the outbox drain, and the **floor**: the server's transactions issued straight at
//! the database, without HTTP, on connections of their own.
//!
//! The floor sends each transaction's statements (the ones the store issues, see
//! `src/store/messages.rs`) as one batch: one round trip instead of one per statement,
//! so it is, if anything, faster than the server could ever be.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

/// A connection of either backend.
pub enum Sql {
    Sqlite(diesel::SqliteConnection),
    #[cfg(feature = "mysql")]
    Mysql(diesel::MysqlConnection),
}

#[derive(QueryableByName)]
struct Busy {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    busy: i32,
}

#[derive(QueryableByName)]
struct T {
    #[diesel(sql_type = diesel::sql_types::Text)]
    t: String,
}

#[derive(QueryableByName)]
struct RoomN {
    #[diesel(sql_type = diesel::sql_types::Text)]
    room_id: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct N {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// A value bound to a floor statement the way the store binds it.
pub enum Bind {
    Text(String),
    Int(i64),
}

/// An item of a report queue's aggregate (`store/reports.rs`, `ItemRow`).
#[derive(QueryableByName)]
#[expect(dead_code, reason = "decoded as the server decodes it, not read")]
pub struct QueueItem {
    #[diesel(sql_type = Text)]
    pub room_id: String,
    #[diesel(sql_type = Text)]
    pub message_id: String,
    #[diesel(sql_type = Text)]
    sender: String,
    #[diesel(sql_type = BigInt)]
    pub seq: i64,
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
    n_sensitive: i64,
    #[diesel(sql_type = BigInt)]
    n_other: i64,
}

/// A report row as the queue's newest-reports query reads it (`store/reports.rs`,
/// `ReportRow`).
#[derive(QueryableByName)]
#[expect(dead_code, reason = "decoded as the server decodes it, not read")]
struct ReportRow {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    room_id: String,
    #[diesel(sql_type = Text)]
    message_id: String,
    #[diesel(sql_type = Text)]
    sender: String,
    #[diesel(sql_type = Text)]
    reporter: String,
    #[diesel(sql_type = Text)]
    category: String,
    #[diesel(sql_type = Nullable<Text>)]
    reason: Option<String>,
    #[diesel(sql_type = BigInt)]
    created_at: i64,
    #[diesel(sql_type = Text)]
    state: String,
    #[diesel(sql_type = Nullable<Text>)]
    deletion_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    dismissed_by: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    dismissed_at: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    dismiss_reason: Option<String>,
}

/// A visible message's content, as the queue reads it.
#[derive(QueryableByName)]
#[expect(dead_code, reason = "decoded as the server decodes it, not read")]
struct Content {
    #[diesel(sql_type = BigInt)]
    seq: i64,
    #[diesel(sql_type = Text)]
    body: String,
}

/// A row type the MySQL connection can load too (nothing more without the `mysql` feature).
#[cfg(feature = "mysql")]
pub trait MysqlRow: QueryableByName<diesel::mysql::Mysql> {}
#[cfg(feature = "mysql")]
impl<T: QueryableByName<diesel::mysql::Mysql>> MysqlRow for T {}
#[cfg(not(feature = "mysql"))]
pub trait MysqlRow {}
#[cfg(not(feature = "mysql"))]
impl<T> MysqlRow for T {}

/// Reports a queue item lists (`QUEUE_REPORTS` in the domain).
const QUEUE_REPORTS: usize = 10;

/// The store's visibility rule without expired rows (`filter_sql::visible`), with its time
/// and default retention (none: 10,000,000 days) bound.
const VISIBLE: &str = "NOT EXISTS (SELECT 1 FROM erasures e \
     WHERE e.room_id = messages.room_id \
     AND messages.seq > e.above_seq AND messages.seq <= e.through_seq \
     AND (e.sender = '' OR e.sender = messages.sender) \
     AND messages.created_at > e.after_ms AND messages.created_at < e.before_ms) \
     AND messages.created_at + 0 >= ? - COALESCE(rooms.retention_days, ?) * 86400000";

impl Sql {
    /// Connects to `url` (`sqlite://…` or `mysql://…`).
    pub fn open(url: &str) -> anyhow::Result<Self> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            let mut c = diesel::SqliteConnection::establish(path)?;
            c.batch_execute("PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA secure_delete = ON;")?;
            return Ok(Self::Sqlite(c));
        }
        #[cfg(feature = "mysql")]
        if url.starts_with("mysql://") {
            let mut c = diesel::MysqlConnection::establish(url)?;
            c.batch_execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")?;
            return Ok(Self::Mysql(c));
        }
        anyhow::bail!("unsupported database URL {url}")
    }

    pub fn is_sqlite(&self) -> bool {
        matches!(self, Self::Sqlite(_))
    }

    pub fn run(&mut self, sql: &str) -> anyhow::Result<()> {
        match self {
            Self::Sqlite(c) => c.batch_execute(sql)?,
            #[cfg(feature = "mysql")]
            Self::Mysql(c) => c.batch_execute(sql)?,
        }
        Ok(())
    }

    /// Runs the statements of `sql` one round trip each (where [`Self::run`] sends them as
    /// one batch). It splits at `;`, so no statement may hold one in a value: the floor's
    /// values are the harness's own IDs, numbers and the event's JSON, none with a `;`.
    pub fn run_each(&mut self, sql: &str) -> anyhow::Result<()> {
        for statement in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            self.run(statement)?;
        }
        Ok(())
    }

    /// A query returning one number in a column named `n`.
    pub fn number(&mut self, sql: &str) -> anyhow::Result<i64> {
        let q = diesel::sql_query(sql);
        Ok(match self {
            Self::Sqlite(c) => q.get_result::<N>(c)?.n,
            #[cfg(feature = "mysql")]
            Self::Mysql(c) => q.get_result::<N>(c)?.n,
        })
    }

    /// A query returning `(room_id, n)` rows.
    fn room_counts(&mut self, sql: &str) -> anyhow::Result<Vec<(String, i64)>> {
        let q = diesel::sql_query(sql);
        let rows: Vec<RoomN> = match self {
            Self::Sqlite(c) => q.load(c)?,
            #[cfg(feature = "mysql")]
            Self::Mysql(c) => q.load(c)?,
        };
        Ok(rows.into_iter().map(|r| (r.room_id, r.n)).collect())
    }

    /// A query returning one string in a column named `t`.
    pub fn text(&mut self, sql: &str) -> anyhow::Result<String> {
        let q = diesel::sql_query(sql);
        Ok(match self {
            Self::Sqlite(c) => q.get_result::<T>(c)?.t,
            #[cfg(feature = "mysql")]
            Self::Mysql(c) => q.get_result::<T>(c)?.t,
        })
    }

    /// Adds `n` messages `<room>-000000001`… to `room` and counts them as visible, the way
    /// the server's sends would have left the room.
    pub fn seed(&mut self, room: &str, n: u64) -> anyhow::Result<()> {
        let prefix = format!("{room}-");
        if self.is_sqlite() {
            return self.run(&format!(
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {n})
                 INSERT INTO messages (id, room_id, sender, message_type, body, created_at)
                 SELECT printf('{prefix}%09d', x), '{room}', 'mod', 'text',
                        '\"spam message number ' || x || '\"', 0 FROM c;
                 UPDATE rooms SET visible_count = visible_count + {n} WHERE id = '{room}';"
            ));
        }
        // MariaDB: numbers from six digit tables (no deep recursion), in order.
        let digits = "(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 \
                      UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 \
                      UNION ALL SELECT 8 UNION ALL SELECT 9)";
        self.run(&format!(
            "INSERT INTO messages (id, room_id, sender, message_type, body, created_at)
             SELECT CONCAT('{prefix}', LPAD(x, 9, '0')), '{room}', 'mod', 'text',
                    CONCAT('\"spam message number ', x, '\"'), 0
             FROM (SELECT 1 + a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d + 100000 * g.d AS x
                   FROM {digits} a, {digits} b, {digits} c, {digits} e, {digits} f, {digits} g) n
             WHERE x <= {n} ORDER BY x;
             UPDATE rooms SET visible_count = visible_count + {n} WHERE id = '{room}';"
        ))
    }

    /// Adds `n` (at most 1,000,000) single-delete audit records of `room` without hash, as
    /// a release before the audit chain left them: IDs of 24 hex digits, oldest first, one
    /// millisecond apart, every fourth with a reason.
    pub fn seed_deletions(&mut self, room: &str, n: u64) -> anyhow::Result<()> {
        anyhow::ensure!(n <= 1_000_000, "at most 1,000,000 records");
        let t0 = 1_764_000_000_000_i64;
        if self.is_sqlite() {
            return self.run(&format!(
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {n})
                 INSERT INTO deletions (id, room_id, message_id, deleted_count, deleted_by, deleted_at, reason)
                 SELECT printf('%08x%016x', {t0} / 1000, x), '{room}', printf('{room}-%09d', x), 1,
                        'mod', {t0} + x, CASE WHEN x % 4 = 0 THEN 'spam, removed by the moderator' END
                 FROM c;"
            ));
        }
        let digits = "(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 \
                      UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 \
                      UNION ALL SELECT 8 UNION ALL SELECT 9)";
        self.run(&format!(
            "INSERT INTO deletions (id, room_id, message_id, deleted_count, deleted_by, deleted_at, reason)
             SELECT CONCAT(LOWER(HEX({t0} DIV 1000)), LPAD(LOWER(HEX(x)), 16, '0')), '{room}',
                    CONCAT('{room}-', LPAD(x, 9, '0')), 1, 'mod', {t0} + x,
                    CASE WHEN x % 4 = 0 THEN 'spam, removed by the moderator' END
             FROM (SELECT 1 + a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d + 100000 * g.d AS x
                   FROM {digits} a, {digits} b, {digits} c, {digits} e, {digits} f, {digits} g) n
             WHERE x <= {n} ORDER BY x;"
        ))
    }

    /// Adds `n` messages `<room>-000000001`… to `room` from `senders` clients
    /// `<who>0`, `<who>1`… in turn, message `x` sent at `t0 + x` milliseconds, and counts
    /// them as visible.
    pub fn seed_from(
        &mut self,
        room: &str,
        n: u64,
        who: &str,
        senders: u64,
        t0: i64,
    ) -> anyhow::Result<()> {
        let prefix = format!("{room}-");
        if self.is_sqlite() {
            return self.run(&format!(
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {n})
                 INSERT INTO messages (id, room_id, sender, message_type, body, created_at)
                 SELECT printf('{prefix}%09d', x), '{room}', '{who}' || (x % {senders}), 'text',
                        '\"message number ' || x || '\"', {t0} + x FROM c;
                 UPDATE rooms SET visible_count = visible_count + {n} WHERE id = '{room}';"
            ));
        }
        let digits = "(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 \
                      UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 \
                      UNION ALL SELECT 8 UNION ALL SELECT 9)";
        self.run(&format!(
            "INSERT INTO messages (id, room_id, sender, message_type, body, created_at)
             SELECT CONCAT('{prefix}', LPAD(x, 9, '0')), '{room}', CONCAT('{who}', x % {senders}), 'text',
                    CONCAT('\"message number ', x, '\"'), {t0} + x
             FROM (SELECT 1 + a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d + 100000 * g.d AS x
                   FROM {digits} a, {digits} b, {digits} c, {digits} e, {digits} f, {digits} g) n
             WHERE x <= {n} ORDER BY x;
             UPDATE rooms SET visible_count = visible_count + {n} WHERE id = '{room}';"
        ))
    }

    /// Rows of `room` still in the table (visible or waiting for the purge).
    pub fn rows(&mut self, room: &str) -> anyhow::Result<i64> {
        self.number(&format!(
            "SELECT COUNT(*) AS n FROM messages WHERE room_id = '{room}'"
        ))
    }

    /// Rows in the table matching `condition` (raw SQL over `messages`).
    pub fn rows_where(&mut self, condition: &str) -> anyhow::Result<i64> {
        self.number(&format!(
            "SELECT COUNT(*) AS n FROM messages WHERE {condition}"
        ))
    }

    /// Floor of a filtered clear of each of `rooms`, in one transaction as the server
    /// commits them: the authentication read, then per room its lock and state, the count
    /// of the rows `condition` covers (once, before the batch: it decides the removal),
    /// their removal (`DELETE` when at most 5,000 so far in
    /// this transaction, else the erasure row) and the audit record and event; then commit.
    pub fn filtered_clear(
        &mut self,
        token_hash: &str,
        rooms: &[String],
        condition: &str,
        deletion: &str,
    ) -> anyhow::Result<()> {
        let now = chrono::Utc::now().timestamp_millis();
        let mut budget: i64 = 5_000;
        let mut batch = format!(
            "SELECT client_id, expires_at, revoked FROM tokens WHERE token_hash = '{token_hash}'; BEGIN;"
        );
        for (i, room) in rooms.iter().enumerate() {
            let covered = self.number(&format!(
                "SELECT COUNT(*) AS n FROM messages WHERE room_id = '{room}' AND {condition}"
            ))?;
            let removal = if covered <= budget {
                budget -= covered;
                format!("DELETE FROM messages WHERE room_id = '{room}' AND {condition};")
            } else {
                format!(
                    "INSERT INTO erasures (deletion_id, room_id, sender, above_seq, through_seq, after_ms, before_ms)
                       VALUES ('{deletion}-{i}', '{room}', '', 0, 0, 0, 0);"
                )
            };
            batch.push_str(&format!(
                "UPDATE rooms SET write_version = write_version + 1 WHERE id = '{room}';
                 SELECT owner FROM rooms WHERE id = '{room}';
                 SELECT cleared_through_seq, purged_through_seq, visible_count, webhook, retention_days FROM rooms WHERE id = '{room}';
                 SELECT MAX(seq) FROM messages WHERE room_id = '{room}';
                 {removal}
                 UPDATE rooms SET visible_count = visible_count - {covered} WHERE id = '{room}';
                 INSERT INTO deletions (id, room_id, message_id, deleted_count, deleted_by, deleted_at, reason)
                   VALUES ('{deletion}-{i}', '{room}', '_all', {covered}, 'mod', {now}, NULL);
                 {}",
                event(&format!("{deletion}-{i}"), room, "_all", now)
            ));
        }
        batch.push_str("COMMIT;");
        self.run(&batch)?;
        self.checkpoint()
    }

    /// The server's narrowing of a clear by content (`filter_sql::BodyLike`) for `pattern`.
    fn body_like(&self, pattern: &str) -> String {
        if self.is_sqlite() {
            format!("body LIKE '{pattern}' ESCAPE '!'")
        } else {
            format!("body COLLATE utf8mb4_general_ci LIKE '{pattern}' ESCAPE '!'")
        }
    }

    /// Floor of a clear by content of `room` (`docs/architecture.md`, "Clear by content"):
    /// the rows whose body is `LIKE` `pattern` (as the server narrows, under MySQL's
    /// `utf8mb4_general_ci`), counted (the floor of a dry run, with `deletion` `None`) or, in
    /// one transaction with the room's lock, read, deleted by `seq`, recorded and announced;
    /// then the checkpoint. The server also parses each read body and compares its string
    /// values in Rust: that is what the ratio shows.
    pub fn content_clear(
        &mut self,
        token_hash: &str,
        room: &str,
        pattern: &str,
        deletion: Option<&str>,
    ) -> anyhow::Result<i64> {
        let like = self.body_like(pattern);
        let Some(deletion) = deletion else {
            return self.number(&format!(
                "SELECT COUNT(*) AS n FROM messages WHERE room_id = '{room}' AND {like}"
            ));
        };
        let now = chrono::Utc::now().timestamp_millis();
        let covered = self.number(&format!(
            "SELECT COUNT(*) AS n FROM messages WHERE room_id = '{room}' AND {like}"
        ))?;
        self.run(&format!(
            "{}
             SELECT seq, body FROM messages WHERE room_id = '{room}' AND {like};
             DELETE FROM messages WHERE room_id = '{room}' AND {like};
             UPDATE rooms SET visible_count = visible_count - {covered} WHERE id = '{room}';
             INSERT INTO deletions (id, room_id, message_id, deleted_count, deleted_by, deleted_at, reason)
               VALUES ('{deletion}', '{room}', '_all', {covered}, 'mod', {now}, NULL);
             {}
             COMMIT;",
            locked(token_hash, room),
            event(deletion, room, "_all", now)
        ))?;
        self.checkpoint()?;
        Ok(covered)
    }

    /// Seeds a platform's day: `n` messages from `u0` in rooms `w00000`… (`rooms` of them,
    /// `n / rooms` each, consecutive), message `x` sent at `t0 + x * day_ms / n`; message `x`
    /// with `x % 1000 == 1` says "WIN at spam-a.example", with `x % 1000 == 51` "WIN at
    /// spam-b.example" (one of each in every tenth room), the others "message number x".
    pub fn seed_platform(
        &mut self,
        rooms: u64,
        n: u64,
        t0: i64,
        day_ms: i64,
    ) -> anyhow::Result<()> {
        let per_room = n / rooms;
        let step = day_ms / i64::try_from(n)?;
        if self.is_sqlite() {
            return self.run(&format!(
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {n})
                 INSERT INTO messages (id, room_id, sender, message_type, body, created_at)
                 SELECT printf('w-%09d', x), printf('w%05d', ((x - 1) / {per_room}) % {rooms}), 'u0', 'text',
                        CASE x % 1000 WHEN 1 THEN '\"WIN at spam-a.example ' || x || '\"'
                                      WHEN 51 THEN '\"WIN at spam-b.example ' || x || '\"'
                                      ELSE '\"message number ' || x || '\"' END,
                        {t0} + x * {step} FROM c;
                 UPDATE rooms SET visible_count = visible_count + {per_room} WHERE id LIKE 'w%';"
            ));
        }
        let digits = "(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 \
                      UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 \
                      UNION ALL SELECT 8 UNION ALL SELECT 9)";
        self.run(&format!(
            "INSERT INTO messages (id, room_id, sender, message_type, body, created_at)
             SELECT CONCAT('w-', LPAD(x, 9, '0')), CONCAT('w', LPAD(((x - 1) DIV {per_room}) % {rooms}, 5, '0')), 'u0', 'text',
                    CASE x % 1000 WHEN 1 THEN CONCAT('\"WIN at spam-a.example ', x, '\"')
                                  WHEN 51 THEN CONCAT('\"WIN at spam-b.example ', x, '\"')
                                  ELSE CONCAT('\"message number ', x, '\"') END,
                    {t0} + x * {step}
             FROM (SELECT 1 + a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d + 100000 * g.d AS x
                   FROM {digits} a, {digits} b, {digits} c, {digits} e, {digits} f, {digits} g) n
             WHERE x <= {n} ORDER BY x;
             UPDATE rooms SET visible_count = visible_count + {per_room} WHERE id LIKE 'w%';"
        ))
    }

    /// Floor of a clear by content across rooms within `(after, before)`: the rows whose body
    /// is `LIKE` `pattern`, counted per room (the floor of a dry run, with `deletion` `None`)
    /// or, in one transaction, the rooms locked, the rows read and deleted, the visible
    /// counts lowered and one audit record per room written (one statement each: the batched
    /// floor; no events), then the checkpoint. Answers the rows.
    pub fn platform_clear(
        &mut self,
        after: i64,
        before: i64,
        pattern: &str,
        deletion: Option<&str>,
    ) -> anyhow::Result<i64> {
        let like = self.body_like(pattern);
        let matched = format!("created_at > {after} AND created_at < {before} AND {like}");
        let counts = self.room_counts(&format!(
            "SELECT room_id, COUNT(*) AS n FROM messages WHERE {matched} GROUP BY room_id"
        ))?;
        let total: i64 = counts.iter().map(|(_, n)| n).sum();
        let Some(deletion) = deletion else {
            return Ok(total);
        };
        let now = chrono::Utc::now().timestamp_millis();
        let id = if self.is_sqlite() {
            format!("'{deletion}-' || room_id")
        } else {
            format!("CONCAT('{deletion}-', room_id)")
        };
        let rooms = format!("SELECT DISTINCT room_id FROM messages WHERE {matched}");
        self.run(&format!(
            "BEGIN;
             UPDATE rooms SET write_version = write_version + 1 WHERE id IN ({rooms});
             SELECT seq, room_id, body FROM messages WHERE {matched};
             INSERT INTO deletions (id, room_id, message_id, deleted_count, deleted_by, deleted_at, reason)
               SELECT {id}, room_id, '_all', COUNT(*), '_platform', {now}, NULL
               FROM messages WHERE {matched} GROUP BY room_id;
             UPDATE rooms SET visible_count = visible_count - 1 WHERE id IN ({rooms});
             DELETE FROM messages WHERE {matched};
             COMMIT;"
        ))?;
        self.checkpoint()?;
        Ok(total)
    }

    /// Floor of a user purge of `sender` from `rooms` (every room holding its messages), as
    /// the store commits it (`src/store/deletion/batch.rs`): the client read and the rooms with
    /// its visible messages (the API key needs no token read), then in one transaction, per
    /// chunk of 500 rooms, the locks, the rooms' state, their pending erasures and the count
    /// grouped by room (it decides the removal); then the in-place `DELETE` of the first
    /// rooms while 5,000 rows last, and one statement each for the erasures, the visible
    /// counts, the audit records and the events; then commit.
    ///
    /// With `deletion` `None`, the floor of its dry run: the same reads and counts, without
    /// the transaction, the locks and the writes.
    pub fn user_purge(
        &mut self,
        rooms: &[String],
        sender: &str,
        deletion: Option<&str>,
    ) -> anyhow::Result<()> {
        let now = chrono::Utc::now().timestamp_millis();
        let list = |chunk: &[String]| {
            chunk
                .iter()
                .map(|r| format!("'{r}'"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        self.run(&format!(
            "SELECT id FROM clients WHERE id = '{sender}';
             SELECT DISTINCT sender, room_id FROM messages WHERE sender = '{sender}';"
        ))?;
        for chunk in rooms.chunks(500) {
            self.room_counts(&format!(
                "SELECT id AS room_id, 0 AS n FROM rooms WHERE id IN ({}) AND EXISTS (SELECT 1 FROM messages
                   WHERE messages.room_id = rooms.id AND messages.sender = '{sender}'
                   AND messages.seq > rooms.cleared_through_seq)",
                list(chunk)
            ))?;
        }
        let lock = if deletion.is_some() {
            self.run("BEGIN;")?;
            "UPDATE rooms SET write_version = write_version + 1 WHERE id IN"
        } else {
            "SELECT 1 FROM rooms WHERE id IN"
        };
        let mut counts = Vec::new();
        for chunk in rooms.chunks(500) {
            let rooms = list(chunk);
            self.run(&format!(
                "{lock} ({rooms});
                 SELECT id, cleared_through_seq, webhook, retention_days,
                   (SELECT MAX(m.seq) FROM messages m WHERE m.room_id = rooms.id) FROM rooms WHERE id IN ({rooms});
                 SELECT DISTINCT room_id FROM erasures WHERE room_id IN ({rooms});"
            ))?;
            counts.extend(self.room_counts(&format!(
                "SELECT messages.room_id AS room_id, COUNT(*) AS n FROM messages
                   INNER JOIN rooms ON rooms.id = messages.room_id
                 WHERE messages.room_id IN ({rooms}) AND messages.sender = '{sender}'
                   AND messages.seq > rooms.cleared_through_seq GROUP BY messages.room_id"
            ))?);
        }
        let Some(deletion) = deletion else {
            return Ok(());
        };
        counts.sort();
        let mut budget: i64 = 5_000;
        let (mut in_place, mut erased) = (Vec::new(), Vec::new());
        for (room, n) in &counts {
            if *n <= budget {
                budget -= n;
                in_place.push(room.clone());
            } else {
                erased.push((room.clone(), *n));
            }
        }
        let mut batch = String::new();
        if !in_place.is_empty() {
            batch.push_str(&format!(
                "DELETE FROM messages WHERE room_id IN ({}) AND sender = '{sender}';",
                list(&in_place)
            ));
        }
        for (i, chunk) in counts.chunks(500).enumerate() {
            let joined = |separator: &str, f: &dyn Fn(usize, &str, i64) -> String| {
                chunk
                    .iter()
                    .enumerate()
                    .map(|(j, (room, n))| f(i * 500 + j, room, *n))
                    .collect::<Vec<_>>()
                    .join(separator)
            };
            let values = |f: &dyn Fn(usize, &str, i64) -> String| joined(", ", f);
            let cases = joined(" ", &|_, room, n| format!("WHEN '{room}' THEN {n}"));
            let names = values(&|_, room, _| format!("'{room}'"));
            let records = values(&|k, room, n| {
                format!("('{deletion}-{k}', '{room}', '_all', {n}, '_platform', {now}, NULL)")
            });
            let events = values(&|k, room, _| {
                let payload = event_payload(&format!("{deletion}-{k}"), room, "_all", now);
                format!(
                    "('{deletion}-{k}', '{room}', '_all', '{payload}', {now}, 'skipped', {now}, {now})"
                )
            });
            batch.push_str(&format!(
                "UPDATE rooms SET visible_count = visible_count - CASE id {cases} ELSE 0 END WHERE id IN ({names});
                 INSERT INTO deletions (id, room_id, message_id, deleted_count, deleted_by, deleted_at, reason)
                   VALUES {records};
                 INSERT INTO outbox (deletion_id, room_id, message_id, payload, created_at, state, next_attempt_at, finished_at)
                   VALUES {events};"
            ));
        }
        for chunk in erased.chunks(500) {
            let values = chunk
                .iter()
                .map(|(room, _)| format!("('{deletion}-{room}', '{room}', '{sender}', 0, 0, 0, 0)"))
                .collect::<Vec<_>>()
                .join(", ");
            batch.push_str(&format!(
                "INSERT INTO erasures (deletion_id, room_id, sender, above_seq, through_seq, after_ms, before_ms)
                   VALUES {values};"
            ));
        }
        batch.push_str("COMMIT;");
        self.run(&batch)?;
        self.checkpoint()
    }

    /// Events waiting for the dispatcher.
    pub fn pending_events(&mut self) -> anyhow::Result<i64> {
        self.number("SELECT COUNT(*) AS n FROM outbox WHERE state = 'pending'")
    }

    /// Removes what the floor's clears of `rooms` hid (rows under the watermark, rows under
    /// a pending erasure), drops their erasures and marks their clears purged: each twin
    /// left as the purger would leave it, before the server's next deletion wakes its
    /// purger, which would otherwise work off the twins' backlog first (and the server's
    /// "rows gone after" would include it). Not timed.
    pub fn settle(&mut self, rooms: &[String]) -> anyhow::Result<()> {
        for chunk in rooms.chunks(50) {
            let list = chunk
                .iter()
                .map(|r| format!("'{r}'"))
                .collect::<Vec<_>>()
                .join(", ");
            self.run(&format!(
                "DELETE FROM messages WHERE room_id IN ({list}) AND (
                   seq <= (SELECT cleared_through_seq FROM rooms WHERE rooms.id = messages.room_id)
                   OR EXISTS (SELECT 1 FROM erasures e WHERE e.room_id = messages.room_id
                     AND messages.seq > e.above_seq AND messages.seq <= e.through_seq
                     AND (e.sender = '' OR e.sender = messages.sender)
                     AND messages.created_at > e.after_ms AND messages.created_at < e.before_ms));
                 DELETE FROM erasures WHERE room_id IN ({list});
                 UPDATE rooms SET purged_through_seq = cleared_through_seq WHERE id IN ({list});"
            ))?;
        }
        self.checkpoint()
    }

    /// Floor of the purger's removal of `room`'s cleared rows (`src/store/purge.rs`): its
    /// batches of `batch` rows back to back, each a transaction of the bound's probe and the
    /// `DELETE` up to it, and on SQLite the passive checkpoint after each (as the purger
    /// runs them, without its pacing); how many rows it removed.
    pub fn purge_rows(&mut self, room: &str, batch: u64) -> anyhow::Result<u64> {
        let cleared = self.number(&format!(
            "SELECT cleared_through_seq AS n FROM rooms WHERE id = '{room}'"
        ))?;
        let begin = if self.is_sqlite() {
            "BEGIN IMMEDIATE"
        } else {
            "BEGIN"
        };
        let mut removed = 0;
        loop {
            self.run(begin)?;
            let bound: Vec<N> = self.load_bound(
                "SELECT seq AS n FROM messages WHERE room_id = ? AND seq <= ? \
                 ORDER BY seq LIMIT 1 OFFSET ?",
                &[
                    Bind::Text(room.to_owned()),
                    Bind::Int(cleared),
                    Bind::Int(i64::try_from(batch)? - 1),
                ],
            )?;
            let delete = diesel::sql_query("DELETE FROM messages WHERE room_id = ? AND seq <= ?")
                .bind::<Text, _>(room)
                .bind::<BigInt, _>(bound.first().map_or(cleared, |b| b.n));
            let n = match self {
                Self::Sqlite(c) => delete.execute(c)?,
                #[cfg(feature = "mysql")]
                Self::Mysql(c) => delete.execute(c)?,
            };
            self.run("COMMIT")?;
            if self.is_sqlite() {
                self.run("PRAGMA wal_checkpoint(PASSIVE)")?;
            }
            let n = u64::try_from(n)?;
            removed += n;
            if n < batch {
                return Ok(removed);
            }
        }
    }

    /// Whether this is a MySQL connection.
    fn is_mysql(&self) -> bool {
        !matches!(self, Self::Sqlite(_))
    }

    /// Copies the WAL into the database file and truncates it (SQLite), as the server's
    /// checkpoints do: retrying every 50 µs while readers are still on the WAL, instead of
    /// napping in the busy handler (a millisecond at least).
    pub fn checkpoint(&mut self) -> anyhow::Result<()> {
        #[allow(irrefutable_let_patterns)] // without the `mysql` feature SQLite is all there is
        let Self::Sqlite(c) = self else {
            return Ok(());
        };
        c.batch_execute("PRAGMA busy_timeout = 0;")?;
        let started = std::time::Instant::now();
        let done = loop {
            let r = diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)").get_result::<Busy>(c)?;
            if r.busy == 0 {
                break Ok(());
            }
            if started.elapsed() > std::time::Duration::from_secs(10) {
                break Err(anyhow::anyhow!("checkpoint kept busy for 10 s"));
            }
            std::thread::sleep(std::time::Duration::from_micros(50));
        };
        c.batch_execute("PRAGMA busy_timeout = 10000;")?;
        done
    }

    /// Floor: the authentication read and the single-delete transaction of `message`, as
    /// one batch, or (`each`) one round trip per statement ([`Self::run_each`]).
    pub fn delete_one(
        &mut self,
        token_hash: &str,
        room: &str,
        message: &str,
        deletion: &str,
        each: bool,
    ) -> anyhow::Result<()> {
        let now = chrono::Utc::now().timestamp_millis();
        let statements = format!(
            "{}
             DELETE FROM messages WHERE room_id = '{room}' AND id = '{message}'
               AND seq > (SELECT cleared_through_seq FROM rooms WHERE id = '{room}');
             UPDATE rooms SET visible_count = visible_count - 1 WHERE id = '{room}';
             INSERT INTO deletions (id, room_id, message_id, deleted_count, deleted_by, deleted_at, reason)
               VALUES ('{deletion}', '{room}', '{message}', 1, 'mod', {now}, NULL);
             {}
             COMMIT;",
            locked(token_hash, room),
            event(deletion, room, message, now),
        );
        if each {
            self.run_each(&statements)
        } else {
            self.run(&statements)
        }
    }

    /// Floor: the authentication read and the `_all` transaction on `room` (the rows are
    /// left for a purge, as the server does with more than 5,000).
    pub fn clear(&mut self, token_hash: &str, room: &str, deletion: &str) -> anyhow::Result<()> {
        let now = chrono::Utc::now().timestamp_millis();
        self.run(&format!(
            "{}
             INSERT INTO deletions (id, room_id, message_id, deleted_count, deleted_by, deleted_at, reason)
               SELECT '{deletion}', '{room}', '_all', visible_count, 'mod', {now}, NULL FROM rooms WHERE id = '{room}';
             UPDATE rooms SET cleared_through_seq = (SELECT MAX(seq) FROM messages WHERE room_id = '{room}'),
               visible_count = 0 WHERE id = '{room}';
             {}
             COMMIT;",
            locked(token_hash, room),
            event(deletion, room, "_all", now),
        ))
    }

    /// A query with bound values, loaded as the store loads it (prepared, binary protocol
    /// on MySQL).
    fn load_bound<R>(&mut self, sql: &str, binds: &[Bind]) -> anyhow::Result<Vec<R>>
    where
        R: QueryableByName<diesel::sqlite::Sqlite> + 'static,
        R: MysqlRow,
    {
        macro_rules! bound {
            ($backend:ty, $c:expr) => {{
                let mut q = diesel::sql_query(sql).into_boxed::<$backend>();
                for b in binds {
                    q = match b {
                        Bind::Text(t) => q.bind::<Text, _>(t.clone()),
                        Bind::Int(n) => q.bind::<BigInt, _>(*n),
                    };
                }
                q.load::<R>($c)?
            }};
        }
        Ok(match self {
            Self::Sqlite(c) => bound!(diesel::sqlite::Sqlite, c),
            #[cfg(feature = "mysql")]
            Self::Mysql(c) => bound!(diesel::mysql::Mysql, c),
        })
    }

    /// Floor of a report queue's first page of `limit` (`GET /rooms/{room}/reports` with
    /// `token_hash`, or `GET /admin/reports` without, every room's when `room` is `None`):
    /// for a room's queue the authentication read and the room with its members (the role
    /// check); then the statements of `store/reports.rs`, their text copied, their values
    /// bound: the items of the open queue (`report_items`), the newest 10 reports of each
    /// item's message (`ROW_NUMBER()`), and the visible messages' content. Answers the items
    /// and the time each of those three statements took.
    pub fn report_queue(
        &mut self,
        token_hash: Option<&str>,
        room: Option<&str>,
        limit: i64,
    ) -> anyhow::Result<(Vec<QueueItem>, [std::time::Duration; 3])> {
        if let (Some(token_hash), Some(room)) = (token_hash, room) {
            self.run(&format!(
                "SELECT client_id, expires_at, revoked FROM tokens WHERE token_hash = '{token_hash}';
                 SELECT * FROM rooms WHERE id = '{room}';
                 SELECT room_id, client_id, is_manager, joined_at FROM room_members WHERE room_id = '{room}';"
            ))?;
        }
        // `queue_items`, first page.
        let hint = if room.is_some() && self.is_mysql() {
            " FORCE INDEX (report_items_room)"
        } else {
            ""
        };
        let mut sql = format!(
            "SELECT room_id, message_id, sender, seq, n, first_at, last_at, n_spam, n_abuse, \
             n_sensitive, n_other FROM report_items{hint} WHERE state = ?"
        );
        let mut binds = vec![Bind::Text("open".to_owned())];
        if let Some(room) = room {
            sql.push_str(" AND room_id = ?");
            binds.push(Bind::Text(room.to_owned()));
            sql.push_str(" ORDER BY n DESC, last_at DESC, message_id ASC LIMIT ?");
        } else {
            sql.push_str(" ORDER BY n DESC, last_at DESC, room_id ASC, message_id ASC LIMIT ?");
        }
        binds.push(Bind::Int(limit));
        let mut took = [std::time::Duration::ZERO; 3];
        let started = std::time::Instant::now();
        let items: Vec<QueueItem> = self.load_bound(&sql, &binds)?;
        took[0] = started.elapsed();
        if items.is_empty() {
            return Ok((items, took));
        }
        // `newest_reports`.
        let marks = |n: usize| vec!["?"; n].join(", ");
        let mut rooms: Vec<&str> = items.iter().map(|i| i.room_id.as_str()).collect();
        rooms.sort_unstable();
        rooms.dedup();
        let sql = format!(
            "SELECT id, room_id, message_id, sender, reporter, category, reason, created_at, state, \
             deletion_id, dismissed_by, dismissed_at, dismiss_reason FROM (SELECT r.*, ROW_NUMBER() \
             OVER (PARTITION BY room_id, message_id ORDER BY created_at DESC, seq DESC) AS rn \
             FROM reports r WHERE state = ? AND room_id IN ({}) AND message_id IN ({})) t \
             WHERE rn <= {QUEUE_REPORTS} ORDER BY created_at DESC, seq DESC",
            marks(rooms.len()),
            marks(items.len())
        );
        let binds: Vec<Bind> = std::iter::once(Bind::Text("open".to_owned()))
            .chain(rooms.iter().map(|r| Bind::Text((*r).to_owned())))
            .chain(items.iter().map(|i| Bind::Text(i.message_id.clone())))
            .collect();
        let started = std::time::Instant::now();
        let _: Vec<ReportRow> = self.load_bound(&sql, &binds)?;
        took[1] = started.elapsed();
        // `visible_content` (by the reported rows' `seq`), as diesel writes it.
        let sql = format!(
            "SELECT messages.seq, messages.body FROM messages \
             INNER JOIN rooms ON messages.room_id = rooms.id \
             WHERE messages.seq IN ({}) AND messages.seq > rooms.cleared_through_seq AND {VISIBLE}",
            marks(items.len())
        );
        let binds: Vec<Bind> = items
            .iter()
            .map(|i| Bind::Int(i.seq))
            .chain([
                Bind::Int(chrono::Utc::now().timestamp_millis()),
                Bind::Int(10_000_000),
            ])
            .collect();
        let started = std::time::Instant::now();
        let _: Vec<Content> = self.load_bound(&sql, &binds)?;
        took[2] = started.elapsed();
        Ok((items, took))
    }

    /// Floor of a report (`store/reports.rs`, `file_report`), by `reporter` (authenticated
    /// with `token_hash`) of message `message` of `room`, as report `id`: the authentication
    /// read, on SQLite the checks read without a lock (the membership with the room's
    /// webhook, the visible message, the reporter's open report of it, the reporter's
    /// reports of the last minute), then in one transaction the room's lock, the same
    /// checks, the row (its message's `seq`, sender and time read with it), the message's
    /// open queue item (an upsert), the open count, and the `MESSAGE_REPORTED` event
    /// (`skipped`: no webhook); commit. One batch.
    pub fn file_report(
        &mut self,
        token_hash: &str,
        room: &str,
        message: &str,
        reporter: &str,
        id: &str,
    ) -> anyhow::Result<()> {
        let at = chrono::Utc::now();
        let now = at.timestamp_millis();
        let iso = at.format("%Y-%m-%dT%H:%M:%S%.3fZ");
        let since = now - 60_000;
        let visible = VISIBLE
            .replacen('?', &now.to_string(), 1)
            .replacen('?', "10000000", 1);
        let payload = format!(
            "{{\"createdAt\":\"{iso}\",\"data\":{{\"category\":\"spam\",\"messageID\":\"{message}\",\"reason\":null,\"reportID\":\"{id}\",\"reportedAt\":\"{iso}\",\"reporter\":\"{reporter}\",\"room\":\"{room}\",\"sender\":\"s0\"}},\"event\":\"MESSAGE_REPORTED\",\"id\":\"{id}\",\"roomID\":\"{room}\"}}"
        );
        let checks = format!(
            "SELECT rooms.webhook FROM room_members INNER JOIN rooms ON room_members.room_id = rooms.id
               WHERE room_members.room_id = '{room}' AND room_members.client_id = '{reporter}' LIMIT 1;
             SELECT messages.seq, messages.id, messages.room_id, messages.sender, messages.message_type,
                    messages.body, messages.created_at
               FROM messages INNER JOIN rooms ON messages.room_id = rooms.id
               WHERE messages.room_id = '{room}' AND messages.id = '{message}'
                 AND messages.seq > rooms.cleared_through_seq AND {visible} LIMIT 1;
             SELECT id, room_id, message_id, sender, reporter, category, reason, created_at, state,
                    deletion_id, dismissed_by, dismissed_at, dismiss_reason
               FROM reports WHERE state = 'open' AND room_id = '{room}' AND message_id = '{message}'
                 AND reporter = '{reporter}' LIMIT 1;
             SELECT created_at FROM reports WHERE reporter = '{reporter}' AND created_at > {since}
               ORDER BY created_at ASC LIMIT 60;"
        );
        let unlocked = if self.is_mysql() { "" } else { checks.as_str() };
        let item = if self.is_mysql() {
            // Qualified: the `SELECT` from `messages` has a `seq` and a `sender` too.
            "ON DUPLICATE KEY UPDATE n = report_items.n + 1,
               first_at = LEAST(report_items.first_at, VALUES(first_at)),
               last_at = GREATEST(report_items.last_at, VALUES(last_at)),
               seq = GREATEST(report_items.seq, VALUES(seq)),
               sender = LEAST(report_items.sender, VALUES(sender)),
               n_spam = report_items.n_spam + VALUES(n_spam),
               n_abuse = report_items.n_abuse + VALUES(n_abuse),
               n_sensitive = report_items.n_sensitive + VALUES(n_sensitive),
               n_other = report_items.n_other + VALUES(n_other)"
        } else {
            "ON CONFLICT (state, room_id, message_id) DO UPDATE SET n = n + 1,
               first_at = min(first_at, excluded.first_at), last_at = max(last_at, excluded.last_at),
               seq = max(seq, excluded.seq), sender = min(sender, excluded.sender),
               n_spam = n_spam + excluded.n_spam, n_abuse = n_abuse + excluded.n_abuse,
               n_sensitive = n_sensitive + excluded.n_sensitive, n_other = n_other + excluded.n_other"
        };
        self.run(&format!(
            "SELECT client_id, expires_at, revoked FROM tokens WHERE token_hash = '{token_hash}';
             {unlocked}
             BEGIN;
             UPDATE rooms SET write_version = write_version + 1 WHERE id = '{room}';
             {checks}
             INSERT INTO reports (id, room_id, message_id, message_seq, sender, message_created_at,
                                  reporter, category, reason, created_at)
               SELECT '{id}', room_id, id, seq, sender, created_at, '{reporter}', 'spam', NULL, {now}
               FROM messages WHERE room_id = '{room}' AND id = '{message}';
             INSERT INTO report_items (state, room_id, message_id, sender, seq, n, first_at, last_at,
                                       n_spam, n_abuse, n_sensitive, n_other)
               SELECT 'open', room_id, id, sender, seq, 1, {now}, {now}, 1, 0, 0, 0
               FROM messages WHERE room_id = '{room}' AND id = '{message}'
               {item};
             UPDATE rooms SET open_reports = open_reports + 1 WHERE id = '{room}';
             INSERT INTO outbox (deletion_id, room_id, message_id, payload, created_at, state, next_attempt_at, finished_at)
               VALUES ('{id}', '{room}', '{message}', '{payload}', {now}, 'skipped', {now}, {now});
             COMMIT;"
        ))
    }

    /// Floor of a send of message `id` into `room` by `sender` (authenticated with
    /// `token_hash`): the authentication read, the room with its members (the membership
    /// check), then in one transaction the room's lock, the row and the visible count; commit.
    pub fn send(
        &mut self,
        token_hash: &str,
        room: &str,
        sender: &str,
        id: &str,
    ) -> anyhow::Result<()> {
        let now = chrono::Utc::now().timestamp_millis();
        self.run(&format!(
            "SELECT client_id, expires_at, revoked FROM tokens WHERE token_hash = '{token_hash}';
             SELECT * FROM rooms WHERE id = '{room}';
             SELECT room_id, client_id, is_manager, joined_at FROM room_members WHERE room_id = '{room}';
             BEGIN;
             UPDATE rooms SET write_version = write_version + 1 WHERE id = '{room}';
             INSERT INTO messages (id, room_id, sender, message_type, body, created_at)
               VALUES ('{id}', '{room}', '{sender}', 'text', '\"hello\"', {now});
             UPDATE rooms SET visible_count = visible_count + 1 WHERE id = '{room}';
             COMMIT;"
        ))
    }

    /// Floor: the authentication read, the member check and the newest page with its count.
    pub fn newest_page(&mut self, token_hash: &str, room: &str) -> anyhow::Result<()> {
        self.run(&format!(
            "SELECT client_id, expires_at, revoked FROM tokens WHERE token_hash = '{token_hash}';
             SELECT owner FROM rooms WHERE id = '{room}';
             SELECT is_manager FROM room_members WHERE room_id = '{room}' AND client_id = 'mod';
             SELECT visible_count FROM rooms WHERE id = '{room}';
             SELECT m.seq, m.id, m.room_id, m.sender, m.message_type, m.body, m.created_at
               FROM messages m INNER JOIN rooms r ON r.id = m.room_id
               WHERE m.room_id = '{room}' AND m.seq > r.cleared_through_seq
               ORDER BY m.seq DESC LIMIT 20;"
        ))
    }
}

/// The authentication read, then the start of a deletion's transaction: the room's lock,
/// the actor's membership and the room's state.
fn locked(token_hash: &str, room: &str) -> String {
    format!(
        "SELECT client_id, expires_at, revoked FROM tokens WHERE token_hash = '{token_hash}';
         BEGIN;
         UPDATE rooms SET write_version = write_version + 1 WHERE id = '{room}';
         SELECT owner FROM rooms WHERE id = '{room}';
         SELECT is_manager FROM room_members WHERE room_id = '{room}' AND client_id = 'mod';
         SELECT cleared_through_seq, purged_through_seq, visible_count, webhook FROM rooms WHERE id = '{room}';"
    )
}

/// The deletion's event, written `skipped` (the room has no webhook), as the store does.
fn event(deletion: &str, room: &str, message: &str, now: i64) -> String {
    let payload = event_payload(deletion, room, message, now);
    format!(
        "INSERT INTO outbox (deletion_id, room_id, message_id, payload, created_at, state, next_attempt_at, finished_at)
           VALUES ('{deletion}', '{room}', '{message}', '{payload}', {now}, 'skipped', {now}, {now});"
    )
}

fn event_payload(deletion: &str, room: &str, message: &str, now: i64) -> String {
    format!(
        "{{\"event\":\"message.deleted\",\"deletionId\":\"{deletion}\",\"room\":\"{room}\",\"messageId\":\"{message}\",\"deletedCount\":1,\"deletedBy\":\"mod\",\"deletedAt\":{now},\"reason\":null}}"
    )
}
