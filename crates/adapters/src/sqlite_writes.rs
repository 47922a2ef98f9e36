//! SQLite has one writer at a time. Left to itself it makes every other writer sleep in its
//! busy handler (1, 2, 5, 10 … 100 ms naps), which turns concurrency into tail latency. So
//! the process serves its writers itself: [`WriteGate`] lets one write transaction run at a
//! time, in arrival order, and wakes the next one (only that one) the moment the previous
//! commits. Readers
//! never take it (WAL readers run beside the writer).
//!
//! Deleted content must also leave the WAL file, which takes a `wal_checkpoint(TRUNCATE)`.
//! [`GroupCheckpoint`] lets concurrent deletions share one: each waits for a checkpoint that
//! *started after its commit*, and whichever of them finds none running starts it, so a
//! burst of deletions pays for one or two checkpoints instead of one each, and each response
//! still leaves after its content is gone from the files. [`WalScrubber`] runs them on a
//! connection of its own that never sleeps in the busy handler either: a truncating
//! checkpoint must wait for readers still on the WAL, which takes microseconds, and the
//! busy handler's first nap alone is a millisecond.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::Thread;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Integer;

/// A first-come, first-served lock for write transactions. A writer that finds it taken
/// parks in a queue; the one leaving hands the turn straight to the first in line and wakes
/// only that thread (no herd of waiters woken to find it is not their turn).
#[derive(Debug, Default)]
pub struct WriteGate {
    queue: Mutex<Queue>,
}

#[derive(Debug, Default)]
struct Queue {
    /// Whether a writer holds the turn.
    taken: bool,
    /// Writers waiting, in arrival order.
    waiting: VecDeque<Arc<Waiter>>,
}

#[derive(Debug)]
struct Waiter {
    thread: Thread,
    /// Set by the writer that hands over the turn.
    granted: AtomicBool,
}

/// The right to write, held until dropped.
#[derive(Debug)]
pub struct WriteTurn<'a> {
    gate: &'a WriteGate,
}

impl WriteGate {
    /// Waits for every writer that arrived earlier, then returns this writer's turn.
    pub fn enter(&self) -> WriteTurn<'_> {
        self.acquire();
        WriteTurn { gate: self }
    }

    /// Waits for the turn; [`Self::leave`] gives it up.
    fn acquire(&self) {
        let mut queue = lock(&self.queue);
        if !queue.taken {
            queue.taken = true;
            return;
        }
        let me = Arc::new(Waiter {
            thread: std::thread::current(),
            granted: AtomicBool::new(false),
        });
        queue.waiting.push_back(Arc::clone(&me));
        drop(queue);
        while !me.granted.load(Ordering::Acquire) {
            std::thread::park();
        }
    }

    /// How many writers hold or wait for a turn now.
    #[cfg(test)]
    pub fn queued(&self) -> usize {
        let queue = lock(&self.queue);
        usize::from(queue.taken) + queue.waiting.len()
    }
}

impl Drop for WriteTurn<'_> {
    fn drop(&mut self) {
        self.gate.leave();
    }
}

/// A [`WriteTurn`] that owns its gate, for a turn held across calls (a unit of work,
/// `DieselStore::begin_unit`).
#[derive(Debug)]
pub struct OwnedWriteTurn {
    gate: Arc<WriteGate>,
}

impl OwnedWriteTurn {
    /// Waits for every writer that arrived earlier, then returns this writer's turn.
    pub fn enter(gate: &Arc<WriteGate>) -> Self {
        gate.acquire();
        Self {
            gate: Arc::clone(gate),
        }
    }
}

impl Drop for OwnedWriteTurn {
    fn drop(&mut self) {
        self.gate.leave();
    }
}

impl WriteGate {
    /// Gives the turn up: to the first writer in line, or back to the gate.
    fn leave(&self) {
        let mut queue = lock(&self.queue);
        match queue.waiting.pop_front() {
            // The turn passes on directly: `taken` stays set.
            Some(next) => {
                drop(queue);
                next.granted.store(true, Ordering::Release);
                next.thread.unpark();
            }
            None => queue.taken = false,
        }
    }
}

