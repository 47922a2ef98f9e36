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
            // SQLite busy past the busy timeout; MySQL connection loss (2006, 2013) or
            // lock wait timeout / deadlock under overload.
            msg.contains("database is locked")
                || msg.contains("gone away")
                || msg.contains("Lost connection")
                || msg.contains("Can't connect")
                || msg.contains("Lock wait timeout")
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
