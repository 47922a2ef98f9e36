//! The one place where diesel and r2d2 errors become [`StoreError`]s; nothing diesel
//! leaves this crate.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use roomwarden_domain::error::StoreError;

/// Whether a database error means "the database is not reachable or too busy right now".
fn is_unavailable(err: &DieselError) -> bool {
    match err {
        DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => true,
        DieselError::DatabaseError(_, info) => {
            let msg = info.message();
            // SQLite busy past the busy timeout; MySQL connection loss (2006, 2013); a
            // transaction the database kept aborting (deadlock, lock wait, node not ready).
            msg.contains("database is locked")
                || msg.contains("gone away")
                || msg.contains("Lost connection")
                || msg.contains("Can't connect")
                || is_transient(err)
        }
        _ => false,
    }
}

/// Whether the database aborted the transaction and running it again may succeed: MySQL's
/// deadlock (1213, also Galera's certification failure), lock wait timeout (1205), and a
/// Galera node that is not ready (1047, "WSREP has not yet prepared node").
pub(crate) fn is_transient(err: &DieselError) -> bool {
    match err {
        DieselError::DatabaseError(_, info) => {
            let msg = info.message();
            msg.contains("Deadlock found")
                || msg.contains("Lock wait timeout")
                || msg.contains("WSREP has not yet prepared node")
        }
        _ => false,
    }
}

/// Classifies a query error.
pub(crate) fn query(err: DieselError) -> StoreError {
    if is_unavailable(&err) {
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
