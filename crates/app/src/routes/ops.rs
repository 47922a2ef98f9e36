//! Operations: liveness, readiness, the OpenAPI document and the Prometheus metrics.

use crate::envelope::{ApiError, Failure, ok};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::http::header::{AUTHORIZATION, HeaderValue, WWW_AUTHENTICATE};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use roomwarden_domain::auth::secrets_match;
use roomwarden_domain::error::DomainError;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

/// `{"status": "..."}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct StatusDto {
    /// `up` or `ready`.
    pub status: &'static str,
}

/// The OpenAPI document as served: `crate::openapi::document_json`, built once per process
/// at start-up and given to the app as data.
pub struct OpenApiJson(pub web::Bytes);

/// The OpenAPI 3 document of this API, generated from the code (served as is, not enveloped).
#[utoipa::path(get, path = "/openapi.json", operation_id = "openapi", tag = "Operations", responses((status = 200, description = "OpenAPI 3 document")))]
pub async fn openapi_document(document: web::Data<OpenApiJson>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(crate::envelope::JSON_UTF8)
        .body(document.0.clone())
}

/// The process is up.
#[utoipa::path(get, path = "/health", tag = "Operations", responses((status = 200, description = "Up", body = StatusDto)))]
pub async fn health() -> HttpResponse {
    ok("OK", StatusDto { status: "up" })
}

/// The database answers.
#[utoipa::path(get, path = "/ready", tag = "Operations", responses(
    (status = 200, description = "Ready", body = StatusDto),
))]
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    // Not a session: the probe checks out its own connection, and only that one.
    let readiness = state.ports.readiness.clone();
    crate::run::blocking(move || readiness().map_err(DomainError::from)).await?;
    Ok(ok("OK", StatusDto { status: "ready" }))
}

/// Whether `req` carries `Authorization: Bearer <expected>` (the scheme in any case; the
/// token compared in constant time).
fn bearer_matches(req: &HttpRequest, expected: &SecretString) -> bool {
    let Some(value) = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
            secrets_match(token.trim_start_matches(' '), expected.expose_secret())
        }
        _ => false,
    }
}

/// `401 INVALID_TOKEN` with the `Bearer` challenge, enveloped like every error of the API.
fn metrics_unauthorized() -> HttpResponse {
    let mut res = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
        "INVALID_TOKEN",
        "Metrics need Authorization: Bearer <the ROOMWARDEN_METRICS_TOKEN of this server>",
    )
    .error_response();
    res.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static(crate::metrics::METRICS_CHALLENGE),
    );
    res
}

/// The server's metrics in the Prometheus text format (not enveloped); see
/// docs/operations.md, "Metrics". Open to anyone unless `ROOMWARDEN_METRICS_TOKEN` is set.
#[utoipa::path(get, path = "/metrics", tag = "Operations",
    description = "Prometheus text format 0.0.4, served as is (not enveloped). Needs \
        `Authorization: Bearer <token>` only when the server sets `ROOMWARDEN_METRICS_TOKEN`.",
    responses(
        (status = 200, description = "The series", content_type = "text/plain; version=0.0.4; charset=utf-8", body = String),
        (status = 401, description = "INVALID_TOKEN (the server sets ROOMWARDEN_METRICS_TOKEN and `Authorization: Bearer <that token>` is missing or wrong)", body = Failure),
    ),
    security((), ("metrics_token" = [])))]
pub async fn metrics(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if let Some(expected) = &state.metrics_token
        && !bearer_matches(&req, expected)
    {
        return Ok(metrics_unauthorized());
    }
    // Reading the outbox and the purge backlog queries the database.
    let metrics = state.metrics.clone();
    let text = crate::run::blocking(move || Ok::<_, ApiError>(metrics.encode())).await?;
    Ok(HttpResponse::Ok()
        .content_type(crate::metrics::CONTENT_TYPE)
        .body(text))
}
