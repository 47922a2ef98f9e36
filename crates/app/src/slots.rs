//! A fixed number of slots for work that may run long, taken without waiting: a caller that
//! finds none free is refused at once (the route answers `429` with `Retry-After`).

use std::sync::atomic::{AtomicUsize, Ordering};

/// At most `max` holders at a time.
#[derive(Debug)]
pub struct Slots {
    max: usize,
    taken: AtomicUsize,
}

/// A taken slot, given back when dropped.
#[derive(Debug)]
pub struct Slot<'a>(&'a AtomicUsize);

impl Slots {
    /// `max` slots, all free.
    #[must_use]
    pub const fn new(max: usize) -> Self {
        Self {
            max,
            taken: AtomicUsize::new(0),
        }
    }

    /// A free slot, or `None` when all `max` are taken.
    pub fn try_take(&self) -> Option<Slot<'_>> {
        self.taken
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(&self.taken))
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_refused_while_all_are_taken_and_free_again_when_given_back() {
        let slots = Slots::new(2);
        let first = slots.try_take().expect("free");
        let second = slots.try_take().expect("free");
        assert!(slots.try_take().is_none());
        drop(first);
        let third = slots.try_take().expect("given back");
        assert!(slots.try_take().is_none());
        drop((second, third));
        assert!(slots.try_take().is_some());
    }
}
