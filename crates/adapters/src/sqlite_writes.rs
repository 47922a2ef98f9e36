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
        let mut queue = lock(&self.queue);
        if !queue.taken {
            queue.taken = true;
            return WriteTurn { gate: self };
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
        WriteTurn { gate: self }
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
        let mut queue = lock(&self.gate.queue);
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

/// Checkpoints shared by the deletions that wait for them.
#[derive(Debug, Default)]
pub struct GroupCheckpoint {
    state: Mutex<Checkpoints>,
    finished_one: Condvar,
}

#[derive(Debug, Default)]
struct Checkpoints {
    /// Checkpoints started so far.
    started: u64,
    /// The newest finished checkpoint (they run one at a time, so in order).
    finished: u64,
    running: bool,
    /// Callers waiting for a checkpoint to finish.
    waiting: usize,
}

impl GroupCheckpoint {
    /// Returns once a checkpoint that started after this call began has finished. When none
    /// is running, the caller runs it: `take_turn` first (the write turn, held until the
    /// checkpoint is done), then `checkpoint`. Call after the commit whose frames must leave
    /// the WAL.
    ///
    /// A checkpoint counts as started once its runner holds the write turn: every commit
    /// before that is in the WAL it copies, so callers that arrive while the runner waits
    /// for its turn share it.
    pub fn after_commit<T>(&self, take_turn: impl FnOnce() -> T, checkpoint: impl FnOnce()) {
        let mut state = lock(&self.state);
        // One running now may have started before the caller's commit: only the next counts.
        let needed = state.started + 1;
        let mut run = Some((take_turn, checkpoint));
        while state.finished < needed {
            if state.running {
                state.waiting += 1;
                state = self
                    .finished_one
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                state.waiting -= 1;
                continue;
            }
            state.running = true;
            drop(state);
            // The same caller never runs two: the one it starts is the one it needs (only the
            // runner moves `started`, so it becomes `needed`).
            let (take_turn, checkpoint) = run.take().unwrap_or_else(|| unreachable!("runs once"));
            let turn = take_turn();
            let this = {
                let mut state = lock(&self.state);
                state.started += 1;
                state.started
            };
            let finished = Finished { group: self, this };
            checkpoint();
            drop(turn);
            drop(finished);
            state = lock(&self.state);
        }
    }
}

/// Truncating WAL checkpoints, shared by concurrent callers, on a connection of their own.
pub struct WalScrubber {
    group: GroupCheckpoint,
    conn: Mutex<SqliteConnection>,
}

impl std::fmt::Debug for WalScrubber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalScrubber").finish_non_exhaustive()
    }
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
    /// timeout: it never sleeps in SQLite's busy handler, it retries itself.
    ///
    /// # Errors
    /// When the database cannot be opened.
    pub fn open(path: &str) -> anyhow::Result<Self> {
        let mut conn = SqliteConnection::establish(path)?;
        conn.batch_execute("PRAGMA busy_timeout = 0;")?;
        Ok(Self {
            group: GroupCheckpoint::default(),
            conn: Mutex::new(conn),
        })
    }

    /// Returns once every transaction committed before the call is out of the WAL (see
    /// [`GroupCheckpoint::after_commit`]); `take_turn` takes the write turn the checkpoint
    /// holds while it runs.
    pub fn after_commit<T>(&self, take_turn: impl FnOnce() -> T) {
        self.group.after_commit(take_turn, || self.checkpoint());
    }

    /// Copies the WAL into the main file and truncates it, retrying every 50 µs while
    /// readers are still on the WAL.
    fn checkpoint(&self) {
        let mut conn = lock(&self.conn);
        let started = Instant::now();
        let mut attempts = 0_u32;
        loop {
            attempts += 1;
            match diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)")
                .get_result::<CheckpointResult>(&mut *conn)
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
}

/// Marks a checkpoint finished and wakes its waiters, also when it panicked.
struct Finished<'a> {
    group: &'a GroupCheckpoint,
    this: u64,
}

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        let mut state = lock(&self.group.state);
        state.finished = self.this;
        state.running = false;
        drop(state);
        self.group.finished_one.notify_all();
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

    /// `n` threads that have committed and wait for a checkpoint (counting the ones they run
    /// in `runs`); each answers how many had run when it returned.
    fn committers(
        group: &Arc<GroupCheckpoint>,
        runs: &Arc<AtomicU64>,
        n: usize,
    ) -> Vec<thread::JoinHandle<u64>> {
        (0..n)
            .map(|_| {
                let (group, runs) = (Arc::clone(group), Arc::clone(runs));
                thread::spawn(move || {
                    group.after_commit(
                        || (),
                        || {
                            runs.fetch_add(1, Ordering::SeqCst);
                        },
                    );
                    runs.load(Ordering::SeqCst)
                })
            })
            .collect()
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
        let group = Arc::new(GroupCheckpoint::default());
        let runs = Arc::new(AtomicU64::new(0));
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let running = {
            let (group, runs) = (Arc::clone(&group), Arc::clone(&runs));
            thread::spawn(move || {
                group.after_commit(
                    || (),
                    || {
                        runs.fetch_add(1, Ordering::SeqCst);
                        hold.recv().expect("released");
                    },
                );
            })
        };
        while runs.load(Ordering::SeqCst) == 0 {
            thread::yield_now();
        }
        // Three commits land while checkpoint 1 runs: all three share checkpoint 2.
        let later = committers(&group, &runs, 3);
        while lock(&group.state).waiting < 3 {
            thread::yield_now();
        }
        release.send(()).expect("sent");
        running.join().expect("joined");
        for t in later {
            assert_eq!(
                t.join().expect("joined"),
                2,
                "returned only after the second run"
            );
        }
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn commits_that_land_while_the_runner_waits_for_its_turn_share_its_checkpoint() {
        let group = Arc::new(GroupCheckpoint::default());
        let runs = Arc::new(AtomicU64::new(0));
        let (give_turn, wait_turn) = std::sync::mpsc::channel::<()>();
        let runner = {
            let (group, runs) = (Arc::clone(&group), Arc::clone(&runs));
            thread::spawn(move || {
                group.after_commit(
                    || wait_turn.recv().expect("turn given"),
                    || {
                        runs.fetch_add(1, Ordering::SeqCst);
                    },
                );
            })
        };
        while !lock(&group.state).running {
            thread::yield_now();
        }
        // The runner waits for the write turn, behind three writers that commit and then
        // ask for a checkpoint: their frames are in the WAL it will copy.
        let later = committers(&group, &runs, 3);
        while lock(&group.state).waiting < 3 {
            thread::yield_now();
        }
        give_turn.send(()).expect("sent");
        runner.join().expect("joined");
        for t in later {
            t.join().expect("joined");
        }
        assert_eq!(
            runs.load(Ordering::SeqCst),
            1,
            "one checkpoint served all four"
        );
    }
}
