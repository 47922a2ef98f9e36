//! The outbox of deletion events for operators (ext, docs/api.md §9.3–9.4): listing
//! events with their delivery, and redelivering one. API key only.

use crate::auth::Platform;
use crate::dto::{EventDeliveryDto, EventPageDto};
use crate::envelope::{ApiError, Failure, ok};
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use roomwarden_domain::events::{EventDelivery, Redelivery};
use roomwarden_domain::ids::{DeletionId, RoomId};
use roomwarden_domain::usecases::{Limit, events};
use serde::Deserialize;

/// Query of the event list.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// Only events in this state.
    #[param(value_type = Option<crate::dto::EventStateDto>)]
    pub state: Option<String>,
    /// Only this room's events (the room need not exist any more).
    #[serde(rename = "roomID")]
    pub room_id: Option<String>,
    /// 1 to 100, default 20.
    pub limit: Option<String>,
    /// Only events older than this event ID (any event, whatever its room or state).
    pub before: Option<String>,
}

/// The wire shape of an event; a stored body that is not JSON is a broken invariant.
fn dto(event: EventDelivery) -> Result<EventDeliveryDto, ApiError> {
    let id = event.id.clone();
    EventDeliveryDto::new(event).ok_or_else(|| {
        tracing::error!(event = %id, "stored event body is not JSON");
        ApiError::internal()
    })
}

/// Deletion events and their webhook delivery, newest first (API key).
#[utoipa::path(get, path = "/admin/events", tag = "Events", params(EventQuery),
    responses((status = 200, description = "Newest first", body = EventPageDto)))]
pub async fn list_events(
    _: Platform,
    state: web::Data<AppState>,
    query: web::Query<EventQuery>,
) -> Result<HttpResponse, ApiError> {
    let wanted = events::parse_state(query.state.as_deref())?;
    let room = query.room_id.as_deref().map(RoomId::parse).transpose()?;
    let limit = Limit::parse(query.limit.as_deref())?;
    let before = query
        .before
        .as_deref()
        .map(DeletionId::parse_event)
        .transpose()?;
    let found = state
        .run(move |ports| events::list_events(ports, wanted, room.as_ref(), before.as_ref(), limit))
        .await?;
    let data = found.into_iter().map(dto).collect::<Result<_, _>>()?;
    Ok(ok("OK", EventPageDto { data }))
}

/// Sends a deletion event again, under the same ID, at once (API key). A `failed`,
/// `delivered`, `skipped` or waiting `pending` event becomes `pending`, due now, with a new
/// retry window; an event with no webhook to go to now, or one being attempted right now,
/// is answered as it is (see `RM`).
#[utoipa::path(post, path = "/admin/events/{eventID}/redeliver", tag = "Events",
    params(("eventID" = String, Path, description = "Event ID")),
    responses(
        (status = 200, description = "The event afterwards. `RM`: \"Event queued for delivery\", or, left as it was, \"Event not queued: it has no webhook to go to\" or \"Event not queued: it is being delivered now\"", body = EventDeliveryDto),
        (status = 404, description = "EVENT_NOT_FOUND", body = Failure),
    ))]
pub async fn redeliver_event(
    _: Platform,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = DeletionId::parse_event(&path.into_inner())?;
    let done = state
        .run(move |ports| events::redeliver_event(ports, &id))
        .await?;
    let rm = match done.outcome {
        Redelivery::Queued => "Event queued for delivery",
        Redelivery::NoDestination => "Event not queued: it has no webhook to go to",
        Redelivery::InFlight => "Event not queued: it is being delivered now",
    };
    tracing::info!(event = %done.event.id, room = %done.event.room, outcome = ?done.outcome, "event redelivery");
    Ok(ok(rm, dto(done.event)?))
}
