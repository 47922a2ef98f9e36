//! `Idempotency-Key` on every `POST`, `PUT` and `DELETE` (docs/api.md §11), as a route
//! middleware ([`handle`], wrapped around those routes by `routes::configure`).
//!
//! Without the header a request passes straight through: no extra work, no storage round
//! trip. With it, the body is read (as the handlers read it: 1 MiB, 10 s) and, for a route
//! that takes only the API key, the key checked; then the handler runs, and its one storage
//! hop (`idempotency::hop`) authenticates the caller as the route's handler does ([`Access`]), checks
//! the header's syntax and claims the key for the caller with the request's fingerprint
//! (method, path, query, body), runs the use case, and commits the answer the handler
//! renders in the same transaction as the use case's effect. Then:
//!
//! - a stored answer is replayed (status, content type, body) with `Idempotent-Replayed:
//!   true`, and the use case does not run;
//! - a key held by the same request still running: `409 IDEMPOTENCY_KEY_IN_USE`; a key
//!   used with another request: `422 IDEMPOTENCY_KEY_REUSED`;
//! - otherwise the answer is stored for 24 hours with the effect, unless it is a 5xx (or the
//!   handler failed or panicked): then the effect is rolled back and the key released, so a
//!   retry runs again; an answer larger than
//!   [`roomwarden_domain::idempotency::MAX_STORED_ANSWER_BYTES`] commits its effect and
//!   releases the key;
//! - a user holding [`roomwarden_domain::idempotency::KEYS_PER_CLIENT`] unexpired keys gets `429
//!   TOO_MANY_REQUESTS` with `Retry-After` for a new one.
//!
//! A handler that answers without storage (a malformed body) gets its answer claimed and
//! stored in one hop after it, in the same order of checks.
//!
//! Everything shares the request's one deadline ([`crate::run`]): a request cut off answers
//! `503`, and its work is rolled back and its key released (unless the deadline passed
//! during the commit itself: then the answer may be stored, and a retry replays it).
//!
//! Credentials are never stored (the caller is a client ID or `/platform`), nor are
//! answers that carry a token ([`CarriesSecret`]: the key is released instead); neither
//! keys nor bodies are logged. A handler whose answer embeds a message's content marks it
//! with [`Embeds`], so that the stored answer loses that content when the message is deleted.

mod answer;
pub(crate) mod hop;

pub use answer::{CarriesSecret, Embeds, REPLAYED_HEADER};
pub use hop::KEY_HEADER;

use crate::access::Access;
use crate::credentials;
use crate::envelope::ApiError;
use crate::state::AppState;
use actix_web::body::BoxBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::CONTENT_TYPE;
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse, ResponseError, web};
use futures_util::FutureExt;
use hop::{Finish, Inputs, Stage};
use roomwarden_domain::idempotency::{Completion, Fingerprint, StoredResponse};
use roomwarden_domain::usecases::idempotency::Begin;
use std::panic::AssertUnwindSafe;

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
    // other caller in the hop, as `run_as` does.
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
    let inputs = Inputs {
        api_key_only: access == Access::ApiKey,
        credentials,
        keys: state.keys.clone(),
        raw,
        fingerprint: Fingerprint::of(
            http_req.method().as_str(),
            http_req.path(),
            http_req.query_string(),
            &body,
        ),
    };
    let req = ServiceRequest::from_parts(http_req, Payload::from(body));
    // A failure or a panic drops the stage: an open unit rolls back and releases the key.
    let (res, stage) = hop::scope(inputs, AssertUnwindSafe(next.call(req)).catch_unwind()).await;
    let res = match res {
        Ok(res) => res?,
        Err(panic) => std::panic::resume_unwind(panic),
    };
    match stage {
        Stage::Open(pending) => Ok(end(pending, res).await),
        Stage::Replay(stored) => {
            let (http_req, _) = res.into_parts();
            Ok(ServiceResponse::new(http_req, answer::replay(stored)))
        }
        Stage::Waiting(inputs) => Ok(answered_alone(&state, inputs, res).await),
        Stage::Taken | Stage::Refused | Stage::Lost => Ok(res),
    }
}

