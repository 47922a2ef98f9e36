//! Operations: liveness, readiness, and the OpenAPI document.

use crate::envelope::{ApiError, ok};
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use roomwarden_domain::error::DomainError;
use serde::Serialize;

/// The served document, built once.
static DOCUMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// `{"status": "..."}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct StatusDto {
    /// `up` or `ready`.
    pub status: &'static str,
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

/// The OpenAPI 3 document of this API, generated from the code (served as is, not enveloped).
#[utoipa::path(get, path = "/openapi.json", tag = "Operations", responses((status = 200, description = "OpenAPI 3 document")))]
pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(crate::envelope::JSON_UTF8)
        .body(DOCUMENT.get_or_init(crate::openapi::document_json).as_str())
}
