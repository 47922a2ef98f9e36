//! The one place where diesel and r2d2 errors become [`StoreError`]s; nothing diesel
//! leaves this crate.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use roomwarden_domain::error::StoreError;

/// The savepoint of the Galera write guard: set after `BEGIN`, it must still exist just
/// before `COMMIT` ([`crate::db::Database::write`]); an error that names it as missing
/// means the cluster rolled the transaction back.
pub(crate) const INTACT_SAVEPOINT: &str = "rw_intact";

/// Whether a database error means "the database is not reachable or too busy right now".
fn is_unavailable(err: &DieselError) -> bool {
    match err {
        DieselError::DatabaseError(_, info) => {
            // SQLite busy past the busy timeout; a transaction the database kept aborting
            // (deadlock, lock wait, node not ready).
            info.message().contains("database is locked")
                || is_connection_loss(err)
                || is_transient(err)
        }
        _ => false,
    }
}

/// Whether the connection to the server is gone (MySQL 2006 "server has gone away", 2013
/// "Lost connection", 1053 "Server shutdown in progress", MySQL 8's 4031 "disconnected by
/// the server because of inactivity", or a connection diesel closed): nothing more runs on
/// it.
pub(crate) fn is_connection_loss(err: &DieselError) -> bool {
    match err {
        DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => true,
        DieselError::DatabaseError(_, info) => {
            let msg = info.message();
            msg.contains("gone away")
                || msg.contains("Lost connection")
                || msg.contains("Can't connect")
                || msg.contains("Server shutdown in progress")
                || msg.contains("disconnected by the server")
        }
        _ => false,
    }
}

/// Whether `COMMIT` was sent and the connection was lost before its answer: the transaction
/// may or may not have committed ([`crate::db::Database::write`] reports it so).
pub(crate) fn is_uncertain(err: &DieselError) -> bool {
    matches!(err, DieselError::RollbackErrorOnCommit { commit_error, .. } if is_connection_loss(commit_error))
}

/// Whether the database aborted the transaction and running it again may succeed: MySQL's
/// deadlock (1213, also Galera's certification failure and brute-force abort), lock wait
/// timeout (1205), a Galera node that is not ready (1047, "WSREP has not yet prepared
/// node"), and a Galera transaction whose guard savepoint vanished before `COMMIT` (1305:
/// the cluster rolled it back, see [`crate::db::Database::write`]). A `COMMIT` that answers
/// a deadlock did not commit (certification failed), so it is transient too.
pub(crate) fn is_transient(err: &DieselError) -> bool {
    match err {
        DieselError::DatabaseError(_, info) => {
            let msg = info.message();
            msg.contains("Deadlock found")
                || msg.contains("Lock wait timeout")
                || msg.contains("WSREP has not yet prepared node")
                || (msg.contains(INTACT_SAVEPOINT) && msg.contains("does not exist"))
        }
        _ => false,
    }
}

/// Classifies a query error.
pub(crate) fn query(err: DieselError) -> StoreError {
    if is_uncertain(&err) {
        StoreError::Uncertain(err.into())
    } else if is_unavailable(&err) {
        StoreError::Unavailable(err.into())
    } else {
        StoreError::Internal(err.into())
    }
}

/// A pool checkout that timed out: the database is down or every connection is busy.
pub(crate) fn pool(err: r2d2::Error) -> StoreError {
    StoreError::Unavailable(anyhow::Error::new(err).context("no database connection available"))
}

/// Whether an insert failed only because the key exists already.
pub(crate) fn is_unique_violation(err: &DieselError) -> bool {
    matches!(
        err,
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)
    )
}
