//! Clients and tokens: upsert, revoke, and the caller's own record.

use crate::actor::Actor;
use crate::auth::{generate_secret, hash_token};
use crate::error::DomainError;
use crate::ids::ClientId;
use crate::model::{Client, ClientChanges, MAX_TEXT_CHARS, MAX_URL_CHARS, NewToken, check_text};
use crate::usecases::Ports;
use chrono::{DateTime, Duration, Utc};

/// Longest token a caller may assign, in characters.
pub const MAX_TOKEN_CHARS: usize = 512;

/// What to do about the client's token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRequest {
    /// Leave tokens as they are.
    Keep,
    /// Issue a fresh random token valid for the configured lifetime.
    Issue,
    /// Store the caller's own token, valid until `expires_at` (default: the configured lifetime).
    Assign {
        /// The token.
        token: String,
        /// Its expiry.
        expires_at: Option<DateTime<Utc>>,
    },
}

/// `POST /admin/clients`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaveClient {
    /// Fields to create or update.
    pub changes: ClientChanges,
    /// Token handling.
    pub token: TokenRequest,
}

/// The saved client, and the token when one was issued or assigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedClient {
    /// The client as stored.
    pub client: Client,
    /// The raw token and its expiry; shown once, stored only as a hash.
    pub token: Option<(String, DateTime<Utc>)>,
}

/// Creates or updates a client; a new token replaces all earlier ones.
///
/// # Errors
/// `InvalidBody` for an over-long field, a malformed assigned token or a past expiry;
/// `TokenInUse` when the assigned token is another client's; a storage failure.
pub fn save_client(
    ports: &Ports<'_>,
    command: SaveClient,
    token_ttl: Duration,
) -> Result<SavedClient, DomainError> {
    let now = crate::model::to_millis(ports.clock.now());
    if let Some(nickname) = &command.changes.nickname {
        check_text("nickname", nickname, MAX_TEXT_CHARS)?;
    }
    if let Some(url) = &command.changes.avatar_url {
        check_text("avatarUrl", url, MAX_URL_CHARS)?;
    }
    let token = match command.token {
        TokenRequest::Keep => None,
        TokenRequest::Issue => Some((generate_secret(), now + token_ttl)),
        TokenRequest::Assign { token, expires_at } => {
            check_assigned_token(&token)?;
            let expires_at = expires_at.map_or(now + token_ttl, crate::model::to_millis);
            if expires_at <= now {
                return Err(DomainError::InvalidBody(
                    "expirationDate must be in the future".to_owned(),
                ));
            }
            Some((token, expires_at))
        }
    };
    let new_token = token.as_ref().map(|(raw, expires_at)| NewToken {
        hash: hash_token(raw),
        expires_at: *expires_at,
    });
    let client = ports
        .clients
        .save_client(&command.changes, new_token.as_ref(), now)?
        .ok_or(DomainError::TokenInUse)?;
    Ok(SavedClient { client, token })
}

fn check_assigned_token(token: &str) -> Result<(), DomainError> {
    let chars = token.chars().count();
    if chars == 0
        || chars > MAX_TOKEN_CHARS
        || token.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(DomainError::InvalidBody(format!(
            "token must be 1 to {MAX_TOKEN_CHARS} characters without whitespace"
        )));
    }
    Ok(())
}

/// Revokes one token of the client, or all of them.
///
/// # Errors
/// `ClientNotFound`; a storage failure.
pub fn revoke_tokens(
    ports: &Ports<'_>,
    client: &ClientId,
    token: Option<&str>,
) -> Result<u64, DomainError> {
    let hash = token.map(hash_token);
    ports
        .clients
        .revoke_tokens(client, hash.as_ref())?
        .ok_or(DomainError::ClientNotFound)
}

