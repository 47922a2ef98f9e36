//! What the workers report as they work, for whoever measures them (the app's metrics).
//!
//! The adapters stay free of any metrics library: a worker calls its [`Observer`], and the
//! app implements it. Every method has a no-op default, and [`Unobserved`] is the observer
//! of workers nobody measures.

use roomwarden_domain::model::Deletion;
use std::time::Duration;

/// How one delivery attempt of a deletion event ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryOutcome {
    /// The receiver acknowledged the event (`delivered`).
    Delivered,
    /// It failed and will be tried again (the event stays `pending`).
    Retry,
    /// It failed for good: the retry window is over, or the webhook address policy refused
    /// the destination (`failed`).
    Failed,
}

impl DeliveryOutcome {
    /// `delivered`, `retry` or `failed`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Retry => "retry",
            Self::Failed => "failed",
        }
    }
}

/// Told by the workers what they did. Called on the workers' threads; must not block.
pub trait Observer: Send + Sync + std::fmt::Debug {
    /// The dispatcher made one delivery attempt that took `elapsed` (the notifier's call
    /// only: the outbox writes around it are not included) and ended with `outcome`.
    fn delivery_attempted(&self, outcome: DeliveryOutcome, elapsed: Duration) {
        let _ = (outcome, elapsed);
    }

    /// The retention job committed `deletion` (one room of one run).
    fn retention_deleted(&self, deletion: &Deletion) {
        let _ = deletion;
    }
}

/// The observer of workers nobody measures.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unobserved;

impl Observer for Unobserved {}
