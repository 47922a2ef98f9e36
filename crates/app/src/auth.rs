//! Credentials from the request headers, and authentication on the blocking pool.

use crate::envelope::ApiError;
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::{LocalBoxFuture, Ready, ready};
use roomwarden_domain::auth::{self, Actor, Credentials};
use secrecy::SecretString;

/// Header carrying the platform-admin API key.
pub const API_KEY: &str = "IM-API-KEY";
/// Header carrying the application client key.
pub const CLIENT_KEY: &str = "IM-CLIENT-KEY";
/// Header carrying the user's token.
pub const TOKEN: &str = "IM-Authorization";

fn header(req: &HttpRequest, name: &str) -> Option<SecretString> {
    req.headers()
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned().into())
}

/// The three credential headers, as sent.
pub fn credentials(req: &HttpRequest) -> Credentials {
    Credentials {
        api_key: header(req, API_KEY),
        client_key: header(req, CLIENT_KEY),
        token: header(req, TOKEN),
    }
}

/// The caller: API key or user token (api.md §2).
///
/// # Errors
/// `401` with the contract's code; `503`/`500` when the token lookup fails.
pub async fn caller(req: &HttpRequest, state: &AppState) -> Result<Actor, ApiError> {
    authenticate(credentials(req), state).await
}

/// Authenticates `credentials` (from headers, or a socket's first frame) on the blocking pool.
///
/// # Errors
/// `401` with the contract's code; `503`/`500` when the token lookup fails.
pub async fn authenticate(credentials: Credentials, state: &AppState) -> Result<Actor, ApiError> {
    let keys = state.keys.clone();
    state
        .run(move |ports| {
            auth::authenticate(
                &credentials,
                &keys,
                ports.clients.as_ref(),
                chrono::Utc::now(),
            )
        })
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

/// Extracts the authenticated caller, API key or user token (api.md §2). Put it first
/// among a handler's arguments: extractors run in order, so authentication (401) comes
/// before the path, query and body are looked at, as the contract orders the checks.
pub struct Caller(pub Actor);

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = app_state(&req)?;
            caller(&req, &state).await.map(Caller)
        })
    }
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