/// A callback run once a checkpoint has finished.
type Callback = Box<dyn FnOnce() + Send>;

/// Truncating WAL checkpoints, run one at a time by a thread of their own whenever a commit
/// asks for one, and shared by every commit that asked before it started.
///
/// A caller asks with [`WalScrubber::ticket`] after its commit and gets the number of the
/// checkpoint that clears it: the next one to start. A checkpoint counts as started once
/// the thread holds the write turn: every commit before that is in the WAL it copies, so
/// commits that land while it waits for its turn share it. The caller then waits for that
/// checkpoint: blocking ([`WalScrubber::wait`]), or without a thread
/// ([`WalScrubber::when_done`]), which lets a request give its connection back first.
pub struct WalScrubber {
    shared: Arc<Shared>,
    runner: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for WalScrubber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalScrubber").finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Shared {
    state: Mutex<Checkpoints>,
    /// Wakes the thread: a checkpoint was asked for, or the scrubber is closing.
    demand: Condvar,
    /// Wakes blocking waiters: a checkpoint finished.
    finished_one: Condvar,
}

#[derive(Default)]
struct Checkpoints {
    /// Checkpoints started so far.
    started: u64,
    /// The newest finished checkpoint (they run one at a time, so in order).
    finished: u64,
    /// The newest checkpoint a caller needs.
    requested: u64,
    /// Callbacks waiting for a checkpoint, with its number.
    callbacks: Vec<(u64, Callback)>,
    /// Set when the scrubber is dropped: the thread runs the checkpoint still needed, if
    /// any, and ends.
    closing: bool,
}

/// How long a checkpoint waits for readers to leave the WAL before giving up (the next
/// one retries; a reader that slow is a bug worth the warning).
const READERS_PATIENCE: Duration = Duration::from_secs(5);

/// The row `PRAGMA wal_checkpoint` answers.
#[derive(QueryableByName)]
struct CheckpointResult {
    /// 1 when readers (or a writer) kept it from finishing.
    #[diesel(sql_type = Integer)]
    busy: i32,
}

impl WalScrubber {
    /// Opens the scrubber's connection to the SQLite database at `path`, with no busy
    /// timeout (it never sleeps in SQLite's busy handler, it retries itself), and starts
    /// its thread; each checkpoint holds a turn of `writes` while it runs.
    ///
    /// # Errors
    /// When the database cannot be opened.
    pub fn open(path: &str, writes: Option<Arc<WriteGate>>) -> anyhow::Result<Self> {
        let mut conn = SqliteConnection::establish(path)?;
        conn.batch_execute("PRAGMA busy_timeout = 0;")?;
        Self::with_checkpoint(writes, move || checkpoint(&mut conn))
    }

    /// A scrubber whose checkpoint is `run` (tests count and pace it).
    fn with_checkpoint(
        writes: Option<Arc<WriteGate>>,
        mut run: impl FnMut() + Send + 'static,
    ) -> anyhow::Result<Self> {
        let shared = Arc::new(Shared::default());
        let thread_shared = Arc::clone(&shared);
        let runner = std::thread::Builder::new()
            .name("wal-checkpoints".to_owned())
            .spawn(move || {
                let turn = || writes.as_deref().map(WriteGate::enter);
                serve(&thread_shared, turn, &mut run);
            })?;
        Ok(Self {
            shared,
            runner: Some(runner),
        })
    }

    /// The checkpoint that clears every transaction committed before this call: the next
    /// one to start, which the thread is asked to run.
    pub fn ticket(&self) -> u64 {
        let mut state = lock(&self.shared.state);
        // One running now may have started before the caller's commit: only the next counts.
        let needed = state.started + 1;
        state.requested = state.requested.max(needed);
        drop(state);
        self.shared.demand.notify_one();
        needed
    }

