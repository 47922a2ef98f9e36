//! Clearing a spam wave by content across rooms (`DELETE /admin/messages`, docs/api.md
//! §7.9): the messages of a bounded window whose text contains one of the given strings,
//! in every room or the listed ones; one filtered clear per room where some match, all
//! committed in one transaction, one audit record and one event per room affected.

use crate::actor::Actor;
use crate::error::DomainError;
use crate::filter::{Bound, Contains, MessageFilter};
use crate::ids::RoomId;
use crate::model::{AuditReason, Deletion, Message};
use crate::usecases::Ports;
use crate::usecases::deletion::SAMPLE;
use crate::usecases::purge::{RoomClear, commit_clears, distinct_rooms};
use chrono::{DateTime, TimeDelta, Utc};

/// Longest window one clear by content may search, in days: the window bounds the work.
pub const MAX_WINDOW_DAYS: i64 = 7;

/// How long after its own time a send may still commit, in seconds: the request deadline
/// (8 s) with a margin. After committing, a clear by content searches this last part of its
/// window again ([`clear_by_content`]).
pub const IN_FLIGHT_SECS: i64 = 10;

/// A validated clear by content (the syntax checks are done by building it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClearByContent {
    /// Only in these rooms (distinct, at most [`crate::usecases::purge::MAX_ROOMS`]); every
    /// room when empty.
    pub rooms: Vec<RoomId>,
    /// The strings and the window (`after` to `before`, times only), as recorded.
    pub filter: MessageFilter,
    /// Why, recorded in every audit record.
    pub reason: Option<AuditReason>,
}

impl ClearByContent {
    /// Builds the request. `before` defaults to `now`, so that messages sent after the
    /// request are never covered.
    ///
    /// # Errors
    /// [`DomainError::InvalidParameter`] when `contains` is empty, `after` is missing, the
    /// window is empty or longer than [`MAX_WINDOW_DAYS`], or more rooms are listed than
    /// a purge takes.
    pub fn new(
        contains: Contains,
        after: Option<Bound>,
        before: Option<Bound>,
        rooms: Vec<RoomId>,
        reason: Option<AuditReason>,
        now: DateTime<Utc>,
    ) -> Result<Self, DomainError> {
        let invalid = |why: &str| DomainError::InvalidParameter(why.to_owned());
        if contains.is_empty() {
            return Err(invalid("contains is required"));
        }
        let after_time = after
            .as_ref()
            .and_then(Bound::time)
            .ok_or_else(|| invalid("after is required"))?;
        let before = before.unwrap_or(Bound::At(crate::time::to_millis(now)));
        let before_time = before
            .time()
            .ok_or_else(|| invalid("before must be a time"))?;
        if before_time - after_time > TimeDelta::days(MAX_WINDOW_DAYS) {
            return Err(DomainError::InvalidParameter(format!(
                "after must be at most {MAX_WINDOW_DAYS} days before before"
            )));
        }
        let filter = MessageFilter::new(Some(before), after, Vec::new())?.with_contains(contains);
        Ok(Self {
            rooms: distinct_rooms(rooms)?,
            filter,
            reason,
        })
    }
}

/// What a clear by content removed (or, in a dry run, would remove).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentClear {
    /// Messages removed per room, rooms with none left out, by room ID.
    pub rooms: Vec<(RoomId, u64)>,
    /// When.
    pub deleted_at: DateTime<Utc>,
    /// The filter applied (the window with its default `before`).
    pub filter: MessageFilter,
    /// The audit records written (empty for a dry run).
    pub deletions: Vec<Deletion>,
    /// A dry run's sample: up to [`SAMPLE`] matching messages, newest first.
    pub sample: Vec<Message>,
}

impl ContentClear {
    /// The total over every room.
    #[must_use]
    pub fn deleted_count(&self) -> u64 {
        self.rooms.iter().map(|(_, n)| n).sum()
    }
}

/// Removes the matching messages of the window from every room, or the listed ones, as
/// `actor` (the API key; the route checks it). Each room's clear matches again under its
/// lock, so the counts are exact. The rooms come from a search that holds no lock: a send
/// dated just before the window's end but committed after the search read that part would
/// be missed, so once the clears have committed the last [`IN_FLIGHT_SECS`] of the window
/// are searched again and the rooms found there cleared too (a room may then have two
/// audit records; its count in the answer is their sum). A send that takes longer than the
/// whole clear to commit is answered 503 at its deadline, or lands after: clear again.
///
/// # Errors
/// A storage failure.
pub fn clear_by_content(
    ports: &Ports<'_>,
    actor: &Actor,
    command: ClearByContent,
    dry_run: bool,
) -> Result<ContentClear, DomainError> {
    let now = ports.clock.now();
    let among = (!command.rooms.is_empty()).then_some(command.rooms.as_slice());
    let sample = if dry_run { SAMPLE } else { 0 };
    let found = ports
        .messages
        .find_matching(&command.filter, among, sample)?;
    let deleted_at = crate::model::to_millis(now);
    if dry_run {
        return Ok(ContentClear {
            rooms: found.rooms,
            deleted_at,
            filter: command.filter,
            deletions: Vec::new(),
            sample: found.sample,
        });
    }
    let clear = RoomClear {
        actor,
        now,
        reason: command.reason.as_ref(),
        filter: &command.filter,
    };
    let clears = |rooms: Vec<(RoomId, u64)>| clear.of(rooms.into_iter().map(|(room, _)| room));
    let mut deletions = commit_clears(ports, &clears(found.rooms))?;
    let late = ports
        .messages
        .find_matching(&in_flight_tail(&command.filter), among, 0)?;
    if !late.rooms.is_empty() {
        deletions.extend(commit_clears(ports, &clears(late.rooms))?);
    }
    let mut rooms: std::collections::BTreeMap<RoomId, u64> = std::collections::BTreeMap::new();
    for d in &deletions {
        *rooms.entry(d.room.clone()).or_default() += d.deleted_count;
    }
    Ok(ContentClear {
        rooms: rooms.into_iter().collect(),
        deleted_at,
        filter: command.filter,
        deletions,
        sample: Vec::new(),
    })
}

