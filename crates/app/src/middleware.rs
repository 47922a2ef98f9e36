//! Cross-cutting HTTP behaviour: the envelope safety net, percent-encoding checks, panic
//! capture, the request span (access log), and the key guard's refusals.

use crate::credentials::{API_KEY, CLIENT_KEY};
use crate::envelope::{ApiError, JSON_UTF8};
use crate::state::AppState;
use actix_web::HttpMessage;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::CONTENT_TYPE;
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers, Next};
use actix_web::{Error, ResponseError, web};
use futures_util::FutureExt;
use std::panic::AssertUnwindSafe;
use tracing::Span;
use tracing_actix_web::{RequestId, RootSpanBuilder};

/// [`crate::key_guard`] on every route that checks the keys (`routes::configure`): refuses a
/// request from an address out of budget with `429`, and spends the budget for each wrong
/// key it presents (the handler then answers `401` as ever).
///
/// # Errors
/// Only the wrapped service's own errors.
pub async fn key_guard(
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let header = |name| {
        req.headers()
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let (api_key, client_key) = (header(API_KEY), header(CLIENT_KEY));
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let (Some(state), Some(ip)) = (state, req.peer_addr().map(|a| a.ip())) else {
        return next.call(req).await;
    };
    if let Err(retry_after) = state.admit_keys(ip, api_key.as_deref(), client_key.as_deref()) {
        let err = ApiError::too_many_requests(
            "Too many wrong keys from this address; retry after the time in Retry-After",
            retry_after,
        );
        return Ok(req.into_response(err.error_response()));
    }
    next.call(req).await
}

/// Envelopes any error response that the framework produced itself (unknown path
/// encodings, extractor failures, ...): ours already carry the JSON content type.
pub fn envelope_safety_net<B: MessageBody + 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(|res: ServiceResponse<B>| {
        let ours = res
            .headers()
            .get(CONTENT_TYPE)
            .is_some_and(|ct| ct.as_bytes() == JSON_UTF8.as_bytes());
        if ours {
            return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
        }
        let replacement = ApiError::for_status(res.status()).error_response();
        let (req, _) = res.into_parts();
        Ok(ErrorHandlerResponse::Response(
            ServiceResponse::new(req, replacement).map_into_right_body(),
        ))
    })
}

/// Turns a panic in a handler into an enveloped `500` instead of a dropped connection.
/// Wrap resources with it, not the app (see `routes::configure`).
pub async fn catch_panic(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let http_req = req.request().clone();
    match AssertUnwindSafe(next.call(req)).catch_unwind().await {
        Ok(result) => result.map(ServiceResponse::map_into_boxed_body),
        Err(_) => {
            tracing::error!(method = %http_req.method(), path = %http_req.path(), "handler panicked");
            Ok(ServiceResponse::new(
                http_req,
                ApiError::internal().error_response(),
            ))
        }
    }
}

/// Whether `raw` is well-formed percent-encoding of UTF-8: every `%` starts two hex
/// digits, and the decoded bytes are UTF-8.
pub fn is_valid_percent_encoding(raw: &[u8]) -> bool {
    let well_formed = raw.iter().enumerate().all(|(i, b)| {
        *b != b'%'
            || raw
                .get(i + 1..i + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    well_formed && percent_encoding::percent_decode(raw).decode_utf8().is_ok()
}

/// `400 INVALID_PARAMETER` for a path or query string whose percent-encoding does not
/// decode (`%ZZ`, a lone `%`, `%FF` that is not UTF-8), before routing: actix would keep
/// such sequences literally, so `a%ZZ` would be looked up as an ID.
pub async fn reject_bad_percent_encoding(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let uri = req.uri();
    let bad = if !is_valid_percent_encoding(uri.path().as_bytes()) {
        Some("the path")
    } else if !is_valid_percent_encoding(uri.query().unwrap_or_default().as_bytes()) {
        Some("the query string")
    } else {
        None
    };
    if let Some(part) = bad {
        let (http_req, _) = req.into_parts();
        let err = ApiError::invalid_parameter(format!("{part} is not valid percent-encoded UTF-8"));
        return Ok(ServiceResponse::new(http_req, err.error_response()));
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_boxed_body)
}

/// The span of one request: method, path (no query, no headers: no secret reaches the
/// log), the request ID that tracing-actix-web generates, and the status once answered.
/// Every log line written while serving the request, on the blocking pool too
/// (`run::blocking` enters it), carries these fields; with span-close events on (see
/// `init_tracing`), the span's close is the access-log line, with its duration.
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(ToString::to_string)
            .unwrap_or_default();
        tracing::info_span!(
            "request",
            method = %request.method(),
            path = %request.path(),
            request_id = %request_id,
            status = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let status = match outcome {
            Ok(res) => res.status(),
            Err(e) => e.as_response_error().status_code(),
        };
        span.record("status", status.as_u16());
    }
}