    /// Returns once checkpoint `needed` has finished.
    pub fn wait(&self, needed: u64) {
        let mut state = lock(&self.shared.state);
        while state.finished < needed {
            state = self
                .shared
                .finished_one
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Calls `done` once every checkpoint asked for so far ([`Self::ticket`]) has
    /// finished: at once if none is pending, else on the scrubber's thread when the last
    /// one asked for finishes. Called after the caller's own `ticket`, it runs `done` after
    /// that ticket's checkpoint, without asking for another.
    pub fn when_asked_done(&self, done: impl FnOnce() + Send + 'static) {
        let mut state = lock(&self.shared.state);
        if state.requested <= state.finished {
            drop(state);
            done();
            return;
        }
        let needed = state.requested;
        state.callbacks.push((needed, Box::new(done)));
    }

    /// Calls `done` once checkpoint `needed` has finished: at once if it has, else on the
    /// scrubber's thread when it does.
    pub fn when_done(&self, needed: u64, done: impl FnOnce() + Send + 'static) {
        let mut state = lock(&self.shared.state);
        if state.finished >= needed {
            drop(state);
            done();
            return;
        }
        state.callbacks.push((needed, Box::new(done)));
    }
}

impl Drop for WalScrubber {
    fn drop(&mut self) {
        lock(&self.shared.state).closing = true;
        self.shared.demand.notify_all();
        if let Some(runner) = self.runner.take() {
            let _ = runner.join();
        }
    }
}

/// The scrubber's thread: runs a checkpoint whenever one is needed that has not run, each
/// holding the write turn (`turn`), then wakes whoever waits for it. Closing, it runs the
/// one still needed, if any, so that no waiter is woken before its content left the WAL.
fn serve<T>(shared: &Shared, turn: impl Fn() -> T, run: &mut impl FnMut()) {
    loop {
        let mut state = lock(&shared.state);
        while state.requested <= state.finished && !state.closing {
            state = shared
                .demand
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if state.closing && state.requested <= state.finished {
            return;
        }
        drop(state);
        let held = turn();
        let this = {
            let mut state = lock(&shared.state);
            state.started += 1;
            state.started
        };
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(&mut *run)).is_err() {
            tracing::error!("WAL checkpoint panicked; the next one retries");
        }
        drop(held);
        let done: Vec<Callback> = {
            let mut state = lock(&shared.state);
            state.finished = this;
            let (ready, later) = std::mem::take(&mut state.callbacks)
                .into_iter()
                .partition(|(needed, _)| *needed <= this);
            state.callbacks = later;
            ready.into_iter().map(|(_, done)| done).collect()
        };
        shared.finished_one.notify_all();
        done.into_iter().for_each(|done| done());
    }
}

/// Copies the WAL into the main file and truncates it, retrying every 50 µs while readers
/// are still on the WAL.
fn checkpoint(conn: &mut SqliteConnection) {
    let started = Instant::now();
    let mut attempts = 0_u32;
    loop {
        attempts += 1;
        match diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)")
            .get_result::<CheckpointResult>(conn)
        {
            Ok(r) if r.busy == 0 => {
                tracing::debug!(
                    took_us = started.elapsed().as_micros(),
                    attempts,
                    "WAL checkpoint"
                );
                return;
            }
            Ok(_) if started.elapsed() < READERS_PATIENCE => {
                std::thread::sleep(Duration::from_micros(50));
            }
            Ok(_) => {
                tracing::warn!(
                    attempts,
                    "WAL checkpoint after deletion kept busy by readers; the next one retries"
                );
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "WAL checkpoint after deletion failed; the next one retries");
                return;
            }
        }
    }
}

/// The WAL checkpoint a request's deletions still need, handed to it by
/// [`deferring_wal_scrub`]: it waits for it after giving its connection back.
#[derive(Debug)]
pub struct ScrubWait {
    scrubber: Arc<WalScrubber>,
    needed: u64,
}

impl ScrubWait {
    /// Returns once the checkpoint has finished.
    pub fn wait(self) {
        self.scrubber.wait(self.needed);
    }

    /// Calls `done` once the checkpoint has finished (at once if it has), without holding
    /// a thread meanwhile.
    pub fn when_done(self, done: impl FnOnce() + Send + 'static) {
        self.scrubber.when_done(self.needed, done);
    }
}

std::thread_local! {
    /// Inside [`deferring_wal_scrub`]: `Some`, holding the checkpoint its deletions need.
    static DEFERRED: std::cell::RefCell<Option<Option<ScrubWait>>> =
        const { std::cell::RefCell::new(None) };
}

