//! The rules of a deletion, decided as values: every store asks these functions and carries
//! out what they answer (docs/architecture.md, "A DELETE, step by step").
//!
//! A store holding the room's lock reads two kinds of facts and hands them over:
//!
//! 1. whether the room exists and what it records about the actor: [`admit`] refuses
//!    ([`Refusal`]: the room is not found, permission denied) or lets the deletion go on;
//! 2. what the request covers in the room ([`Coverage`]): [`plan`] refuses (the message
//!    is not found, nothing matched) or answers a [`Plan`]: the audit record to write (its
//!    count, the IDs a bulk deletion removed) and whether the covered rows are removed in
//!    the transaction or hidden at once and left to the purger ([`Removal`]), within the
//!    transaction's [`Budget`].
//!
//! What every store does with a plan, without a decision to make: all covered rows go
//! (those only the retention hides as well), stored idempotent answers that embed a
//! removed message lose it, and the record is linked into the room's audit chain and its
//! event queued, all in the same transaction. A refusal writes nothing.

use crate::actor::Actor;
use crate::ids::{DeleteTarget, MessageId};
use crate::model::{DeleteOutcome, Deletion, DeletionRequest};
use crate::roles::{Membership, Role};

/// Why a deletion writes nothing: each is the [`DeleteOutcome`] of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The room does not exist.
    RoomNotFound,
    /// The actor may not moderate the room.
    PermissionDenied,
    /// The message, every listed one or a filter's message bound is not visible.
    MessageNotFound,
    /// Nothing counted, and the request asked to skip then.
    NothingMatched,
}

impl From<Refusal> for DeleteOutcome {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::RoomNotFound => Self::RoomNotFound,
            Refusal::PermissionDenied => Self::PermissionDenied,
            Refusal::MessageNotFound => Self::MessageNotFound,
            Refusal::NothingMatched => Self::NothingMatched,
        }
    }
}

/// Whether `actor` may delete in a room that records `membership` about it (`None`: the
/// room does not exist). Read under the room's lock, which role changes also take, so the
/// role checked is the one in force when the deletion commits.
///
/// # Errors
/// [`Refusal::RoomNotFound`] or [`Refusal::PermissionDenied`].
pub fn admit(actor: &Actor, membership: Option<Membership>) -> Result<(), Refusal> {
    let membership = membership.ok_or(Refusal::RoomNotFound)?;
    if Role::of(actor, membership).can_moderate() {
        Ok(())
    } else {
        Err(Refusal::PermissionDenied)
    }
}

/// Whether `actor`'s deletions count the rows that only the retention hides. A retention
/// run's do (hiding them for good is its job); every other deletion reports what its
/// callers could see, so those rows go with it uncounted. A store may skip counting the
/// visible rows when this holds.
#[must_use]
pub fn counts_expired(actor: &Actor) -> bool {
    *actor == Actor::Retention
}

/// What a request covers in its room, as the store finds it under the room's lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Coverage {
    /// For one message or a bulk deletion: the listed messages that are visible in the
    /// room, in any order.
    Listed(Vec<MessageId>),
    /// For `_all`, filtered or not: the rows it covers.
    Rows(Rows),
    /// For a filtered `_all`: a message the filter names as a bound is not visible in the
    /// room.
    BoundNotVisible,
}

/// The rows a clear covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rows {
    /// Rows it removes: those not hidden yet, and those only the retention hides.
    pub covered: u64,
    /// Of those, the visible ones (the retention does not hide them).
    pub visible: u64,
    /// Rows hidden by an earlier deletion that its purge has not removed yet lie among the
    /// covered ones, and removing the covered rows in place would remove those too: how
    /// many rows that is, is unknown, so the removal is left to the purger.
    pub others_hidden_among: bool,
}

/// How many rows a transaction may still remove in place. Anything larger is hidden at
/// once and removed by the purger a batch at a time, so that no deletion's transaction
/// grows with the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget(u64);

impl Budget {
    /// A budget of `rows` rows: the purge batch, for one transaction.
    #[must_use]
    pub fn new(rows: usize) -> Self {
        Self(u64::try_from(rows).unwrap_or(u64::MAX))
    }

    /// No limit: for a store that removes everything at once (no purger) and for a dry run.
    #[must_use]
    pub fn unlimited() -> Self {
        Self(u64::MAX)
    }

    /// Rows left.
    #[must_use]
    pub fn left(self) -> u64 {
        self.0
    }

    /// Takes `rows` if that many are left.
    fn take(&mut self, rows: u64) -> bool {
        let fits = rows <= self.0;
        if fits {
            self.0 -= rows;
        }
        fits
    }
}

