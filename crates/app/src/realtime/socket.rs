//! `GET /socket`: authenticate with the first frame, then receive room events.

use crate::realtime::hub::{Ended, Hub, Registration, Subscriber};
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, ProtocolError, Session};
use futures_util::StreamExt;
use roomwarden_domain::actor::Actor;
use roomwarden_domain::auth::{self, Credentials};
use roomwarden_domain::model::{PLATFORM_ACTOR, TokenHash};
use serde::Deserialize;
use serde_json::json;
use std::time::{Duration, Instant};

/// Largest frame a client may send.
const MAX_FRAME_BYTES: usize = 16 * 1024;
/// How often the server pings.
const HEARTBEAT: Duration = Duration::from_secs(15);
/// A peer silent for this long (no pong, no frame) is dropped.
const PEER_TIMEOUT: Duration = Duration::from_secs(45);

/// The first frame a client sends: `{"clientKey", "token"}`, or (ext) `{"apiKey"}`, which,
/// as in HTTP, decides alone when present.
#[derive(Deserialize)]
struct Hello {
    #[serde(rename = "apiKey")]
    api_key: Option<String>,
    #[serde(rename = "clientKey")]
    client_key: Option<String>,
    token: Option<String>,
}

fn policy(reason: &str) -> Option<CloseReason> {
    Some(CloseReason {
        code: CloseCode::Policy,
        description: Some(reason.to_owned()),
    })
}

/// The close for a frame over [`MAX_FRAME_BYTES`]: 1009, message too big.
fn too_big() -> Option<CloseReason> {
    Some(CloseReason {
        code: CloseCode::Size,
        description: Some(format!("frames are limited to {MAX_FRAME_BYTES} bytes")),
    })
}

/// Upgrades to a WebSocket and serves it on the current worker. Protocol: docs/events.md.
#[utoipa::path(get, path = "/socket", tag = "Events",
    description = "WebSocket. First text frame `{\"clientKey\", \"token\"}`; then `authenticated`, \
        `chat message` and `messageDeleted` events for the client's rooms. Bad or missing \
        authentication closes with 1008.",
    responses((status = 101, description = "Switching Protocols"), (status = 400, description = "Not a WebSocket upgrade")))]
///
/// # Errors
/// When the request is not a valid WebSocket upgrade (answered `400` by actix).
pub async fn socket(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let (response, session, stream) = actix_ws::handle(&req, body)?;
    let stream = stream
        .max_frame_size(MAX_FRAME_BYTES)
        .aggregate_continuations()
        .max_continuation_size(MAX_FRAME_BYTES);
    let peer = req.peer_addr().map(|a| a.ip());
    actix_web::rt::spawn(serve(session, stream, state.into_inner(), peer));
    Ok(response)
}

/// Checks the first frame (its keys through the key guard for `peer`, as for requests); the
/// subscriber and its token's hash on success.
async fn authenticate(
    frame: Option<AggregatedMessage>,
    state: &AppState,
    peer: Option<std::net::IpAddr>,
) -> Option<(Subscriber, Option<TokenHash>)> {
    let Some(AggregatedMessage::Text(text)) = frame else {
        return None;
    };
    let hello: Hello = serde_json::from_str(&text).ok()?;
    if let Some(ip) = peer {
        state
            .admit_keys(ip, hello.api_key.as_deref(), hello.client_key.as_deref())
            .ok()?;
    }
    let token = hello.token.as_deref().map(auth::hash_token);
    let credentials = Credentials {
        api_key: hello.api_key.map(Into::into),
        client_key: hello.client_key.map(Into::into),
        token: hello.token.map(Into::into),
    };
    match crate::auth::authenticate(credentials, state).await.ok()? {
        Actor::Client { id, .. } => Some((Subscriber::Client(id), token)),
        Actor::Platform => Some((Subscriber::Platform, None)),
        Actor::Retention => None,
    }
}

async fn serve(
    mut session: Session,
    mut stream: actix_ws::AggregatedMessageStream,
    state: std::sync::Arc<AppState>,
    peer: Option<std::net::IpAddr>,
) {
    let first = match tokio::time::timeout(state.socket_auth_timeout, stream.next()).await {
        Ok(Some(Ok(frame))) => Some(frame),
        Ok(Some(Err(ProtocolError::Overflow))) => {
            let _ = session.close(too_big()).await;
            return;
        }
        _ => None,
    };
    let Some((subscriber, token)) = authenticate(first, &state, peer).await else {
        let _ = session
            .close(policy(
                "authenticate with {\"clientKey\", \"token\"} or {\"apiKey\"} first",
            ))
            .await;
        return;
    };
    let hub: &Hub = &state.hub;
    let (mut registration, client) = match (&subscriber, token) {
        (Subscriber::Client(id), Some(token)) => (hub.register(id.clone(), token), id.as_str()),
        (Subscriber::Platform, None) => (hub.register_platform(), PLATFORM_ACTOR),
        // Not produced by `authenticate`; refused rather than given more than it proved.
        (Subscriber::Client(_), None) | (Subscriber::Platform, Some(_)) => {
            let _ = session.close(policy("authentication failed")).await;
            return;
        }
    };
    let ack = json!({"event": "authenticated", "data": {"client": client}}).to_string();
    let mut close = None;
    if session.text(ack).await.is_ok() {
        close = pump(&mut session, &mut stream, &mut registration).await;
    }
    hub.unregister(&subscriber, registration.id);
    let _ = session.close(close).await;
}

/// Forwards frames and answers the peer until either side ends; the close reason to send.
async fn pump(
    session: &mut Session,
    stream: &mut actix_ws::AggregatedMessageStream,
    registration: &mut Registration,
) -> Option<CloseReason> {
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    let mut last_heard = Instant::now();
    loop {
        tokio::select! {
            frame = registration.frames.recv() => match frame {
                Some(text) => if session.text(&*text).await.is_err() { return None },
                None => return Some(match registration.ended() {
                    Some(Ended::TokenLapsed) => CloseReason { code: CloseCode::Policy, description: Some("token revoked or expired".to_owned()) },
                    Some(Ended::TooSlow) | None => CloseReason { code: CloseCode::Again, description: Some("too slow".to_owned()) },
                }),
            },
            message = stream.next() => match message {
                Some(Ok(AggregatedMessage::Ping(bytes))) => {
                    last_heard = Instant::now();
                    if session.pong(&bytes).await.is_err() { return None }
                }
                Some(Err(ProtocolError::Overflow)) => return too_big(),
                Some(Ok(AggregatedMessage::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => last_heard = Instant::now(),
            },
            _ = heartbeat.tick() => {
                if last_heard.elapsed() > PEER_TIMEOUT {
                    return Some(CloseReason { code: CloseCode::Away, description: Some("no answer to pings".to_owned()) });
                }
                if session.ping(b"").await.is_err() { return None }
            }
        }
    }
}
