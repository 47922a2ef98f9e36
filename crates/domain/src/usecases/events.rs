//! The outbox of deletion events for operators (docs/api.md §9.3–9.4): listing events
//! with their delivery, and redelivering one. API key only, like every `/admin` use case:
//! the routes take the API key alone (the app's `Platform` extractor), so these functions
//! take no actor.

use crate::error::DomainError;
use crate::events::{DeliveryState, EventDelivery, Redelivered};
use crate::ids::{DeletionId, RoomId};
use crate::usecases::{Limit, Ports};

/// Parses the `state` query value: absent means every state.
///
/// # Errors
/// [`DomainError::InvalidParameter`] unless it is `pending`, `delivered`, `failed` or `skipped`.
pub fn parse_state(raw: Option<&str>) -> Result<Option<DeliveryState>, DomainError> {
    raw.map(|name| {
        DeliveryState::parse(name).ok_or_else(|| {
            DomainError::InvalidParameter(
                "state must be one of pending, delivered, failed, skipped".to_owned(),
            )
        })
    })
    .transpose()
}

/// `GET /admin/events`: events newest first, of one state and one room when given (the
/// room need not exist any more), older than the event `before`.
///
/// # Errors
/// A storage failure (a `before` that names no event is an empty page).
pub fn list_events(
    ports: &Ports<'_>,
    state: Option<DeliveryState>,
    room: Option<&RoomId>,
    before: Option<&DeletionId>,
    limit: Limit,
) -> Result<Vec<EventDelivery>, DomainError> {
    Ok(super::page(ports.events.list_events(
        state,
        room,
        before,
        limit.get(),
    )?))
}

/// `POST /admin/events/{id}/redeliver`: the event again, under the same ID, as a new
/// delivery round starting now (see [`EventLog::redeliver_event`](crate::ports::EventLog::redeliver_event) for the events left
/// as they are).
///
/// # Errors
/// `EventNotFound`, or a storage failure.
pub fn redeliver_event(ports: &Ports<'_>, id: &DeletionId) -> Result<Redelivered, DomainError> {
    ports
        .events
        .redeliver_event(id, crate::model::to_millis(ports.clock.now()))?
        .ok_or(DomainError::EventNotFound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Redelivery;
    use crate::ports::MockEventLog;
    use crate::usecases::Mocks;
    use chrono::Utc;

    fn with(events: MockEventLog) -> Mocks {
        Mocks {
            events,
            ..Mocks::default()
        }
    }

    fn event(state: DeliveryState) -> EventDelivery {
        EventDelivery {
            id: DeletionId::from_trusted("e1".to_owned()),
            room: RoomId::from_trusted("r".to_owned()),
            body: "{}".to_owned(),
            state,
            attempts: 0,
            last_error: None,
            next_attempt_at: None,
            delivered_at: None,
            created_at: Utc::now(),
        }
    }

    #[test]
    fn state_names_the_four_states_or_nothing() {
        assert_eq!(parse_state(None).ok(), Some(None));
        assert_eq!(
            parse_state(Some("failed")).ok(),
            Some(Some(DeliveryState::Failed))
        );
        for bad in ["", "FAILED", "done", "pending,failed"] {
            assert!(
                matches!(
                    parse_state(Some(bad)),
                    Err(DomainError::InvalidParameter(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn filters_and_cursor_reach_the_port() {
        let mut log = MockEventLog::new();
        log.expect_list_events()
            .withf(|state, room, before, limit| {
                *state == Some(DeliveryState::Failed)
                    && room.map(RoomId::as_str) == Some("r")
                    && before.map(DeletionId::as_str) == Some("e9")
                    && *limit == 5
            })
            .times(1)
            .returning(|_, _, _, _| Ok(Some(vec![event(DeliveryState::Failed)])));
        let room = RoomId::from_trusted("r".to_owned());
        let before = DeletionId::from_trusted("e9".to_owned());
        let found = list_events(
            &with(log).ports(),
            Some(DeliveryState::Failed),
            Some(&room),
            Some(&before),
            Limit::parse(Some("5")).expect("limit"),
        );
        assert_eq!(found.map(|e| e.len()).ok(), Some(1));
    }

    #[test]
    fn an_unknown_cursor_is_an_empty_page() {
        let mut log = MockEventLog::new();
        log.expect_list_events().returning(|_, _, _, _| Ok(None));
        let cursor = DeletionId::from_trusted("nope".to_owned());
        let page = list_events(
            &with(log).ports(),
            None,
            None,
            Some(&cursor),
            Limit::parse(None).expect("limit"),
        );
        assert!(matches!(page, Ok(events) if events.is_empty()));
    }

    #[test]
    fn redelivering_an_unknown_event_is_event_not_found() {
        let mut log = MockEventLog::new();
        log.expect_redeliver_event().returning(|_, _| Ok(None));
        let id = DeletionId::from_trusted("nope".to_owned());
        assert!(matches!(
            redeliver_event(&with(log).ports(), &id),
            Err(DomainError::EventNotFound)
        ));
    }

    #[test]
    fn a_redelivery_answers_the_stores_outcome() {
        let mut log = MockEventLog::new();
        log.expect_redeliver_event()
            .withf(|id, _| id.as_str() == "e1")
            .returning(|_, _| {
                Ok(Some(Redelivered {
                    outcome: Redelivery::Queued,
                    event: event(DeliveryState::Pending),
                }))
            });
        let id = DeletionId::from_trusted("e1".to_owned());
        let done = redeliver_event(&with(log).ports(), &id).expect("redelivered");
        assert_eq!(done.outcome, Redelivery::Queued);
        assert_eq!(done.event.state, DeliveryState::Pending);
    }
}
