//! Running synchronous use cases off the async workers, within a deadline.

use crate::envelope::ApiError;
use actix_web::web;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Longest a request waits for its use case: checking out a connection (at most 5 s),
/// SQLite's busy wait (at most 5 s) and the statements themselves fit well inside it, and a
/// database that accepts connections but stops answering cannot hold a request longer.
pub const USE_CASE_DEADLINE: Duration = Duration::from_secs(8);

/// Runs a use case on actix's blocking pool and maps its outcome to an [`ApiError`].
///
/// diesel gives no access to libmysqlclient's read/write timeouts, so a database that stops
/// answering mid-query would hold the request (and its thread) until it answers again. The
/// request is therefore answered `503` after [`USE_CASE_DEADLINE`]; a use case that has not
/// started by then never starts, one that is stuck finishes whenever the database answers
/// (its outcome is unknown to the client, as with any timeout).
///
/// # Errors
/// The use case's error; `503` past the deadline; `500` if the blocking pool is gone or the
/// closure panicked.
pub async fn blocking<T, E, F>(f: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, E> + Send + 'static,
    E: Into<ApiError> + Send + 'static,
    T: Send + 'static,
{
    let abandoned = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&abandoned);
    let span = tracing::Span::current();
    let work = web::block(move || {
        let _entered = span.enter();
        if flag.load(Ordering::Acquire) {
            return None;
        }
        Some(f())
    });
    match tokio::time::timeout(USE_CASE_DEADLINE, work).await {
        Ok(Ok(Some(result))) => result.map_err(Into::into),
        Ok(Ok(None)) => Err(ApiError::unavailable()),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "use case did not complete on the blocking pool");
            Err(ApiError::internal())
        }
        Err(_) => {
            abandoned.store(true, Ordering::Release);
            tracing::warn!(
                deadline_secs = USE_CASE_DEADLINE.as_secs(),
                "storage did not answer in time"
            );
            Err(ApiError::unavailable())
        }
    }
}
