//! The retention job: a worker that removes messages older than their room's retention.

use super::{Observer, Wakeup, Worker};
use crate::store::DieselStore;
use std::sync::Arc;
use std::time::Duration;

/// How often the job runs by default (docs/api.md §7.7).
pub const RETENTION_INTERVAL: Duration = Duration::from_secs(60);

/// Starts the thread that runs the domain's
/// [`apply_retention`](roomwarden_domain::usecases::retention::apply_retention) over
/// `store` at start-up and then every `interval`, with the store's default retention.
/// Each run commits short transactions of a few rooms each; rooms with many expired
/// messages hand their rows to the purger (bounded batches, resumed after a restart).
/// Each committed deletion is reported to `observer`.
///
/// # Errors
/// When the thread cannot be spawned.
pub fn spawn_retention(
    store: DieselStore,
    interval: Duration,
    observer: Arc<dyn Observer>,
) -> std::io::Result<Worker> {
    Worker::spawn("retention", interval, Wakeup::default(), move |_| {
        let default = store.default_retention();
        match roomwarden_domain::usecases::retention::apply_retention(&store, default, store.now())
        {
            Ok(done) => {
                for d in &done {
                    tracing::info!(room = %d.room, count = d.deleted_count, deletion = %d.id, "retention removed messages");
                    observer.retention_deleted(d);
                }
            }
            Err(e) => tracing::warn!(error = %e, "retention run failed; will retry"),
        }
        false
    })
}
