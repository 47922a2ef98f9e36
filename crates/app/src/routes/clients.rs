//! Clients and tokens.

use crate::auth::Platform;
use crate::body::JsonBody;
use crate::credentials::User;
use crate::dto::{ClientDto, RevokeBody, RevokedDto, SaveClientBody, iso};
use crate::envelope::{ApiError, Failure, ok};
use crate::idempotency::CarriesSecret;
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use roomwarden_domain::ids::ClientId;
use roomwarden_domain::model::ClientChanges;
use roomwarden_domain::usecases::clients::{self, SaveClient, TokenRequest};

/// `expirationDate`: an ISO 8601 string or Unix milliseconds.
fn expiration(value: Option<serde_json::Value>) -> Result<Option<DateTime<Utc>>, ApiError> {
    let bad =
        || ApiError::invalid_body("expirationDate must be an ISO 8601 time or Unix milliseconds");
    match value {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => DateTime::parse_from_rfc3339(&s)
            .map(|t| Some(t.to_utc()))
            .map_err(|_| bad()),
        Some(serde_json::Value::Number(n)) => n
            .as_i64()
            .and_then(DateTime::from_timestamp_millis)
            .map(Some)
            .ok_or_else(bad),
        Some(_) => Err(bad()),
    }
}

/// Creates or updates a client; optionally issues or assigns a token.
#[utoipa::path(post, path = "/admin/clients", tag = "Clients", request_body = SaveClientBody,
    responses(
        (status = 200, description = "Saved", body = ClientDto),
        (status = 409, description = "TOKEN_ALREADY_IN_USE", body = Failure),
    ))]
pub async fn save_client(
    _: Platform,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let body: SaveClientBody = body.parse()?;
    // Checked in form even where it does not apply (no `token`): a malformed field is refused.
    let expires_at = expiration(body.expiration_date)?;
    let token = match (body.token, body.issue_access_token) {
        (Some(token), _) => TokenRequest::Assign { token, expires_at },
        (None, true) => TokenRequest::Issue,
        (None, false) => TokenRequest::Keep,
    };
    let command = SaveClient {
        changes: ClientChanges {
            id: ClientId::parse(&body.id)?,
            nickname: body.nickname,
            avatar_url: body.avatar_url,
            is_platform_admin: body.is_platform_admin,
        },
        token,
    };
    let ttl = state.token_ttl;
    let saved = state
        .run(move |ports| clients::save_client(ports, command, ttl))
        .await?;
    let mut dto = ClientDto::from(saved.client);
    let Some((token, expires_at)) = saved.token else {
        return Ok(ok("OK", dto));
    };
    dto.token = Some(token);
    dto.expiration_date = Some(iso(expires_at));
    // Tokens are stored only as hashes: this answer is never kept for a replay.
    Ok(CarriesSecret::mark(ok("OK", dto)))
}

/// Revokes one token (body `{"token"}`) or every token of the client.
#[utoipa::path(delete, path = "/admin/clients/{clientID}/token", tag = "Clients", request_body(content = Option<RevokeBody>),
    params(("clientID" = String, Path, description = "Client ID")),
    responses(
        (status = 200, description = "Revoked", body = RevokedDto),
        (status = 404, description = "CLIENT_NOT_FOUND", body = Failure),
    ))]
pub async fn revoke_tokens(
    _: Platform,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let client = ClientId::parse(&path.into_inner())?;
    let token = body.parse_optional::<RevokeBody>()?.and_then(|b| b.token);
    let revoked = state
        .run(move |ports| clients::revoke_tokens(ports, &client, token.as_deref()))
        .await?;
    Ok(ok(
        "OK",
        RevokedDto {
            revoked_tokens: revoked,
        },
    ))
}

/// The caller's own client record.
#[utoipa::path(get, path = "/me", tag = "Clients",
    responses(
        (status = 200, description = "The caller", body = ClientDto),
        (status = 403, description = "INSUFFICIENT_PERMISSION (the API key has no client identity)", body = Failure),
        (status = 404, description = "CLIENT_NOT_FOUND", body = Failure),
    ))]
pub async fn me(user: User, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let client = state
        .run_as(user.into(), move |actor, ports| {
            Ok(clients::me(ports, actor)?)
        })
        .await?;
    Ok(ok("OK", ClientDto::from(client)))
}
