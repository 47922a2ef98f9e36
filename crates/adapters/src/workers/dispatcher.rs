//! The dispatcher: a worker that drains the outbox.
//!
//! It claims due events ([`DieselStore::claim_due_events`]), hands each to the
//! [`Notifier`] for the room's webhook (else the global one), and records the outcome:
//! delivered, retry later per [`RetryPolicy`], failed, or skipped (no webhook). The retry
//! window counts from the start of the event's delivery round: its creation, or its last
//! redelivery (`roomwarden_domain::ports::EventLog::redeliver_event`). Each delivery
//! attempt's outcome and duration go to the options' [`Observer`].

use super::{DeliveryOutcome, Observer, Unobserved, Wakeup, Worker};
use crate::store::{ClaimedEvent, DieselStore};
use chrono::Duration;
use roomwarden_domain::events::{AfterFailure, DeliveryState, Notifier, NotifyError, RetryPolicy};
use roomwarden_domain::model::iso8601;
use roomwarden_domain::ports::StoreResult;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// How many events it sends at once: the threads of a dispatch, whatever the backlog.
const SENDERS: usize = 8;

/// How many events one dispatcher claims at a time: one per sender, so that every claimed
/// event's attempt starts at once and ends (the notifier's 10 s timeout) well within its
/// lease (15 s). A larger claim would leave events waiting for a sender past their lease,
/// where another dispatcher or a redelivery could take them while they are still queued here.
const CLAIM_BATCH: i64 = SENDERS as i64;

/// Dispatcher settings.
#[derive(Debug, Clone)]
pub struct DispatchOptions {
    /// Where events of rooms without their own webhook go (`ROOMWARDEN_WEBHOOK_URL`).
    pub global_webhook: Option<String>,
    /// Retry schedule.
    pub retry: RetryPolicy,
    /// How long a claim keeps other dispatchers away; longer than the notifier's timeout.
    pub lease: Duration,
    /// How often to look for due events when not woken.
    pub poll: std::time::Duration,
    /// Told the outcome and duration of every delivery attempt.
    pub observer: Arc<dyn Observer>,
}

impl Default for DispatchOptions {
    fn default() -> Self {
        Self {
            global_webhook: None,
            retry: RetryPolicy::default(),
            lease: Duration::seconds(15),
            poll: std::time::Duration::from_millis(500),
            observer: Arc::new(Unobserved),
        }
    }
}

/// Sends one claimed event and records the outcome, unless the event was taken over
/// meanwhile (redelivered, or claimed again after the lease ran out): then its new round
/// keeps its own state and this outcome is only logged.
fn dispatch_one(
    store: &DieselStore,
    notifier: &dyn Notifier,
    options: &DispatchOptions,
    claimed: &ClaimedEvent,
) -> StoreResult<()> {
    if !attempt(store, notifier, options, claimed)? {
        tracing::info!(event = %claimed.event.deletion, "delivery outcome not recorded: the event was taken over during the attempt");
    }
    Ok(())
}

/// Sends one claimed event; whether its outcome was recorded.
fn attempt(
    store: &DieselStore,
    notifier: &dyn Notifier,
    options: &DispatchOptions,
    claimed: &ClaimedEvent,
) -> StoreResult<bool> {
    let Some(destination) = claimed
        .room_webhook
        .as_deref()
        .or(options.global_webhook.as_deref())
    else {
        return store.finish_event(claimed, DeliveryState::Skipped, None, claimed.attempts);
    };
    let attempts = claimed.attempts + 1;
    let started = Instant::now();
    let sent = notifier.notify(destination, &claimed.event);
    let elapsed = started.elapsed();
    let observe = |outcome| options.observer.delivery_attempted(outcome, elapsed);
    match sent {
        Ok(()) => {
            observe(DeliveryOutcome::Delivered);
            tracing::info!(event = %claimed.event.deletion, room = %claimed.event.room, attempts, "event delivered");
            store.finish_event(claimed, DeliveryState::Delivered, None, attempts)
        }
        Err(e @ NotifyError::Refused(_)) => {
            observe(DeliveryOutcome::Failed);
            let error = e.to_string();
            tracing::error!(event = %claimed.event.deletion, room = %claimed.event.room, attempts, error, "event not delivered: destination refused by the webhook address policy");
            store.finish_event(claimed, DeliveryState::Failed, Some(&error), attempts)
        }
        Err(e) => {
            let error = e.to_string();
            match options
                .retry
                .after_failure(attempts, claimed.round_start, store.now())
            {
                AfterFailure::RetryAt(at) => {
                    observe(DeliveryOutcome::Retry);
                    tracing::warn!(event = %claimed.event.deletion, room = %claimed.event.room, attempts, error, retry_at = %iso8601(at), "event delivery failed; will retry");
                    store.retry_event(claimed, at, &error, attempts)
                }
                AfterFailure::GiveUp => {
                    observe(DeliveryOutcome::Failed);
                    tracing::error!(event = %claimed.event.deletion, room = %claimed.event.room, attempts, error, "event delivery failed permanently");
                    store.finish_event(claimed, DeliveryState::Failed, Some(&error), attempts)
                }
            }
        }
    }
}

/// Claims and sends due events once; returns how many it claimed.
///
/// # Errors
/// A storage failure while claiming.
pub fn dispatch_due(
    store: &DieselStore,
    notifier: &dyn Notifier,
    options: &DispatchOptions,
    worker: &str,
) -> StoreResult<usize> {
    let claimed = store.claim_due_events(worker, options.lease, CLAIM_BATCH)?;
    // On a bounded pool of senders, so that one slow receiver does not hold up the others
    // and a burst of events never means a burst of threads.
    let next = AtomicUsize::new(0);
    let senders = SENDERS.min(claimed.len());
    std::thread::scope(|scope| {
        for _ in 0..senders {
            scope.spawn(|| {
                while let Some(event) = claimed.get(next.fetch_add(1, Ordering::Relaxed)) {
                    if let Err(e) = dispatch_one(store, notifier, options, event) {
                        tracing::warn!(event = %event.event.deletion, error = %e, "could not record the delivery outcome; the claim will expire and the event be retried");
                    }
                }
            });
        }
    });
    Ok(claimed.len())
}

/// Starts the thread that drains the outbox: woken by `wakeup` (see
/// [`super::Wakeups`]) after every committed deletion, and every
/// `options.poll` for retries that fall due.
///
/// # Errors
/// When the thread cannot be spawned.
pub fn spawn_dispatcher(
    store: DieselStore,
    notifier: Arc<dyn Notifier>,
    options: DispatchOptions,
    wakeup: Wakeup,
) -> std::io::Result<Worker> {
    let worker = format!(
        "dispatcher-{}",
        roomwarden_domain::auth::generate_secret()
            .get(..12)
            .unwrap_or("0")
    );
    Worker::spawn(
        "dispatcher",
        options.poll,
        wakeup,
        move |_| match dispatch_due(&store, notifier.as_ref(), &options, &worker) {
            Ok(claimed) => claimed > 0,
            Err(e) => {
                tracing::warn!(error = %e, "outbox unavailable; will retry");
                false
            }
        },
    )
}