/// Runs `f`, and hands back, instead of waiting for it, the WAL checkpoint that the
/// deletions it committed need (SQLite) before their content is gone from the files. The
/// caller must wait for it ([`ScrubWait`]) before it reports them done; it can give the
/// connection `f` used back first, so that deletions waiting for one checkpoint are not
/// bounded by the pool. Outside it, a deletion waits for its checkpoint itself.
pub fn deferring_wal_scrub<T>(f: impl FnOnce() -> T) -> (T, Option<ScrubWait>) {
    /// Gives the enclosing scope back its state when dropped, also when `f` panics.
    struct Restore(Option<Option<ScrubWait>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let outer = self.0.take();
            DEFERRED.with(|d| *d.borrow_mut() = outer);
        }
    }
    let restore = Restore(DEFERRED.with(|d| d.borrow_mut().replace(None)));
    let value = f();
    let wait = DEFERRED.with(|d| d.borrow_mut().as_mut().and_then(Option::take));
    drop(restore);
    (value, wait)
}

/// After a commit: defers the wait for its checkpoint to the enclosing
/// [`deferring_wal_scrub`], or waits now.
pub(crate) fn scrub(scrubber: &Arc<WalScrubber>) {
    let needed = scrubber.ticket();
    let deferred = DEFERRED.with(|d| match d.borrow_mut().as_mut() {
        Some(slot) => {
            let needed = slot.as_ref().map_or(needed, |w| w.needed.max(needed));
            *slot = Some(ScrubWait {
                scrubber: Arc::clone(scrubber),
                needed,
            });
            true
        }
        None => false,
    });
    if !deferred {
        scrubber.wait(needed);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;
    use std::thread;

    /// A scrubber whose checkpoints count themselves in `runs`, each waiting for a message
    /// on `pace` when one is given.
    fn counting(
        writes: Option<Arc<WriteGate>>,
        runs: &Arc<AtomicU64>,
        pace: Option<std::sync::mpsc::Receiver<()>>,
    ) -> WalScrubber {
        let runs = Arc::clone(runs);
        WalScrubber::with_checkpoint(writes, move || {
            runs.fetch_add(1, Ordering::SeqCst);
            if let Some(pace) = &pace {
                pace.recv().expect("paced");
            }
        })
        .expect("started")
    }

    #[test]
    fn writers_take_turns_in_arrival_order() {
        let gate = Arc::new(WriteGate::default());
        let order = Arc::new(Mutex::new(Vec::new()));
        let first = gate.enter();
        let mut waiting = Vec::new();
        for i in 0..5 {
            let (mine, order) = (Arc::clone(&gate), Arc::clone(&order));
            waiting.push(thread::spawn(move || {
                let _turn = mine.enter();
                lock(&order).push(i);
            }));
            // Each one draws its ticket before the next starts.
            while gate.queued() < i + 2 {
                thread::yield_now();
            }
        }
        drop(first);
        for t in waiting {
            t.join().expect("joined");
        }
        assert_eq!(*lock(&order), vec![0, 1, 2, 3, 4]);
        assert_eq!(gate.queued(), 0);
    }

    #[test]
    fn a_checkpoint_running_at_commit_does_not_count_the_next_one_does() {
        let runs = Arc::new(AtomicU64::new(0));
        let (release, pace) = std::sync::mpsc::channel::<()>();
        let scrubber = counting(None, &runs, Some(pace));
        let first = scrubber.ticket();
        while runs.load(Ordering::SeqCst) == 0 {
            thread::yield_now();
        }
        // Three commits land while checkpoint 1 runs: all three need checkpoint 2.
        let later: Vec<u64> = (0..3).map(|_| scrubber.ticket()).collect();
        assert_eq!(later, vec![first + 1; 3]);
        release.send(()).expect("sent");
        scrubber.wait(first);
        release.send(()).expect("sent");
        scrubber.wait(first + 1);
        assert_eq!(
            runs.load(Ordering::SeqCst),
            2,
            "one more run served all three"
        );
    }

    #[test]
    fn commits_that_land_while_the_runner_waits_for_its_turn_share_its_checkpoint() {
        let gate = Arc::new(WriteGate::default());
        let runs = Arc::new(AtomicU64::new(0));
        let scrubber = counting(Some(Arc::clone(&gate)), &runs, None);
        // A writer holds the turn: the checkpoint asked for waits for it.
        let held = gate.enter();
        let first = scrubber.ticket();
        while gate.queued() < 2 {
            thread::yield_now();
        }
        // Three more writers commit meanwhile: their frames will be in the WAL it copies.
        let later: Vec<u64> = (0..3).map(|_| scrubber.ticket()).collect();
        assert_eq!(later, vec![first; 3], "they need the same checkpoint");
        drop(held);
        scrubber.wait(first);
        assert_eq!(
            runs.load(Ordering::SeqCst),
            1,
            "one checkpoint served all four"
        );
    }

    #[test]
    fn a_callback_runs_once_its_checkpoint_has_finished_and_at_once_after() {
        let runs = Arc::new(AtomicU64::new(0));
        let (release, pace) = std::sync::mpsc::channel::<()>();
        let scrubber = counting(None, &runs, Some(pace));
        let needed = scrubber.ticket();
        let (called, calls) = std::sync::mpsc::channel::<u64>();
        let first = called.clone();
        let seen = Arc::clone(&runs);
        scrubber.when_done(needed, move || {
            first.send(seen.load(Ordering::SeqCst)).expect("sent");
        });
        assert!(
            calls.recv_timeout(Duration::from_millis(50)).is_err(),
            "not before the checkpoint"
        );
        release.send(()).expect("sent");
        assert_eq!(calls.recv().expect("called"), 1);
        scrubber.when_done(needed, move || called.send(0).expect("sent"));
        assert_eq!(
            calls.try_recv().ok(),
            Some(0),
            "already done: called at once"
        );
    }

    #[test]
    fn inside_a_deferring_scope_a_commit_hands_its_wait_back() {
        let runs = Arc::new(AtomicU64::new(0));
        let (release, pace) = std::sync::mpsc::channel::<()>();
        let scrubber = Arc::new(counting(None, &runs, Some(pace)));
        let ((), wait) = deferring_wal_scrub(|| scrub(&scrubber));
        let wait = wait.expect("handed back");
        assert_eq!(
            lock(&scrubber.shared.state).finished,
            0,
            "the scope returned before its checkpoint finished"
        );
        release.send(()).expect("sent");
        wait.wait();
        assert_eq!(lock(&scrubber.shared.state).finished, 1);
        // A scope that commits nothing hands nothing back; outside one, a commit waits.
        assert!(deferring_wal_scrub(|| ()).1.is_none());
        release.send(()).expect("sent");
        scrub(&scrubber);
        assert_eq!(lock(&scrubber.shared.state).finished, 2);
    }

    #[test]
    fn closing_runs_the_checkpoint_still_needed_before_it_wakes_its_waiter() {
        let runs = Arc::new(AtomicU64::new(0));
        let (release, pace) = std::sync::mpsc::channel::<()>();
        let scrubber = counting(None, &runs, Some(pace));
        let running = scrubber.ticket();
        while runs.load(Ordering::SeqCst) == 0 {
            thread::yield_now();
        }
        // A commit lands while checkpoint 1 runs, and the scrubber closes before it ends.
        let needed = scrubber.ticket();
        assert_eq!(needed, running + 1);
        let (called, calls) = std::sync::mpsc::channel::<u64>();
        let seen = Arc::clone(&runs);
        scrubber.when_done(needed, move || {
            called.send(seen.load(Ordering::SeqCst)).expect("sent");
        });
        let shared = Arc::clone(&scrubber.shared);
        let closing = thread::spawn(move || drop(scrubber));
        while !lock(&shared.state).closing {
            thread::yield_now();
        }
        for _ in 0..2 {
            let _ = release.send(());
        }
        closing.join().expect("closed");
        assert_eq!(
            calls.recv_timeout(Duration::from_secs(5)).ok(),
            Some(2),
            "woken only after the checkpoint it needed ran"
        );
    }
}
