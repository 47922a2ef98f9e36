//! Credentials from the request headers, and authentication on the blocking pool.

use crate::envelope::ApiError;
use crate::state::AppState;
use actix_web::HttpRequest;
use roomwarden_domain::auth::{self, Actor, Credentials};

/// Header carrying the platform-admin API key.
pub const API_KEY: &str = "IM-API-KEY";
/// Header carrying the application client key.
pub const CLIENT_KEY: &str = "IM-CLIENT-KEY";
/// Header carrying the user's token.
pub const TOKEN: &str = "IM-Authorization";

fn header(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
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
    let credentials = credentials(req);
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

/// API-key-only endpoints: `401 INVALID_API_KEY` without a valid `IM-API-KEY`.
///
/// # Errors
/// As above.
pub fn platform(req: &HttpRequest, state: &AppState) -> Result<Actor, ApiError> {
    auth::require_api_key(&credentials(req), &state.keys).map_err(ApiError::from)
}