/// The last [`IN_FLIGHT_SECS`] of `filter`'s window (all of it when shorter).
fn in_flight_tail(filter: &MessageFilter) -> MessageFilter {
    let end = filter.before.as_ref().and_then(Bound::time);
    let start = filter.after.as_ref().and_then(Bound::time);
    let tail = match (start, end) {
        (Some(start), Some(end)) => Some(start.max(end - TimeDelta::seconds(IN_FLIGHT_SECS))),
        (start, _) => start,
    };
    MessageFilter {
        after: tail.map(Bound::At),
        ..filter.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DeleteOutcome, Matching};
    use crate::ports::MockMessageStore;
    use crate::testkit::fixtures::rid;
    use crate::usecases::Mocks;

    fn at(ms: i64) -> Bound {
        Bound::At(DateTime::from_timestamp_millis(ms).expect("valid"))
    }

    fn spam() -> Contains {
        Contains::new(vec!["bit.ly/spam".to_owned()]).expect("valid")
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp_millis(10 * 86_400_000).expect("valid")
    }

    #[test]
    fn the_window_is_required_bounded_and_ends_now_by_default() {
        let new = |contains, after, before| {
            ClearByContent::new(contains, after, before, vec![], None, now())
        };
        let day = 86_400_000;
        assert!(new(Contains::default(), Some(at(9 * day)), None).is_err());
        assert!(new(spam(), None, None).is_err(), "after is required");
        assert!(
            new(spam(), Some(at(3 * day - 1)), None).is_err(),
            "over 7 days"
        );
        let ok = new(spam(), Some(at(3 * day)), None).expect("exactly 7 days");
        assert_eq!(ok.filter.before, Some(at(10 * day)));
        assert!(
            new(spam(), Some(at(5)), Some(at(5))).is_err(),
            "empty window"
        );
        let many: Vec<RoomId> = (0..=100).map(|i| rid(&format!("r{i}"))).collect();
        assert!(ClearByContent::new(spam(), Some(at(1)), None, many, None, now()).is_err());
    }

    #[test]
    fn one_clear_per_room_found_and_a_sample_only_in_a_dry_run() {
        let after = Some(at(9 * 86_400_000));
        let command =
            ClearByContent::new(spam(), after.clone(), None, vec![], None, now()).expect("valid");
        let mut messages = MockMessageStore::new();
        let whole = after.clone();
        messages
            .expect_find_matching()
            .times(2)
            .withf(move |f, _, sample| f.after == whole && (*sample == SAMPLE || *sample == 0))
            .returning(|_, _, _| {
                Ok(Matching {
                    rooms: vec![(rid("a"), 2), (rid("b"), 1)],
                    sample: Vec::new(),
                })
            });
        // After the commit, the window's last seconds are searched again: a send that
        // committed late in room c.
        let tail = Some(at(10 * 86_400_000 - IN_FLIGHT_SECS * 1000));
        messages
            .expect_find_matching()
            .times(1)
            .withf(move |f, _, sample| f.after == tail && *sample == 0)
            .returning(|_, _, _| {
                Ok(Matching {
                    rooms: vec![(rid("c"), 1)],
                    sample: Vec::new(),
                })
            });
        messages
            .expect_delete_many()
            .times(1)
            .withf(|reqs| {
                reqs.len() == 2
                    && reqs
                        .iter()
                        .all(|r| r.skip_if_nothing && !r.filter.contains.is_empty())
            })
            .returning(|reqs| {
                Ok(vec![
                    DeleteOutcome::Deleted(Deletion::committed(&reqs[0], 3)),
                    DeleteOutcome::NothingMatched,
                ])
            });
        messages
            .expect_delete_many()
            .times(1)
            .withf(|reqs| {
                reqs.len() == 1
                    && reqs[0].room == rid("c")
                    && reqs[0].filter.after == Some(at(9 * 86_400_000))
            })
            .returning(|reqs| {
                Ok(vec![DeleteOutcome::Deleted(Deletion::committed(
                    &reqs[0], 1,
                ))])
            });
        let mocks = Mocks {
            messages,
            ..Mocks::default()
        };
        let dry = clear_by_content(&mocks.ports(), &Actor::Platform, command.clone(), true)
            .expect("counted");
        assert_eq!(dry.deleted_count(), 3);
        assert!(dry.deletions.is_empty());
        let real =
            clear_by_content(&mocks.ports(), &Actor::Platform, command, false).expect("cleared");
        assert_eq!(
            real.rooms,
            vec![(rid("a"), 3), (rid("c"), 1)],
            "counted under each room's lock, with the late room"
        );
        assert_eq!(real.deletions.len(), 2);
    }
}
