//! The thread that turns database events into socket frames.

use crate::realtime::hub::{Frame, Hub};
use crate::state::Ports;
use chrono::{DateTime, Utc};
use roomwarden_adapters::{FeedEvent, RealtimeFeed, Wakeup, Worker};
use roomwarden_domain::auth;
use roomwarden_domain::ids::{ClientId, RoomId};
use roomwarden_domain::model::Room;
use roomwarden_domain::ports::ClientStore;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the feed is polled.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Longest time between two checks of the connected sockets' tokens.
pub const TOKEN_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Who receives a frame: every member of the room, or only its moderators (owner and
/// managers; the API key's sockets receive every frame).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// Every member.
    Members,
    /// The moderators but `except` (a report: the reporter's identity is theirs alone, and
    /// never the reported sender's, moderator or not).
    Moderators {
        /// The reported message's sender.
        except: ClientId,
    },
}

/// The frame a socket receives for `event`, and who receives it.
pub fn frame(event: FeedEvent) -> (RoomId, Frame, Audience) {
    match event {
        FeedEvent::Message(message) => {
            let room = message.room.clone();
            let text = crate::wire::message_frame(message);
            (room, Arc::from(text), Audience::Members)
        }
        FeedEvent::Deleted(deletion) => {
            let text = crate::wire::deletion_frame(&deletion);
            (deletion.room, Arc::from(text), Audience::Members)
        }
        FeedEvent::Reported(report) => {
            let text = crate::wire::report_frame(&report);
            let except = report.sender.clone();
            (
                report.room,
                Arc::from(text),
                Audience::Moderators { except },
            )
        }
    }
}

/// A room as one batch reads it: its members, and (once a report of it needs them) its
/// moderators.
struct Audiences {
    room: Room,
    moderators: Option<Vec<ClientId>>,
}

/// The room's moderators that may receive a report's frame: the owner, the managers, and
/// the connected members flagged platform admins (their flag read now, in one lookup of the
/// connected members' tokens).
fn moderators_of(hub: &Hub, clients: &dyn ClientStore, room: &Room) -> Vec<ClientId> {
    let mut moderators = room.managers.clone();
    moderators.extend(room.owner.clone());
    let others: Vec<ClientId> = room
        .members
        .iter()
        .filter(|m| !moderators.contains(m))
        .cloned()
        .collect();
    let tokens = hub.tokens_of(&others);
    if !tokens.is_empty() {
        match clients.find_tokens(&tokens) {
            Ok(found) => {
                for (_, record) in found {
                    if record.is_platform_admin && !moderators.contains(&record.client_id) {
                        moderators.push(record.client_id);
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read members' flags; report frame sent to owner and managers only");
            }
        }
    }
    moderators
}

/// Delivers one batch: members are read once per room per batch, so a member removed
/// before the event was polled does not get it.
fn deliver(hub: &Hub, ports: &Ports, events: Vec<FeedEvent>) {
    let mut rooms: HashMap<RoomId, Option<Audiences>> = HashMap::new();
    for event in events {
        let (room, text, audience) = frame(event);
        let known = rooms.entry(room.clone()).or_insert_with(|| {
            match ports.rooms.get_room(&room) {
                Ok(found) => found.map(|room| Audiences {
                    room,
                    moderators: None,
                }),
                Err(e) => {
                    tracing::warn!(room = %room, error = %e, "cannot read room members; event not sent to sockets");
                    None
                }
            }
        });
        let Some(known) = known else {
            // No such room (or it could not be read): API-key sockets still get the frame.
            hub.deliver(&[], &text);
            continue;
        };
        match audience {
            Audience::Members => {
                hub.deliver(&known.room.members, &text);
            }
            Audience::Moderators { except } => {
                let moderators = known
                    .moderators
                    .get_or_insert_with(|| moderators_of(hub, ports.clients.as_ref(), &known.room));
                let list: Vec<ClientId> = moderators
                    .iter()
                    .filter(|m| **m != except)
                    .cloned()
                    .collect();
                hub.deliver(&list, &text);
            }
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
            Ok(events) if !events.is_empty() && !hub.is_empty() => deliver(&hub, &ports, events),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "real-time feed unavailable; will retry"),
        }
        false
    })
}