/// The answer of a request whose use case ran in an open unit: sent once the unit has
/// committed it with the effect (or released the key), else `503`.
async fn end(pending: hop::Pending, res: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let (http_req, res) = res.into_parts();
    let (finish, res) = classify(res).await;
    let Some(finish) = finish else {
        // No answer to keep: the unit is rolled back and the key released before it leaves.
        pending.roll_back().await;
        return ServiceResponse::new(http_req, res);
    };
    match pending.end(finish).await {
        Ok(scrub) => {
            crate::state::checkpointed(scrub).await;
            ServiceResponse::new(http_req, res)
        }
        Err(e) => ServiceResponse::new(http_req, e.error_response()),
    }
}

/// The answer of a handler that made no storage hop (it refused the request on its own):
/// the key is claimed and the answer stored in one hop, in the order of checks of a hop
/// that runs a use case, so a refusal by the claim (or a replay) comes first.
async fn answered_alone(
    state: &AppState,
    inputs: Inputs,
    res: ServiceResponse<BoxBody>,
) -> ServiceResponse<BoxBody> {
    let (http_req, res) = res.into_parts();
    let (finish, res) = classify(res).await;
    let Some(finish) = finish else {
        return ServiceResponse::new(http_req, res);
    };
    let kept = state
        .run(move |ports| {
            Ok(match hop::claim(ports, inputs) {
                Ok((_, Begin::Run(ticket))) => {
                    let kept = match finish {
                        Finish::Store(completion) => {
                            roomwarden_domain::usecases::idempotency::finish(
                                ports,
                                &ticket,
                                &completion,
                            )
                        }
                        // No effect to keep or undo: the claim is only given up.
                        Finish::Release | Finish::RollBack => {
                            roomwarden_domain::usecases::idempotency::release(ports, &ticket)
                        }
                    };
                    if let Err(e) = kept {
                        tracing::warn!(error = %e, "the answer could not be stored under its idempotency key");
                        hop::release_on(ports, &ticket);
                    }
                    Ok(None)
                }
                Ok((_, Begin::Replay(stored))) => Ok(Some(stored)),
                Err(e) => Err(e),
            })
        })
        .await;
    match kept {
        Ok(Ok(None)) => ServiceResponse::new(http_req, res),
        Ok(Ok(Some(stored))) => ServiceResponse::new(http_req, answer::replay(stored)),
        Ok(Err(e)) | Err(e) => ServiceResponse::new(http_req, e.error_response()),
    }
}

/// What to do with the key, given the handler's answer, and the answer to send: `None`
/// for a 5xx or an answer that could not be read (nothing is kept: the key is released,
/// and an open unit rolled back).
async fn classify(res: HttpResponse<BoxBody>) -> (Option<Finish>, HttpResponse<BoxBody>) {
    let status = res.status();
    if status.is_server_error() {
        return (None, res);
    }
    if res.extensions().get::<CarriesSecret>().is_some() {
        return (Some(Finish::Release), res);
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
        return (None, ApiError::internal().error_response());
    };
    let finish = if bytes.len() > roomwarden_domain::idempotency::MAX_STORED_ANSWER_BYTES {
        // Not stored (see `idempotency::finish`): released without copying the answer.
        Finish::Release
    } else {
        match embeds.map(|e| e.redact(&bytes)) {
            Some(None) => {
                // Never store content that a deletion could not remove.
                tracing::error!("an answer marked as embedding a message has no message there");
                Finish::Release
            }
            embeds => Finish::Store(Completion {
                response: StoredResponse {
                    status: status.as_u16(),
                    content_type,
                    body: bytes.to_vec(),
                },
                embeds: embeds.flatten(),
            }),
        }
    };
    (Some(finish), head.set_body(bytes).map_into_boxed_body())
}