/// When the covered rows are removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// In the deletion's transaction.
    InPlace,
    /// Hidden in the transaction (a clear's watermark, a filtered clear's erasures) and
    /// removed by the purger afterwards.
    Deferred,
}

/// A deletion to carry out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The audit record to write, with its count and target; its hash is the store's to
    /// link.
    pub record: Deletion,
    /// When the covered rows go.
    pub removal: Removal,
}

/// Decides `request`, given what it covers.
///
/// Listed messages are removed in place: a bulk deletion lists at most
/// [`crate::usecases::deletion::MAX_BULK`], so they do not draw on `budget`. A clear is
/// removed in place when its rows fit what is left of `budget` (which it then takes) and
/// no other hidden rows lie among them, else deferred. A clear by content
/// ([`crate::filter::Contains`]) is always removed in place, whatever its size: its rows
/// are found one by one, so no range can hide them (it takes what is left of the budget).
/// A clear counts the visible rows it covers, all covered rows for a retention run
/// ([`counts_expired`]).
///
/// # Errors
/// [`Refusal::MessageNotFound`] when the message, every listed one or a filter's
/// message bound is not visible (or the coverage does not fit the target);
/// [`Refusal::NothingMatched`] when a request with
/// [`DeletionRequest::skip_if_nothing`] would count nothing.
pub fn plan(
    request: &DeletionRequest,
    coverage: Coverage,
    budget: &mut Budget,
) -> Result<Plan, Refusal> {
    let in_place = |record| Plan {
        record,
        removal: Removal::InPlace,
    };
    match (&request.target, coverage) {
        (DeleteTarget::One(id), Coverage::Listed(found)) if found.contains(id) => {
            Ok(in_place(Deletion::committed(request, 1)))
        }
        (DeleteTarget::Bulk(listed), Coverage::Listed(found)) => {
            // Reported in the order listed.
            let removed: Vec<MessageId> = listed
                .iter()
                .filter(|id| found.contains(id))
                .cloned()
                .collect();
            if removed.is_empty() {
                return Err(Refusal::MessageNotFound);
            }
            Ok(in_place(Deletion::committed_bulk(request, removed)))
        }
        (DeleteTarget::All, Coverage::Rows(rows)) => {
            let counted = if counts_expired(&request.actor) {
                rows.covered
            } else {
                rows.visible
            };
            if counted == 0 && request.skip_if_nothing {
                return Err(Refusal::NothingMatched);
            }
            let by_content = !request.filter.contains.is_empty();
            let removal = if by_content {
                budget.take(rows.covered.min(budget.left()));
                Removal::InPlace
            } else if !rows.others_hidden_among && budget.take(rows.covered) {
                Removal::InPlace
            } else {
                Removal::Deferred
            };
            Ok(Plan {
                record: Deletion::committed(request, counted),
                removal,
            })
        }
        _ => Err(Refusal::MessageNotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::MessageFilter;
    use crate::ids::{ClientId, DeletionId, RoomId};

    fn request(target: DeleteTarget, actor: Actor, skip_if_nothing: bool) -> DeletionRequest {
        DeletionRequest {
            id: DeletionId::parse("del-1").expect("valid"),
            room: RoomId::parse("r").expect("valid"),
            target,
            actor,
            deleted_at: chrono::DateTime::UNIX_EPOCH,
            reason: None,
            filter: MessageFilter::default(),
            skip_if_nothing,
            retention: None,
        }
    }

    fn id(s: &str) -> MessageId {
        MessageId::parse(s).expect("valid")
    }

    fn client(admin: bool) -> Actor {
        Actor::Client {
            id: ClientId::parse("alice").expect("valid"),
            is_platform_admin: admin,
        }
    }

    #[test]
    fn admission_follows_the_role() {
        let manager = Membership {
            is_manager: true,
            is_member: true,
            ..Membership::default()
        };
        let member = Membership {
            is_member: true,
            ..Membership::default()
        };
        assert_eq!(admit(&client(false), None), Err(Refusal::RoomNotFound));
        assert_eq!(admit(&client(false), Some(manager)), Ok(()));
        assert_eq!(
            admit(&client(false), Some(member)),
            Err(Refusal::PermissionDenied)
        );
        assert_eq!(admit(&client(true), Some(Membership::default())), Ok(()));
        assert_eq!(admit(&Actor::Platform, Some(Membership::default())), Ok(()));
    }

    #[test]
    fn a_bulk_deletion_reports_the_visible_ones_in_the_order_listed() {
        let r = request(
            DeleteTarget::Bulk(vec![id("a"), id("b"), id("c")]),
            Actor::Platform,
            false,
        );
        let found = Coverage::Listed(vec![id("c"), id("a")]);
        let plan = plan(&r, found, &mut Budget::new(0)).expect("plans");
        assert_eq!(
            plan.record.target,
            DeleteTarget::Bulk(vec![id("a"), id("c")])
        );
        assert_eq!(plan.record.deleted_count, 2);
        assert_eq!(plan.removal, Removal::InPlace);
        let none = Coverage::Listed(Vec::new());
        assert_eq!(
            super::plan(&r, none, &mut Budget::unlimited()),
            Err(Refusal::MessageNotFound)
        );
    }

    #[test]
    fn one_message_must_be_visible() {
        let r = request(DeleteTarget::One(id("a")), Actor::Platform, false);
        let plan = plan(&r, Coverage::Listed(vec![id("a")]), &mut Budget::new(0));
        assert_eq!(plan.map(|p| p.record.deleted_count), Ok(1));
        let other = Coverage::Listed(vec![id("b")]);
        assert_eq!(
            super::plan(&r, other, &mut Budget::new(0)),
            Err(Refusal::MessageNotFound)
        );
    }

    #[test]
    fn a_clear_counts_the_visible_rows_but_a_retention_run_counts_all() {
        let rows = Coverage::Rows(Rows {
            covered: 10,
            visible: 7,
            others_hidden_among: false,
        });
        let mut budget = Budget::unlimited();
        for (actor, counted) in [(Actor::Platform, 7), (Actor::Retention, 10)] {
            let r = request(DeleteTarget::All, actor, false);
            let plan = plan(&r, rows.clone(), &mut budget).expect("plans");
            assert_eq!(plan.record.deleted_count, counted);
        }
    }

    #[test]
    fn a_clear_that_counts_nothing_is_skipped_only_when_asked() {
        let rows = Coverage::Rows(Rows {
            covered: 3,
            visible: 0,
            others_hidden_among: false,
        });
        let skip = request(DeleteTarget::All, client(true), true);
        assert_eq!(
            plan(&skip, rows.clone(), &mut Budget::unlimited()),
            Err(Refusal::NothingMatched)
        );
        let keep = request(DeleteTarget::All, client(true), false);
        let plan = plan(&keep, rows, &mut Budget::unlimited()).expect("plans");
        assert_eq!(plan.record.deleted_count, 0);
    }

    #[test]
    fn a_clear_is_removed_in_place_while_the_budget_lasts() {
        let r = request(DeleteTarget::All, Actor::Platform, false);
        let rows = |covered, others_hidden_among| {
            Coverage::Rows(Rows {
                covered,
                visible: covered,
                others_hidden_among,
            })
        };
        let mut budget = Budget::new(10);
        let removal = |budget: &mut Budget, coverage| plan(&r, coverage, budget).map(|p| p.removal);
        assert_eq!(removal(&mut budget, rows(6, false)), Ok(Removal::InPlace));
        assert_eq!(budget.left(), 4);
        assert_eq!(removal(&mut budget, rows(5, false)), Ok(Removal::Deferred));
        assert_eq!(budget.left(), 4, "a deferred removal takes nothing");
        assert_eq!(removal(&mut budget, rows(1, true)), Ok(Removal::Deferred));
        assert_eq!(removal(&mut budget, rows(4, false)), Ok(Removal::InPlace));
        assert_eq!(budget.left(), 0);
        assert_eq!(removal(&mut budget, rows(0, false)), Ok(Removal::InPlace));
    }

    #[test]
    fn a_clear_by_content_is_removed_in_place_whatever_its_size() {
        let mut r = request(DeleteTarget::All, Actor::Platform, false);
        r.filter = MessageFilter::default()
            .with_contains(crate::filter::Contains::new(vec!["spam".to_owned()]).expect("ok"));
        let rows = Coverage::Rows(Rows {
            covered: 50,
            visible: 50,
            others_hidden_among: false,
        });
        let mut budget = Budget::new(10);
        let planned = plan(&r, rows, &mut budget).expect("plans");
        assert_eq!(planned.removal, Removal::InPlace);
        assert_eq!(budget.left(), 0, "it takes what is left");
    }

    #[test]
    fn a_coverage_that_does_not_fit_the_target_finds_nothing() {
        let all = request(DeleteTarget::All, Actor::Platform, false);
        for coverage in [Coverage::Listed(vec![id("a")]), Coverage::BoundNotVisible] {
            assert_eq!(
                plan(&all, coverage, &mut Budget::unlimited()),
                Err(Refusal::MessageNotFound)
            );
        }
        let one = request(DeleteTarget::One(id("a")), Actor::Platform, false);
        assert_eq!(
            plan(
                &one,
                Coverage::Rows(Rows::default()),
                &mut Budget::unlimited()
            ),
            Err(Refusal::MessageNotFound)
        );
    }
}
