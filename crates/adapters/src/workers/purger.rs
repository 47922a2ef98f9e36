//! The purger: a worker that finishes large room clears and erasures.

use super::{Wakeup, Worker};
use crate::store::DieselStore;
use std::time::Duration;

/// How often the purger looks for pending work without being woken.
const POLL_INTERVAL: Duration = Duration::from_secs(30);

/// Starts the thread that runs [`DieselStore::purge_pending`] when `wakeup` is woken (a
/// clear left rows behind, see [`super::Wakeups`]), every 30 seconds, and once at
/// start-up (to resume work a previous process left).
///
/// # Errors
/// When the thread cannot be spawned.
pub fn spawn_purger(store: DieselStore, wakeup: Wakeup) -> std::io::Result<Worker> {
    Worker::spawn("purger", POLL_INTERVAL, wakeup, move |stop| {
        if let Err(e) = store.purge_pending(stop) {
            tracing::warn!(error = %e, "purge interrupted; will retry");
        }
        false
    })
}
