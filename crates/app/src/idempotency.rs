//! `Idempotency-Key` on every `POST`, `PUT` and `DELETE` (docs/api.md §11), as a route
//! middleware ([`handle`], wrapped around those routes by `routes::configure`).
//!
//! Without the header a request passes straight through: no extra work, no storage round
//! trip. With it, in the contract's order of checks: the body is read (as the handlers read
//! it: 1 MiB, 10 s), the caller is authenticated as the route's handler does it ([`Access`]),
//! the header's syntax is checked, and the key is claimed for the caller with the request's
//! fingerprint (method, path, query, body), all in one hop to the blocking pool; the handler
//! then runs as the actor so authenticated ([`credentials::Authenticated`]), without a second
//! lookup. Then:
//!
//! - a stored answer is replayed (status, content type, body) with `Idempotent-Replayed:
//!   true`, and the handler does not run;
//! - a key held by the same request still running: `409 IDEMPOTENCY_KEY_IN_USE`; a key
//!   used with another request: `422 IDEMPOTENCY_KEY_REUSED`;
//! - otherwise the handler runs and its answer is stored for 24 hours, unless it is a 5xx
//!   (or the handler failed or panicked) or larger than
//!   [`roomwarden_domain::idempotency::MAX_STORED_ANSWER_BYTES`]: then the key is released, so a retry runs
//!   again;
//! - a user holding [`roomwarden_domain::idempotency::KEYS_PER_CLIENT`] unexpired keys gets `429
//!   TOO_MANY_REQUESTS` with `Retry-After` for a new one.
//!
//! The claim, the handler and the storing share the request's one deadline
//! ([`crate::run`]): storing or releasing never adds a wait of its own. A claim that
//! commits after its request was answered `503` (or after its client went away) is released
//! at once; storing or releasing that outlives the deadline goes on after the answer. A
//! `503` whose use case was cut off while it ran keeps the key in flight until its lease
//! lapses: that use case may still commit, and a retry must not repeat it.
//!
//! Credentials are never stored (the caller is a client ID or `/platform`), nor are
//! answers that carry a token ([`CarriesSecret`]: the key is released instead); neither
//! keys nor bodies are logged. A handler whose answer embeds a message's content marks it
//! with [`Embeds`], so that the stored answer loses that content when the message is deleted.

use crate::access::Access;
use crate::credentials::{self, Authenticated};
use crate::envelope::ApiError;
use crate::state::AppState;
use actix_web::body::BoxBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpResponse, ResponseError, web};
use futures_util::FutureExt;
use roomwarden_domain::actor::Actor;
use roomwarden_domain::error::DomainError;
use roomwarden_domain::idempotency::{
    Completion, EmbeddedMessage, Fingerprint, IdempotencyKey, StoredResponse, Ticket,
};
use roomwarden_domain::ids::{MessageId, RoomId};
use roomwarden_domain::model::Message;
use roomwarden_domain::usecases::idempotency::{self, Begin};
use std::panic::AssertUnwindSafe;

/// The request header.
pub const KEY_HEADER: &str = "Idempotency-Key";
/// The header of a replayed answer.
pub const REPLAYED_HEADER: &str = "Idempotent-Replayed";

/// Where an answer embeds a message's content: the message, and the JSON pointer of the
/// message object in the body (its `message` member is the content). Handlers put it in the
/// response's extensions; the stored answer then keeps a copy with that content `null`,
/// which replaces it once the message is deleted.
#[derive(Debug, Clone)]
pub struct Embeds {
    room: RoomId,
    message: MessageId,
    at: &'static str,
}

impl Embeds {
    /// `message`, whose object is at the JSON pointer `at` of the answer.
    pub fn message(message: &Message, at: &'static str) -> Self {
        Self {
            room: message.room.clone(),
            message: message.id.clone(),
            at,
        }
    }

    /// Marks `res` as embedding the message, if there is one.
    pub fn mark(embeds: Option<Self>, mut res: HttpResponse) -> HttpResponse {
        if let Some(embeds) = embeds {
            res.extensions_mut().insert(embeds);
        }
        res
    }

