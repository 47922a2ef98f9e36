//! Background workers: threads that repeat a unit of work over a store until stopped.
//!
//! The purger ([`spawn_purger`]) finishes large clears and erasures, the dispatcher
//! ([`spawn_dispatcher`]) sends deletion events, the retention job ([`spawn_retention`])
//! removes expired messages, the key sweeper ([`spawn_key_sweeper`]) removes expired
//! idempotency records. Each waits on a [`Wakeup`]; [`Wakeups`] is the store's
//! [`CommitListener`] that wakes the right one after a commit. The dispatcher and the
//! retention job report what they do to an [`Observer`] (the app's metrics).

pub mod dispatcher;
pub mod key_sweeper;
pub mod observer;
pub mod purger;
pub mod retention;

pub use dispatcher::{DispatchOptions, dispatch_due, spawn_dispatcher};
pub use key_sweeper::spawn_key_sweeper;
pub use observer::{DeliveryOutcome, Observer, Unobserved};
pub use purger::spawn_purger;
pub use retention::{RETENTION_INTERVAL, spawn_retention};

use crate::store::{Backlog, CommitListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// Wakes a [`Worker`] before its interval ends (a clear left rows to purge, a deletion
/// wrote an event to send).
#[derive(Clone, Debug, Default)]
pub struct Wakeup(Arc<(Mutex<bool>, Condvar)>);

impl Wakeup {
    /// Marks work as pending and wakes the waiting worker.
    pub fn wake(&self) {
        let (flag, cvar) = &*self.0;
        *flag.lock().unwrap_or_else(PoisonError::into_inner) = true;
        cvar.notify_all();
    }

    /// Waits until woken or `timeout` passes, and clears the flag.
    fn wait(&self, timeout: Duration) {
        let (flag, cvar) = &*self.0;
        let guard = flag.lock().unwrap_or_else(PoisonError::into_inner);
        let (mut guard, _) = cvar
            .wait_timeout_while(guard, timeout, |pending| !*pending)
            .unwrap_or_else(PoisonError::into_inner);
        *guard = false;
    }
}

/// The wake-ups of the purger and the dispatcher, woken by the store's commits.
#[derive(Clone, Debug, Default)]
pub struct Wakeups {
    /// Wakes the purger.
    pub purge: Wakeup,
    /// Wakes the dispatcher.
    pub events: Wakeup,
}

impl CommitListener for Wakeups {
    fn committed(&self, backlog: Backlog) {
        match backlog {
            Backlog::Event => self.events.wake(),
            Backlog::Purge => self.purge.wake(),
        }
    }
}

/// A named thread running `tick` until [`Worker::stop`]: again at once when `tick` reports
/// more work, otherwise after `interval` or when its [`Wakeup`] is woken.
#[derive(Debug)]
pub struct Worker {
    stop: Arc<AtomicBool>,
    wakeup: Wakeup,
    handle: Option<JoinHandle<()>>,
}

impl Worker {
    /// Starts the thread. `tick` gets the stop flag to end long work early, and returns
    /// whether there is more work right now.
    ///
    /// # Errors
    /// When the thread cannot be spawned.
    pub fn spawn(
        name: &str,
        interval: Duration,
        wakeup: Wakeup,
        mut tick: impl FnMut(&AtomicBool) -> bool + Send + 'static,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, wait) = (Arc::clone(&stop), wakeup.clone());
        let handle = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    if !tick(&flag) {
                        wait.wait(interval);
                    }
                }
            })?;
        Ok(Self {
            stop,
            wakeup,
            handle: Some(handle),
        })
    }

    /// Asks the thread to stop, wakes it, and waits for its current tick to end.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.wakeup.wake();
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn a_wakeup_runs_the_next_tick_before_the_interval() {
        let ticks = Arc::new(AtomicUsize::new(0));
        let wakeup = Wakeup::default();
        let counted = Arc::clone(&ticks);
        let worker = Worker::spawn(
            "test",
            Duration::from_secs(3600),
            wakeup.clone(),
            move |_| {
                counted.fetch_add(1, Ordering::SeqCst);
                false
            },
        )
        .expect("spawned");
        while ticks.load(Ordering::SeqCst) < 1 {
            std::thread::yield_now();
        }
        wakeup.wake();
        while ticks.load(Ordering::SeqCst) < 2 {
            std::thread::yield_now();
        }
        worker.stop(); // returns although the interval is an hour
        assert!(ticks.load(Ordering::SeqCst) >= 2);
    }
}
