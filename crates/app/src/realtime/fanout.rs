//! The thread that turns database events into socket frames.

use crate::realtime::hub::{Frame, Hub};
use crate::state::Ports;
use chrono::{DateTime, Utc};
use roomwarden_adapters::{FeedEvent, RealtimeFeed, Wakeup, Worker};
use roomwarden_domain::auth;
use roomwarden_domain::ids::{ClientId, RoomId};
use roomwarden_domain::ports::{ClientStore, RoomStore};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the feed is polled.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Longest time between two checks of the connected sockets' tokens.
pub const TOKEN_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// The frame a socket receives for `event`.
pub fn frame(event: FeedEvent) -> (RoomId, Frame) {
    match event {
        FeedEvent::Message(message) => {
            let room = message.room.clone();
            (room, Arc::from(crate::wire::message_frame(message)))
        }
        FeedEvent::Deleted(deletion) => {
            let text = crate::wire::deletion_frame(&deletion);
            (deletion.room, Arc::from(text))
        }
    }
}

/// Delivers one batch: members are read once per room per batch, so a member removed
/// before the event was polled does not get it.
fn deliver(hub: &Hub, rooms: &dyn RoomStore, events: Vec<FeedEvent>) {
    let mut members: HashMap<RoomId, Vec<ClientId>> = HashMap::new();
    for event in events {
        let (room, text) = frame(event);
        if !members.contains_key(&room) {
            let list = match rooms.get_room(&room) {
                Ok(found) => found.map(|r| r.members).unwrap_or_default(),
                Err(e) => {
                    tracing::warn!(room = %room, error = %e, "cannot read room members; event not sent to sockets");
                    Vec::new()
                }
            };
            members.insert(room.clone(), list);
        }
        if let Some(list) = members.get(&room) {
            hub.deliver(list, &text);
        }
    }
}

/// Ends the sockets whose token no longer authenticates (revoked, superseded, expired), on
/// whichever server process the token changed.
fn end_lapsed_sessions(hub: &Hub, clients: &dyn ClientStore, now: DateTime<Utc>) {
    let tokens = hub.tokens();
    if tokens.is_empty() {
        return;
    }
    match auth::lapsed_tokens(clients, &tokens, now) {
        Ok(lapsed) => {
            hub.end_sessions_with(&lapsed);
        }
        Err(e) => tracing::warn!(error = %e, "cannot check socket tokens; will retry"),
    }
}

/// Starts the thread that polls the feed every [`POLL_INTERVAL`] and delivers to the hub.
///
/// Sockets' tokens are checked at least every [`TOKEN_CHECK_INTERVAL`], and before every
/// delivery: events are polled first, then tokens checked, then events delivered, so an
/// event committed after a revocation never reaches a socket of the revoked token.
///
/// # Errors
/// When the thread cannot be spawned.
pub fn spawn(mut feed: RealtimeFeed, ports: Ports, hub: Arc<Hub>) -> std::io::Result<Worker> {
    let mut last_check = Instant::now();
    Worker::spawn("fanout", POLL_INTERVAL, Wakeup::default(), move |_| {
        let events = feed.poll();
        if let Ok(events) = &events
            && !hub.is_empty()
            && (!events.is_empty() || last_check.elapsed() >= TOKEN_CHECK_INTERVAL)
        {
            end_lapsed_sessions(&hub, ports.clients.as_ref(), ports.clock.now());
            last_check = Instant::now();
        }
        match events {
            Ok(events) if !events.is_empty() && !hub.is_empty() => {
                deliver(&hub, ports.rooms.as_ref(), events)
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "real-time feed unavailable; will retry"),
        }
        false
    })
}
