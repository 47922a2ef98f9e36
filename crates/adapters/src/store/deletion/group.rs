//! Group commit of single deletions: those that arrive while another is committing wait,
//! then commit together in one transaction, each with its own outcome, audit record and
//! event.
//!
//! One room's deletions serialise on the room's lock (on MySQL its row lock, held from the
//! lock's `SELECT … FOR UPDATE` to `COMMIT`; on SQLite the process's write turn, which every
//! room shares). Committed one transaction each, a room takes one commit (a redo-log flush
//! on MySQL) and one lock hand-over per deletion; committed as a group, one of each for all
//! that waited. Nothing waits for a group to fill: a deletion that finds nothing
//! committing under its key commits at once, alone, and leads; whatever arrives meanwhile
//! is the next group, led by its first member as soon as the current one has committed.
//!
//! A group whose transaction fails (other than by refusals, which are outcomes) is not
//! retried as a group: each member commits alone, so that one member's failure is its own;
//! unless the failure leaves the group's outcome unknown (its `COMMIT` lost its
//! connection): then every member is told so, and none runs again ([`GroupError`]).

use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// The single deletions waiting under each key (a room, or one key for all on SQLite),
/// shared by a store's clones. A key is present while a group of it is committing.
pub(crate) struct Groups<T, O> {
    keys: Mutex<HashMap<String, Vec<Member<T, O>>>>,
}

/// A deletion waiting for the group it will commit in.
struct Member<T, O> {
    item: T,
    reply: mpsc::Sender<Turn<T, O>>,
}

/// How a group's failure reaches its members.
pub(crate) trait GroupError: Sized {
    /// Whether nothing of the group can have committed, so that each member may commit
    /// alone.
    fn nothing_committed(&self) -> bool;
    /// What a member gets when its group's outcome is unknown.
    fn outcome_unknown() -> Self;
}

impl GroupError for roomwarden_domain::error::StoreError {
    fn nothing_committed(&self) -> bool {
        !matches!(self, Self::Uncertain(_))
    }

    fn outcome_unknown() -> Self {
        Self::Uncertain(anyhow::anyhow!(
            "the connection was lost while the deletion's group committed"
        ))
    }
}

/// What a waiting member is told.
enum Turn<T, O> {
    /// Its group committed: its outcome.
    Done(O),
    /// Its group failed before anything committed: commit alone.
    Alone,
    /// Its group's outcome is unknown: so is its own.
    Unknown,
    /// Lead the next group: the member's own item first, then these.
    Lead(Vec<Member<T, O>>),
}

impl<T, O> std::fmt::Debug for Groups<T, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let committing = self.keys.lock().map_or(0, |keys| keys.len());
        f.debug_struct("Groups")
            .field("committing", &committing)
            .finish()
    }
}

impl<T, O> Default for Groups<T, O> {
    fn default() -> Self {
        Self {
            keys: Mutex::new(HashMap::new()),
        }
    }
}

impl<T: Clone, O> Groups<T, O> {
    /// Commits `item` with whatever else waits under `key`: at once when nothing of `key` is
    /// committing, else in the next group. `commit` commits a group in one transaction,
    /// with one outcome per item, in order; every caller passes the same function.
    ///
    /// # Errors
    /// `commit`'s error, for `item` committed alone; [`GroupError::outcome_unknown`] when
    /// its group's outcome is unknown.
    pub(crate) fn commit<E: GroupError>(
        &self,
        key: &str,
        item: T,
        commit: impl Fn(&[T]) -> Result<Vec<O>, E>,
    ) -> Result<O, E> {
        let others = {
            let mut keys = self.lock();
            if let Some(waiting) = keys.get_mut(key) {
                let (reply, turn) = mpsc::channel();
                waiting.push(Member {
                    item: item.clone(),
                    reply,
                });
                drop(keys);
                match turn.recv() {
                    Ok(Turn::Done(outcome)) => return Ok(outcome),
                    Ok(Turn::Unknown) => return Err(E::outcome_unknown()),
                    Ok(Turn::Lead(others)) => others,
                    // Its group failed, or its leader is gone (a panic): the item's own
                    // transaction decides.
                    Ok(Turn::Alone) | Err(_) => return alone(item, &commit),
                }
            } else {
                keys.insert(key.to_owned(), Vec::new());
                Vec::new()
            }
        };
        self.lead(key, item, others, &commit)
    }