/// `GET /me`: the caller's own record.
///
/// # Errors
/// `PermissionDenied(ActAsClient)` for the API key; `ClientNotFound`; a storage failure.
pub fn me(ports: &Ports<'_>, actor: &Actor) -> Result<Client, DomainError> {
    let id = actor.require_client()?;
    ports
        .clients
        .get_client(id)?
        .ok_or(DomainError::ClientNotFound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::MockClientStore;
    use crate::usecases::Mocks;

    fn with(clients: MockClientStore) -> Mocks {
        Mocks {
            clients,
            ..Mocks::default()
        }
    }

    fn changes() -> ClientChanges {
        ClientChanges {
            id: ClientId::from_trusted("alice".to_owned()),
            nickname: Some("Alice".to_owned()),
            avatar_url: None,
            is_platform_admin: None,
        }
    }

    fn echoing_store() -> MockClientStore {
        let mut store = MockClientStore::new();
        store.expect_save_client().returning(|c, _, now| {
            Ok(Some(Client {
                id: c.id.clone(),
                nickname: c.nickname.clone(),
                avatar_url: c.avatar_url.clone(),
                is_platform_admin: c.is_platform_admin.unwrap_or(false),
                created_at: now,
                updated_at: now,
            }))
        });
        store
    }

    #[test]
    fn issuing_stores_only_the_hash_and_returns_the_token_once() {
        let mut store = MockClientStore::new();
        store
            .expect_save_client()
            .withf(|_, token, _| token.is_some_and(|t| t.hash.0.len() == 64))
            .times(1)
            .returning(|c, _, now| {
                Ok(Some(Client {
                    id: c.id.clone(),
                    nickname: None,
                    avatar_url: None,
                    is_platform_admin: false,
                    created_at: now,
                    updated_at: now,
                }))
            });
        let saved = save_client(
            &with(store).ports(),
            SaveClient {
                changes: changes(),
                token: TokenRequest::Issue,
            },
            Duration::days(7),
        )
        .expect("saved");
        let (token, expires) = saved.token.expect("issued");
        assert_eq!(token.len(), 64);
        // The store saved the client at the clock's time; the token lasts 7 days from it.
        assert_eq!(expires, saved.client.created_at + Duration::days(7));
    }

    #[test]
    fn assigned_tokens_are_checked() {
        let now = Utc::now();
        let mocks = with(echoing_store());
        let ports = mocks.ports();
        for bad in ["", "has space", &"x".repeat(513)] {
            let cmd = SaveClient {
                changes: changes(),
                token: TokenRequest::Assign {
                    token: bad.to_owned(),
                    expires_at: None,
                },
            };
            assert!(matches!(
                save_client(&ports, cmd, Duration::days(7)),
                Err(DomainError::InvalidBody(_))
            ));
        }
        let past = SaveClient {
            changes: changes(),
            token: TokenRequest::Assign {
                token: "tok".to_owned(),
                expires_at: Some(now - Duration::seconds(1)),
            },
        };
        assert!(matches!(
            save_client(&ports, past, Duration::days(7)),
            Err(DomainError::InvalidBody(_))
        ));
        let good = SaveClient {
            changes: changes(),
            token: TokenRequest::Assign {
                token: "tok".to_owned(),
                expires_at: None,
            },
        };
        let saved = save_client(&ports, good, Duration::days(7)).expect("ok");
        assert_eq!(saved.token.map(|t| t.0), Some("tok".to_owned()));
    }

    #[test]
    fn another_clients_token_is_in_use() {
        let mut store = MockClientStore::new();
        store.expect_save_client().returning(|_, _, _| Ok(None));
        let cmd = SaveClient {
            changes: changes(),
            token: TokenRequest::Assign {
                token: "tok".to_owned(),
                expires_at: None,
            },
        };
        assert!(matches!(
            save_client(&with(store).ports(), cmd, Duration::days(7)),
            Err(DomainError::TokenInUse)
        ));
    }

    #[test]
    fn over_long_fields_are_refused() {
        let mut c = changes();
        c.nickname = Some("n".repeat(256));
        let err = save_client(
            &Mocks::default().ports(),
            SaveClient {
                changes: c,
                token: TokenRequest::Keep,
            },
            Duration::days(7),
        );
        assert!(matches!(err, Err(DomainError::InvalidBody(_))));
    }

    #[test]
    fn revoking_for_an_unknown_client_is_not_found() {
        let mut store = MockClientStore::new();
        store.expect_revoke_tokens().returning(|_, _| Ok(None));
        let err = revoke_tokens(
            &with(store).ports(),
            &ClientId::from_trusted("x".to_owned()),
            None,
        );
        assert!(matches!(err, Err(DomainError::ClientNotFound)));
    }

    #[test]
    fn revoking_one_token_passes_its_hash() {
        let mut store = MockClientStore::new();
        let expected = hash_token("tok");
        store
            .expect_revoke_tokens()
            .withf(move |_, only| only == &Some(&expected))
            .returning(|_, _| Ok(Some(1)));
        assert_eq!(
            revoke_tokens(
                &with(store).ports(),
                &ClientId::from_trusted("x".to_owned()),
                Some("tok")
            )
            .ok(),
            Some(1)
        );
    }

    #[test]
    fn me_needs_a_client_identity() {
        let err = me(&Mocks::default().ports(), &Actor::Platform);
        assert!(matches!(
            err,
            Err(DomainError::PermissionDenied(
                crate::error::Action::ActAsClient
            ))
        ));
    }
}
