//! Retention (docs/api.md §7.7): one run of the background job that removes the
//! messages older than their room's retention. Read paths already hide those messages;
//! a run records their removal (`deletedBy` `_retention`, filter `{before: cutoff}`, and
//! `retention`: the days applied and who set them, from [`MessageStore::expired_rooms`]) and
//! announces it, one audit record and one event per room.

use crate::actor::Actor;
use crate::error::DomainError;
use crate::filter::{Bound, MessageFilter};
use crate::ids::{DeleteTarget, DeletionId};
use crate::model::{Deletion, DeletionRequest, RetentionDays};
use crate::ports::MessageStore;
use chrono::{DateTime, Utc};

/// Most rooms committed in one transaction: a run over many rooms is several short
/// transactions, never one long one.
pub const ROOMS_PER_TRANSACTION: usize = 50;

/// Runs retention once at `now`: for every room with expired messages, a clear of the
/// messages sent before its cutoff. Returns the audit records written (rooms where nothing
/// expired get none).
///
/// # Errors
/// A storage failure; rooms committed before it stay committed, and the next run resumes.
pub fn apply_retention(
    messages: &dyn MessageStore,
    default_days: Option<RetentionDays>,
    now: DateTime<Utc>,
) -> Result<Vec<Deletion>, DomainError> {
    let now = crate::model::to_millis(now);
    let expired = messages.expired_rooms(default_days, now)?;
    let mut deletions = Vec::new();
    for chunk in expired.chunks(ROOMS_PER_TRANSACTION) {
        let requests: Vec<DeletionRequest> = chunk
            .iter()
            .map(|expired| DeletionRequest {
                id: DeletionId::generate(now),
                room: expired.room.clone(),
                target: DeleteTarget::All,
                actor: Actor::Retention,
                deleted_at: now,
                reason: None,
                filter: MessageFilter {
                    before: Some(Bound::At(expired.cutoff)),
                    after: None,
                    senders: Vec::new(),
                    ..MessageFilter::default()
                },
                skip_if_nothing: true,
                retention: Some(expired.retention.clone()),
            })
            .collect();
        for outcome in messages.delete_many(&requests)? {
            if let Ok(Some(deletion)) = super::deletion::deleted(outcome) {
                deletions.push(deletion);
            }
        }
    }
    Ok(deletions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DeleteOutcome, ExpiredRoom, RetentionOrigin, RetentionSetter};
    use crate::ports::MockMessageStore;
    use crate::testkit::fixtures::rid;
    use chrono::Duration;

    #[test]
    fn each_expired_room_is_cleared_before_its_cutoff_as_retention() {
        let now = DateTime::from_timestamp_millis(1_700_000_000_000).expect("valid");
        let days = RetentionDays::new(7).expect("valid");
        let cutoff = days.cutoff(now);
        assert_eq!(now - cutoff, Duration::days(7));
        let mut messages = MockMessageStore::new();
        messages
            .expect_expired_rooms()
            .withf(move |d, at| *d == Some(days) && *at == now)
            .returning(move |_, _| {
                let expired = |room: &str| ExpiredRoom {
                    room: rid(room),
                    cutoff,
                    retention: RetentionOrigin {
                        days,
                        set_by: Some(RetentionSetter::from_recorded("manager".to_owned())),
                        set_at: Some(now),
                    },
                };
                Ok(vec![expired("old"), expired("quiet")])
            });
        messages
            .expect_delete_many()
            .times(1)
            .withf(move |reqs| {
                reqs.len() == 2
                    && reqs.iter().all(|r| {
                        r.actor == Actor::Retention
                            && r.skip_if_nothing
                            && r.retention
                                .as_ref()
                                .and_then(|o| o.set_by.as_ref())
                                .map(RetentionSetter::as_str)
                                == Some("manager")
                            && r.filter.before == Some(Bound::At(cutoff))
                    })
            })
            .returning(|reqs| {
                Ok(vec![
                    DeleteOutcome::Deleted(Deletion::committed(&reqs[0], 4)),
                    DeleteOutcome::NothingMatched,
                ])
            });
        let done = apply_retention(&messages, Some(days), now).expect("ran");
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].deleted_by, "_retention");
        assert_eq!(done[0].deleted_count, 4);
        assert!(done[0].filter.is_some());
        assert_eq!(done[0].retention.as_ref().map(|o| o.days), Some(days));
    }

    #[test]
    fn many_rooms_are_committed_in_bounded_transactions() {
        let now = Utc::now();
        let mut messages = MockMessageStore::new();
        let rooms = ROOMS_PER_TRANSACTION * 2 + 1;
        messages.expect_expired_rooms().returning(move |_, at| {
            Ok((0..rooms)
                .map(|i| ExpiredRoom {
                    room: rid(&format!("r{i:03}")),
                    cutoff: at,
                    retention: RetentionOrigin::in_force(None, None, RetentionDays::new(1).ok())
                        .expect("the default"),
                })
                .collect())
        });
        messages
            .expect_delete_many()
            .times(3)
            .withf(|reqs| reqs.len() <= ROOMS_PER_TRANSACTION)
            .returning(|reqs| Ok(vec![DeleteOutcome::NothingMatched; reqs.len()]));
        assert!(
            apply_retention(&messages, None, now)
                .expect("ran")
                .is_empty()
        );
    }
}
