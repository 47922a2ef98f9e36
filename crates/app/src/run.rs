//! Running synchronous use cases off the async workers, within one deadline per request.
//!
//! Every storage hop of a request shares one deadline of [`USE_CASE_DEADLINE`], counted from
//! its first hop ([`with_deadline`], applied to every request by `startup`): a request
//! answers within it, whatever the database does (an `Idempotency-Key` request's hop and
//! the commit of its answer included, `crate::idempotency::hop`).

use crate::envelope::ApiError;
use actix_web::web;
use std::cell::Cell;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// Longest a request waits for its storage work, all hops together: checking out a
/// connection (at most 5 s), SQLite's busy wait (at most 5 s) and the statements themselves
/// fit well inside it, and a database that accepts connections but stops answering cannot
/// hold a request longer.
pub const USE_CASE_DEADLINE: Duration = Duration::from_secs(8);

/// What the hops of one request share.
#[derive(Default)]
struct Request {
    /// The deadline, set by the first hop.
    deadline: Cell<Option<Instant>>,
}

tokio::task_local! {
    /// The request being served.
    static REQUEST: Request;
}

/// Runs `request` with one storage deadline for all its hops (see the module docs).
pub async fn with_deadline<F: Future>(request: F) -> F::Output {
    REQUEST.scope(Request::default(), request).await
}

/// The deadline of the current request (started now by its first hop), or a deadline of
/// its own for work outside a request.
pub(crate) fn deadline() -> Instant {
    REQUEST
        .try_with(|r| {
            let at = r
                .deadline
                .get()
                .unwrap_or_else(|| Instant::now() + USE_CASE_DEADLINE);
            r.deadline.set(Some(at));
            at
        })
        .unwrap_or_else(|_| Instant::now() + USE_CASE_DEADLINE)
}

/// Where a hop stands: queued, running, given up by its caller, or with its result on its
/// way to the caller.
const WAITING: u8 = 0;
const RUNNING: u8 = 1;
const ABANDONED: u8 = 2;
const DELIVERED: u8 = 3;

/// Gives a hop up if its caller goes away before its result (a client that disconnects):
/// its late result then goes to the undo, as after the deadline.
struct GiveUpOnDrop(Arc<AtomicU8>);

impl Drop for GiveUpOnDrop {
    fn drop(&mut self) {
        for from in [WAITING, RUNNING] {
            let _ = self
                .0
                .compare_exchange(from, ABANDONED, Ordering::AcqRel, Ordering::Acquire);
        }
    }
}

/// Runs a use case on actix's blocking pool and maps its outcome to an [`ApiError`].
///
/// diesel gives no access to libmysqlclient's read/write timeouts, so a database that stops
/// answering mid-query would hold the request (and its thread) until it answers again. The
/// request is therefore answered `503` at its deadline; a use case that has not started by
/// then never starts, one that is stuck finishes whenever the database answers (its outcome
/// is unknown to the client, as with any timeout).
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
    blocking_undoable(f, drop).await
}

/// [`blocking`], where a success that comes after the caller gave up (its deadline, or a
/// client that went away) is handed to `undo` on the blocking thread (for example to
/// release what nobody will use). Exactly one of the two happens: the caller gets the
/// success, or `undo` does.
///
/// # Errors
/// As [`blocking`].
pub async fn blocking_undoable<T, E, F, U>(f: F, undo: U) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, E> + Send + 'static,
    E: Into<ApiError> + Send + 'static,
    T: Send + 'static,
    U: FnOnce(T) + Send + 'static,
{
    let state = Arc::new(AtomicU8::new(WAITING));
    let flag = Arc::clone(&state);
    let span = tracing::Span::current();
    let work = web::block(move || {
        let _entered = span.enter();
        if flag
            .compare_exchange(WAITING, RUNNING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return None; // given up before it started: it never starts
        }
        let result = f();
        if flag
            .compare_exchange(RUNNING, DELIVERED, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            if let Ok(value) = result {
                undo(value);
            }
            return None;
        }
        Some(result)
    });
    let _give_up = GiveUpOnDrop(Arc::clone(&state));
    tokio::pin!(work);
    let outcome = match tokio::time::timeout_at(deadline(), &mut work).await {
        Ok(outcome) => outcome,
        Err(_) => {
            let given_up = [WAITING, RUNNING].into_iter().find(|from| {
                state
                    .compare_exchange(*from, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            });
            match given_up {
                Some(from) => {
                    tracing::warn!(
                        deadline_secs = USE_CASE_DEADLINE.as_secs(),
                        started = from == RUNNING,
                        "storage did not answer in time"
                    );
                    return Err(ApiError::unavailable());
                }
                // The result was delivered as the deadline passed: it is on its way.
                None => work.await,
            }
        }
    };
    match outcome {
        Ok(Some(result)) => result.map_err(Into::into),
        Ok(None) => Err(ApiError::unavailable()),
        Err(e) => {
            tracing::error!(error = %e, "use case did not complete on the blocking pool");
            Err(ApiError::internal())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[actix_web::test]
    async fn hops_of_one_request_share_one_deadline() {
        let hop = || blocking(|| Ok::<_, ApiError>(()));
        let (first, second) = with_deadline(async {
            assert!(hop().await.is_ok());
            let first = deadline();
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert!(hop().await.is_ok());
            (first, deadline())
        })
        .await;
        assert_eq!(
            first, second,
            "the second hop keeps the first hop's deadline"
        );
        let outside = deadline();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            deadline() > outside,
            "outside a request, each hop has its own"
        );
    }

    #[actix_web::test]
    async fn a_result_that_comes_after_the_deadline_is_undone() {
        let (undone, seen) = mpsc::channel();
        let (started, running) = mpsc::channel();
        let (release, hold) = mpsc::channel::<()>();
        let answer = with_deadline(async move {
            REQUEST.with(|r| {
                r.deadline
                    .set(Some(Instant::now() + Duration::from_secs(2)))
            });
            blocking_undoable(
                move || {
                    let _ = started.send(());
                    let _ = hold.recv();
                    Ok::<_, ApiError>(7)
                },
                move |value| {
                    let _ = undone.send(value);
                },
            )
            .await
        })
        .await;
        assert!(answer.is_err(), "the caller got its 503");
        if running.try_recv().is_ok() {
            let _ = release.send(());
            assert_eq!(
                seen.recv_timeout(Duration::from_secs(10)).ok(),
                Some(7),
                "the late success went to undo"
            );
        } else {
            // The blocking pool did not start it within 2 s: it never runs, nor its undo.
            assert!(seen.try_recv().is_err());
        }
    }
}