    /// Commits `own` and `others` as one group, hands the key to the next group, then
    /// tells the others their outcomes.
    fn lead<E: GroupError>(
        &self,
        key: &str,
        own: T,
        others: Vec<Member<T, O>>,
        commit: &impl Fn(&[T]) -> Result<Vec<O>, E>,
    ) -> Result<O, E> {
        let mut replies = Vec::with_capacity(others.len());
        let mut items = Vec::with_capacity(others.len() + 1);
        items.push(own);
        for member in others {
            items.push(member.item);
            replies.push(member.reply);
        }
        let outcome = {
            // Hands the key on even if `commit` panics, so that its waiters are not stranded
            // (the panic drops `replies`: those members commit alone).
            let _hand_over = HandOver { groups: self, key };
            commit(&items)
        };
        match outcome {
            Ok(outcomes) if outcomes.len() == items.len() => {
                let mut outcomes = outcomes.into_iter();
                let own = outcomes.next();
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(Turn::Done(outcome));
                }
                Ok(own.expect("one outcome per item"))
            }
            // A group of several whose outcome is unknown: so is each member's.
            Err(e) if !replies.is_empty() && !e.nothing_committed() => {
                for reply in replies {
                    let _ = reply.send(Turn::Unknown);
                }
                Err(e)
            }
            // A group without its outcomes, or a failed group of several: each alone.
            Ok(_) | Err(_) if !replies.is_empty() => {
                for reply in replies {
                    let _ = reply.send(Turn::Alone);
                }
                alone(items.swap_remove(0), commit)
            }
            Ok(mut outcomes) => Ok(outcomes.pop().expect("one outcome")),
            Err(e) => Err(e),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Vec<Member<T, O>>>> {
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Commits `item` in a transaction of its own.
fn alone<T, O, E>(item: T, commit: &impl Fn(&[T]) -> Result<Vec<O>, E>) -> Result<O, E> {
    let mut outcomes = commit(std::slice::from_ref(&item))?;
    Ok(outcomes.pop().expect("one outcome per item"))
}

/// Once a group's commit has returned (or panicked): ends the key when nothing waits
/// under it, else makes the first waiting member lead all that wait.
struct HandOver<'a, T: Clone, O> {
    groups: &'a Groups<T, O>,
    key: &'a str,
}

impl<T: Clone, O> Drop for HandOver<'_, T, O> {
    fn drop(&mut self) {
        // Told under the lock, so that the key stays present for whoever arrives meanwhile.
        let mut keys = self.groups.lock();
        let mut waiting = keys.remove(self.key).unwrap_or_default();
        while !waiting.is_empty() {
            let next = waiting.remove(0);
            match next.reply.send(Turn::Lead(waiting)) {
                Ok(()) => {
                    keys.insert(self.key.to_owned(), Vec::new());
                    return;
                }
                // The member is gone (it waits until told, so it cannot be): the next leads.
                Err(mpsc::SendError(Turn::Lead(rest))) => waiting = rest,
                Err(_) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier};
    use std::thread;
    use std::time::Duration;

    /// A test's failure: one starting with "unknown" leaves its group's outcome unknown.
    impl GroupError for String {
        fn nothing_committed(&self) -> bool {
            !self.starts_with("unknown")
        }

        fn outcome_unknown() -> Self {
            "unknown to the member".to_owned()
        }
    }

    /// Commits record the groups they were given.
    type Log = Arc<Mutex<Vec<Vec<u32>>>>;

    fn recording(log: &Log) -> impl Fn(&[u32]) -> Result<Vec<u32>, String> + Clone + Send + use<> {
        let log = Arc::clone(log);
        move |items: &[u32]| {
            log.lock().unwrap().push(items.to_vec());
            Ok(items.iter().map(|i| i * 10).collect())
        }
    }

    /// Waits until `n` members wait under `key`.
    fn until_waiting(groups: &Groups<u32, u32>, key: &str, n: usize) {
        for _ in 0..2_000 {
            if groups.lock().get(key).is_some_and(|w| w.len() == n) {
                return;
            }
            thread::sleep(Duration::from_millis(1));
        }
        panic!("{n} members never waited under {key}");
    }

    #[test]
    fn a_deletion_alone_commits_at_once_and_leaves_no_key() {
        let groups = Groups::default();
        let log = Log::default();
        assert_eq!(groups.commit("r", 1, recording(&log)), Ok(10));
        assert_eq!(*log.lock().unwrap(), vec![vec![1]]);
        assert!(groups.lock().is_empty());
    }

    #[test]
    fn deletions_arriving_during_a_commit_commit_together_next() {
        let groups = Arc::new(Groups::default());
        let log = Log::default();
        let (entered, release) = (Arc::new(Barrier::new(2)), Arc::new(Barrier::new(2)));
        let leader = {
            let (groups, log) = (Arc::clone(&groups), Arc::clone(&log));
            let (entered, release) = (Arc::clone(&entered), Arc::clone(&release));
            thread::spawn(move || {
                groups.commit("r", 1, |items: &[u32]| {
                    log.lock().unwrap().push(items.to_vec());
                    if items == [1] {
                        entered.wait();
                        release.wait();
                    }
                    Ok::<_, String>(items.iter().map(|i| i * 10).collect())
                })
            })
        };
        entered.wait();
        let followers: Vec<_> = (2..=4)
            .map(|i| {
                let (mine, record) = (Arc::clone(&groups), recording(&log));
                let follower = thread::spawn(move || mine.commit("r", i, record));
                until_waiting(&groups, "r", usize::try_from(i - 1).unwrap());
                follower
            })
            .collect();
        // Another key does not wait for this one.
        assert_eq!(groups.commit("other", 9, recording(&log)), Ok(90));
        release.wait();
        assert_eq!(leader.join().unwrap(), Ok(10));
        let outcomes: Vec<_> = followers.into_iter().map(|f| f.join().unwrap()).collect();
        assert_eq!(outcomes, vec![Ok(20), Ok(30), Ok(40)]);
        assert_eq!(
            *log.lock().unwrap(),
            vec![vec![1], vec![9], vec![2, 3, 4]],
            "the three that waited committed as one group, in arrival order"
        );
        assert!(groups.lock().is_empty());
    }

    #[test]
    fn a_failed_group_commits_each_member_alone() {
        let groups = Arc::new(Groups::default());
        let log = Log::default();
        let (entered, release) = (Arc::new(Barrier::new(2)), Arc::new(Barrier::new(2)));
        // Fails any group holding 3; the leader's first commit waits for the others.
        let commit = {
            let (log, entered, release) =
                (Arc::clone(&log), Arc::clone(&entered), Arc::clone(&release));
            move |items: &[u32]| {
                log.lock().unwrap().push(items.to_vec());
                if items == [1] {
                    entered.wait();
                    release.wait();
                }
                if items.contains(&3) {
                    return Err(format!("{items:?} failed"));
                }
                Ok(items.iter().map(|i| i * 10).collect())
            }
        };
        let leader = {
            let (groups, commit) = (Arc::clone(&groups), commit.clone());
            thread::spawn(move || groups.commit("r", 1, commit))
        };
        entered.wait();
        let followers: Vec<_> = (2..=3)
            .map(|i| {
                let (mine, commit) = (Arc::clone(&groups), commit.clone());
                let follower = thread::spawn(move || mine.commit("r", i, commit));
                until_waiting(&groups, "r", usize::try_from(i - 1).unwrap());
                follower
            })
            .collect();
        release.wait();
        assert_eq!(leader.join().unwrap(), Ok(10));
        let outcomes: Vec<_> = followers.into_iter().map(|f| f.join().unwrap()).collect();
        assert_eq!(outcomes, vec![Ok(20), Err("[3] failed".to_owned())]);
        let mut log = log.lock().unwrap().clone();
        log[2..].sort();
        assert_eq!(log, vec![vec![1], vec![2, 3], vec![2], vec![3]]);
        assert!(groups.lock().is_empty());
    }

    #[test]
    fn a_group_whose_outcome_is_unknown_runs_no_member_again() {
        let groups = Arc::new(Groups::default());
        let log = Log::default();
        let (entered, release) = (Arc::new(Barrier::new(2)), Arc::new(Barrier::new(2)));
        // The leader's first commit waits for the others; the group of 2 and 3 loses its
        // connection during its `COMMIT`.
        let commit = {
            let (log, entered, release) =
                (Arc::clone(&log), Arc::clone(&entered), Arc::clone(&release));
            move |items: &[u32]| {
                log.lock().unwrap().push(items.to_vec());
                if items == [1] {
                    entered.wait();
                    release.wait();
                }
                if items.contains(&3) {
                    return Err("unknown: lost during COMMIT".to_owned());
                }
                Ok(items.iter().map(|i| i * 10).collect())
            }
        };
        let leader = {
            let (groups, commit) = (Arc::clone(&groups), commit.clone());
            thread::spawn(move || groups.commit("r", 1, commit))
        };
        entered.wait();
        let followers: Vec<_> = (2..=3)
            .map(|i| {
                let (mine, commit) = (Arc::clone(&groups), commit.clone());
                let follower = thread::spawn(move || mine.commit("r", i, commit));
                until_waiting(&groups, "r", usize::try_from(i - 1).unwrap());
                follower
            })
            .collect();
        release.wait();
        assert_eq!(leader.join().unwrap(), Ok(10));
        let outcomes: Vec<_> = followers.into_iter().map(|f| f.join().unwrap()).collect();
        assert_eq!(
            outcomes,
            vec![
                Err("unknown: lost during COMMIT".to_owned()),
                Err("unknown to the member".to_owned())
            ]
        );
        assert_eq!(
            *log.lock().unwrap(),
            vec![vec![1], vec![2, 3]],
            "no member of the group ran again"
        );
        assert!(groups.lock().is_empty());
    }

    #[test]
    fn a_leader_that_panics_hands_its_key_on() {
        let groups = Arc::new(Groups::default());
        let log = Log::default();
        let (entered, release) = (Arc::new(Barrier::new(2)), Arc::new(Barrier::new(2)));
        let leader = {
            let (groups, entered, release) = (
                Arc::clone(&groups),
                Arc::clone(&entered),
                Arc::clone(&release),
            );
            thread::spawn(move || {
                groups.commit("r", 1, |_: &[u32]| -> Result<Vec<u32>, String> {
                    entered.wait();
                    release.wait();
                    panic!("the commit panicked")
                })
            })
        };
        entered.wait();
        let follower = {
            let (groups, record) = (Arc::clone(&groups), recording(&log));
            thread::spawn(move || groups.commit("r", 2, record))
        };
        until_waiting(&groups, "r", 1);
        release.wait();
        assert!(leader.join().is_err());
        assert_eq!(follower.join().unwrap(), Ok(20));
        assert!(groups.lock().is_empty());
    }
}
