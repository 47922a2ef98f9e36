//! The thread that turns database events into socket frames.

use crate::dto::MessageDto;
use crate::realtime::hub::{Frame, Hub};
use roomwarden_adapters::{FeedEvent, RealtimeFeed, Wakeup, Worker};
use roomwarden_domain::ids::{ClientId, RoomId};
use roomwarden_domain::ports::RoomStore;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// How often the feed is polled.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// The frame a socket receives for `event`.
pub fn frame(event: FeedEvent) -> (RoomId, Frame) {
    match event {
        FeedEvent::Message(message) => {
            let room = message.room.clone();
            let text =
                json!({"event": "chat message", "data": MessageDto::from(message)}).to_string();
            (room, Arc::from(text))
        }
        FeedEvent::Deleted { room, message_id } => {
            let text = json!({"event": "messageDeleted", "data": {"room": room.as_str(), "messageID": message_id}}).to_string();
            (room, Arc::from(text))
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

/// Starts the thread that polls the feed every [`POLL_INTERVAL`] and delivers to the hub.
///
/// # Errors
/// When the thread cannot be spawned.
pub fn spawn(
    mut feed: RealtimeFeed,
    rooms: Arc<dyn RoomStore>,
    hub: Arc<Hub>,
) -> std::io::Result<Worker> {
    Worker::spawn("fanout", POLL_INTERVAL, Wakeup::default(), move |_| {
        match feed.poll() {
            Ok(events) if !events.is_empty() && !hub.is_empty() => {
                deliver(&hub, rooms.as_ref(), events)
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "real-time feed unavailable; will retry"),
        }
        false
    })
}
