//! The key sweeper: a worker that removes expired idempotency records.

use super::{Wakeup, Worker};
use roomwarden_domain::ports::IdempotencyStore;
use roomwarden_domain::time::Clock;
use std::sync::Arc;
use std::time::Duration;

/// How often the sweeper looks for expired records. A record past its expiry already
/// counts as absent for every claim, so the sweep only reclaims space.
const SWEEP_INTERVAL: Duration = Duration::from_secs(10 * 60);

/// Records removed per statement (one write turn on SQLite), so that foreground writes wait
/// at most one small batch.
pub const SWEEP_BATCH: u32 = 1_000;

/// Starts the thread that removes expired idempotency records
/// ([`roomwarden_domain::usecases::idempotency::sweep`]) every ten minutes and once at start-up, in
/// batches of [`SWEEP_BATCH`], until none is left; "expired" by `clock` (the store's).
///
/// # Errors
/// When the thread cannot be spawned.
pub fn spawn_key_sweeper<S: IdempotencyStore + 'static>(
    store: S,
    clock: Arc<dyn Clock>,
) -> std::io::Result<Worker> {
    Worker::spawn(
        "key-sweeper",
        SWEEP_INTERVAL,
        Wakeup::default(),
        move |_| match roomwarden_domain::usecases::idempotency::sweep(
            &store,
            clock.now(),
            SWEEP_BATCH,
        ) {
            Ok(removed) => {
                if removed > 0 {
                    tracing::debug!(removed, "expired idempotency keys removed");
                }
                removed >= u64::from(SWEEP_BATCH)
            }
            Err(e) => {
                tracing::warn!(error = %e, "idempotency key sweep failed; will retry");
                false
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use roomwarden_domain::ports::MockIdempotencyStore;
    use roomwarden_domain::time::SystemClock;
    use std::sync::mpsc;

    #[test]
    fn the_sweeper_repeats_full_batches_at_once_and_waits_after_a_short_one() {
        let (calls, seen) = mpsc::channel();
        let mut answers = [u64::from(SWEEP_BATCH), 3].into_iter();
        let mut store = MockIdempotencyStore::new();
        store
            .expect_remove_expired_keys()
            .withf(|_, limit| *limit == SWEEP_BATCH)
            .returning(move |now, _| {
                let _ = calls.send(now);
                Ok(answers.next().unwrap_or(0))
            });
        let started = chrono::Utc::now();
        let worker = spawn_key_sweeper(store, Arc::new(SystemClock)).expect("spawned");
        // A full batch: again at once; a short one: wait for the interval (ten minutes).
        let first = seen
            .recv_timeout(Duration::from_secs(10))
            .expect("swept at start-up");
        assert!(first >= started, "it sweeps with the current time");
        seen.recv_timeout(Duration::from_secs(10))
            .expect("a full batch is followed at once");
        assert!(
            seen.recv_timeout(Duration::from_millis(300)).is_err(),
            "after a short batch it waits"
        );
        worker.stop();
    }
}
