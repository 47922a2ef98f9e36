//! Authentication on the blocking pool, and the extractor of API-key-only endpoints; the
//! credentials themselves come from [`crate::credentials`].

use crate::credentials::credentials;
use crate::envelope::ApiError;
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::{Ready, ready};
use roomwarden_domain::actor::Actor;
use roomwarden_domain::auth::{self, Credentials};

/// Authenticates `credentials` (from headers, or a socket's first frame) on the blocking pool.
///
/// # Errors
/// `401` with the contract's code; `503`/`500` when the token lookup fails.
pub async fn authenticate(credentials: Credentials, state: &AppState) -> Result<Actor, ApiError> {
    let keys = state.keys.clone();
    state
        .run(move |ports| auth::authenticate(&credentials, &keys, ports.clients, ports.clock.now()))
        .await
}

fn app_state(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| {
            tracing::error!("application state missing");
            ApiError::internal()
        })
}

/// Extracts the platform administrator of API-key-only endpoints (`/admin/*`,
/// `POST /rooms`, `POST /messages`): `401 INVALID_API_KEY` without a valid `IM-API-KEY`.
pub struct Platform;

impl FromRequest for Platform {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(app_state(req).and_then(|state| {
            auth::require_api_key(&credentials(req), &state.keys)
                .map(|_| Platform)
                .map_err(ApiError::from)
        }))
    }
}