    /// The stored form: `body` with the message's content set to `null`; `None` when the
    /// body has no message object at the pointer (nothing is stored then).
    fn redact(self, body: &[u8]) -> Option<EmbeddedMessage> {
        let mut json: serde_json::Value = serde_json::from_slice(body).ok()?;
        let object = json.pointer_mut(self.at)?.as_object_mut()?;
        object.insert("message".to_owned(), serde_json::Value::Null);
        Some(EmbeddedMessage {
            room: self.room,
            message: self.message,
            redacted_body: serde_json::to_vec(&json).ok()?,
        })
    }
}

/// Marks an answer that carries a secret (an issued or assigned token): it is never
/// stored, since tokens are kept only as hashes. The key is released instead, so a retry
/// runs again (issuing a fresh token supersedes the one whose answer was lost).
#[derive(Debug, Clone, Copy)]
pub struct CarriesSecret;

impl CarriesSecret {
    /// Marks `res`.
    pub fn mark(mut res: HttpResponse) -> HttpResponse {
        res.extensions_mut().insert(Self);
        res
    }
}

/// The middleware: see the module documentation.
///
/// # Errors
/// Only the wrapped service's own errors.
pub async fn handle(
    access: Access,
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let mut sent = req.headers().get_all(KEY_HEADER);
    // A route without credentials has no caller to hold a key for (every write takes one).
    let Some(first) = sent.next().filter(|_| access.keyed()) else {
        return next.call(req).await;
    };
    // Two keys: checked as a bad value, after authentication.
    let raw = sent.next().is_none().then(|| first.as_bytes().to_vec());
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        tracing::error!("application state missing");
        return Ok(req.error_response(ApiError::internal()));
    };
    let credentials = credentials::credentials(req.request());
    // API-key-only: checked before the body is read, as the `Platform` extractor does; any
    // other caller after it, as `run_as` does.
    if access == Access::ApiKey
        && let Err(e) = roomwarden_domain::auth::require_api_key(&credentials, &state.keys)
    {
        return Ok(req.error_response(ApiError::from(e)));
    }
    let (http_req, mut payload) = req.into_parts();
    let body = match crate::body::read(&http_req, &mut payload).await {
        Ok(body) => body,
        Err(e) => return Ok(ServiceResponse::new(http_req, e.error_response())),
    };
    let fingerprint = Fingerprint::of(
        http_req.method().as_str(),
        http_req.path(),
        http_req.query_string(),
        &body,
    );
    let keys = state.keys.clone();
    let begun = state
        .run_undoable(
            move |ports| {
                let now = ports.clock.now();
                let actor = match access {
                    Access::ApiKey => Actor::Platform,
                    Access::Open | Access::Caller | Access::User => {
                        roomwarden_domain::auth::authenticate(
                            &credentials,
                            &keys,
                            ports.clients,
                            now,
                        )?
                    }
                };
                let key = match raw {
                    Some(raw) => IdempotencyKey::parse(&raw)?,
                    None => {
                        return Err(DomainError::InvalidParameter(format!(
                            "send at most one {KEY_HEADER} header"
                        )));
                    }
                };
                let begun = idempotency::begin(ports, &actor, key, fingerprint)?;
                Ok((actor, begun))
            },
            // Claimed after the client was answered 503: nobody runs it, so free the key.
            |ports, (_, begun)| {
                if let Begin::Run(ticket) = begun
                    && let Err(e) = idempotency::release(ports, &ticket)
                {
                    tracing::warn!(error = %e, "a late idempotency claim could not be released");
                }
            },
        )
        .await;
    let ticket = match begun {
        Ok((actor, Begin::Run(ticket))) => {
            // The handler runs as the actor the claim was made for, without a second lookup.
            http_req.extensions_mut().insert(Authenticated(actor));
            ticket
        }
        Ok((_, Begin::Replay(stored))) => {
            return Ok(ServiceResponse::new(http_req, replay(stored)));
        }
        Err(e) => return Ok(ServiceResponse::new(http_req, e.error_response())),
    };
    let req = ServiceRequest::from_parts(http_req, Payload::from(body));
    let res = match AssertUnwindSafe(next.call(req)).catch_unwind().await {
        Ok(Ok(res)) => res,
        Ok(Err(e)) => {
            release(&state, ticket).await;
            return Err(e);
        }
        Err(panic) => {
            release(&state, ticket).await;
            std::panic::resume_unwind(panic);
        }
    };
    let (http_req, res) = res.into_parts();
    if res.extensions().get::<CarriesSecret>().is_some() {
        release(&state, ticket).await;
        return Ok(ServiceResponse::new(http_req, res));
    }
    let status = res.status();
    if status.is_server_error() && crate::run::outcome_uncertain() {
        // Cut off by the deadline while its work ran: that work may still commit, so the
        // key is neither released (a retry could repeat the effect) nor stored; it stays in
        // flight until its lease lapses, and a retry meanwhile gets 409.
        tracing::warn!(
            "the idempotency key is kept until its lease lapses: the request's outcome is unknown"
        );
        return Ok(ServiceResponse::new(http_req, res));
    }
    let embeds = res.extensions().get::<Embeds>().cloned();
    let content_type = res
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let (head, body) = res.into_parts();
    let Ok(bytes) = actix_web::body::to_bytes(body).await else {
        tracing::error!("the answer's body could not be read to store it");
        release(&state, ticket).await;
        return Ok(ServiceResponse::new(
            http_req,
            ApiError::internal().error_response(),
        ));
    };
    if bytes.len() > roomwarden_domain::idempotency::MAX_STORED_ANSWER_BYTES {
        // Not stored (see `idempotency::finish`): released without copying the answer.
        release(&state, ticket).await;
        return Ok(ServiceResponse::new(
            http_req,
            head.set_body(bytes).map_into_boxed_body(),
        ));
    }
    let embeds = match embeds.map(|e| e.redact(&bytes)) {
        Some(None) => {
            // Never store content that a deletion could not remove.
            tracing::error!("an answer marked as embedding a message has no message there");
            release(&state, ticket).await;
            return Ok(ServiceResponse::new(
                http_req,
                head.set_body(bytes).map_into_boxed_body(),
            ));
        }
        Some(Some(embedded)) => Some(embedded),
        None => None,
    };
    let completion = Completion {
        response: StoredResponse {
            status: status.as_u16(),
            content_type,
            body: bytes.to_vec(),
        },
        embeds,
    };
    let stored = state
        .run_detached(move |ports| idempotency::finish(ports, &ticket, &completion))
        .await;
    match stored {
        Some(Ok(true)) => {}
        Some(Ok(false)) => tracing::warn!(
            "this request no longer held its idempotency key (its lease lapsed and another request took the key over); its answer is not stored"
        ),
        Some(Err(e)) => tracing::warn!(
            error = %e,
            "the answer could not be stored under its idempotency key"
        ),
        // Its storing goes on; the answer is not held back past the request's deadline.
        None => tracing::warn!(
            "the answer is sent before its idempotency key was stored or released (storage is slow)"
        ),
    }
    Ok(ServiceResponse::new(
        http_req,
        head.set_body(bytes).map_into_boxed_body(),
    ))
}

/// Releases `ticket`'s claim after a failure, so that a retry runs again: waited for
/// until the request's deadline, and carried out even past it.
async fn release(state: &AppState, ticket: Ticket) {
    let released = state
        .run_detached(move |ports| idempotency::release(ports, &ticket))
        .await;
    match released {
        Some(Ok(_)) => {}
        // The claim lapses with its lease.
        Some(Err(e)) => tracing::warn!(error = %e, "the idempotency key could not be released"),
        None => {
            tracing::warn!("the idempotency key is released after the answer (storage is slow)")
        }
    }
}

/// A stored answer, replayed.
fn replay(stored: StoredResponse) -> HttpResponse {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = HttpResponse::build(status);
    if let Ok(content_type) = HeaderValue::from_str(&stored.content_type) {
        res.insert_header((CONTENT_TYPE, content_type));
    }
    res.insert_header((REPLAYED_HEADER, HeaderValue::from_static("true")))
        .body(stored.body)
}
