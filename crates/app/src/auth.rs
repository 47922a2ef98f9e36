//! Credentials from the request headers, and authentication on the blocking pool.
//!
//! [`AppState::run_as`]: crate::state::AppState::run_as

use crate::envelope::ApiError;
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::{Ready, ready};
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

/// The caller's credentials, API key or user token (docs/api.md, "Authentication"), taken from the headers
/// without any I/O. [`AppState::run_as`] checks them on the blocking pool, first, on the
/// same connection and in the same hop as the use case; so handlers parse their path,
/// query and body inside its closure, after authentication, as the contract orders checks.
pub struct Caller(Credentials);

impl Caller {
    /// The credentials as sent.
    pub fn credentials(&self) -> &Credentials {
        &self.0
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Caller(credentials(req))))
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
