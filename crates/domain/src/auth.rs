//! Authentication: who is calling, from the request's credentials.

use crate::actor::Actor;
use crate::error::DomainError;
use crate::model::TokenHash;
use crate::ports::ClientStore;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The credentials a request carried, as raw header values (secrets: `Debug` shows none).
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// `IM-API-KEY`.
    pub api_key: Option<SecretString>,
    /// `IM-CLIENT-KEY`.
    pub client_key: Option<SecretString>,
    /// `IM-Authorization`.
    pub token: Option<SecretString>,
}

/// The deployment's two keys (secrets: `Debug` shows none).
#[derive(Debug, Clone)]
pub struct DeploymentKeys {
    /// Platform-admin key (`IM-API-KEY`).
    pub api_key: SecretString,
    /// Application client key (`IM-CLIENT-KEY`).
    pub client_key: SecretString,
}

/// Compares two secrets in constant time, whatever their lengths: their SHA-256 digests
/// are compared (a byte comparison would end early on a length mismatch, and tell an
/// attacker the secret's length).
#[must_use]
pub fn secrets_match(given: &str, expected: &str) -> bool {
    Sha256::digest(given.as_bytes())
        .as_slice()
        .ct_eq(Sha256::digest(expected.as_bytes()).as_slice())
        .into()
}

/// Hashes a token for storage and lookup.
#[must_use]
pub fn hash_token(token: &str) -> TokenHash {
    TokenHash(hex::encode(Sha256::digest(token.as_bytes())))
}

/// A fresh opaque token: 32 random bytes, hex encoded.
#[must_use]
pub fn generate_secret() -> String {
    let mut bytes = [0_u8; 32];
    crate::random::fill(&mut bytes);
    hex::encode(bytes)
}

/// Resolves the caller (docs/api.md §2.1): a present `IM-API-KEY` decides alone; otherwise the
/// client key, then the token.
///
/// # Errors
/// `InvalidApiKey`, `InvalidClientKey` or `InvalidToken` as the contract orders them; a
/// storage failure while looking the token up.
pub fn authenticate(
    credentials: &Credentials,
    keys: &DeploymentKeys,
    clients: &dyn ClientStore,
    now: DateTime<Utc>,
) -> Result<Actor, DomainError> {
    if let Some(api_key) = &credentials.api_key {
        return if secrets_match(api_key.expose_secret(), keys.api_key.expose_secret()) {
            Ok(Actor::Platform)
        } else {
            Err(DomainError::InvalidApiKey)
        };
    }
    match &credentials.client_key {
        Some(key) if secrets_match(key.expose_secret(), keys.client_key.expose_secret()) => {}
        _ => return Err(DomainError::InvalidClientKey),
    }
    let token = credentials
        .token
        .as_ref()
        .map(ExposeSecret::expose_secret)
        .filter(|t| !t.is_empty())
        .ok_or(DomainError::InvalidToken)?;
    let record = clients
        .find_token(&hash_token(token))?
        .ok_or(DomainError::InvalidToken)?;
    if !record.is_valid_at(now) {
        return Err(DomainError::InvalidToken);
    }
    Ok(Actor::Client {
        id: record.client_id,
        is_platform_admin: record.is_platform_admin,
    })
}

/// Of the tokens that open sessions (sockets) authenticated with, those that no longer
/// authenticate at `now`: revoked, superseded by a newer token, expired, or gone. Such
/// sessions must end.
///
/// # Errors
/// A storage failure.
pub fn lapsed_tokens(
    clients: &dyn ClientStore,
    hashes: &[TokenHash],
    now: DateTime<Utc>,
) -> Result<Vec<TokenHash>, DomainError> {
    let found = clients.find_tokens(hashes)?;
    Ok(hashes
        .iter()
        .filter(|hash| {
            !found
                .iter()
                .any(|(h, record)| h == *hash && record.is_valid_at(now))
        })
        .cloned()
        .collect())
}

/// For `/admin/*`, `POST /rooms` and `POST /messages`: only the API key is accepted.
///
/// # Errors
/// [`DomainError::InvalidApiKey`] when `IM-API-KEY` is missing or wrong.
pub fn require_api_key(
    credentials: &Credentials,
    keys: &DeploymentKeys,
) -> Result<Actor, DomainError> {
    match &credentials.api_key {
        Some(key) if secrets_match(key.expose_secret(), keys.api_key.expose_secret()) => {
            Ok(Actor::Platform)
        }
        _ => Err(DomainError::InvalidApiKey),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ClientId;
    use crate::model::TokenRecord;
    use crate::ports::MockClientStore;
    use chrono::Duration;

    fn keys() -> DeploymentKeys {
        DeploymentKeys {
            api_key: "api".into(),
            client_key: "ck".into(),
        }
    }

    fn creds(api: Option<&str>, ck: Option<&str>, token: Option<&str>) -> Credentials {
        Credentials {
            api_key: api.map(Into::into),
            client_key: ck.map(Into::into),
            token: token.map(Into::into),
        }
    }

    fn store(record: Option<TokenRecord>) -> MockClientStore {
        let mut store = MockClientStore::new();
        store
            .expect_find_token()
            .withf(|hash| *hash == hash_token("tok"))
            .returning(move |_| Ok(record.clone()));
        store
    }

    fn record(expires_in: Duration, revoked: bool) -> TokenRecord {
        TokenRecord {
            client_id: ClientId::from_trusted("alice".to_owned()),
            is_platform_admin: false,
            expires_at: Utc::now() + expires_in,
            revoked,
        }
    }

    #[test]
    fn a_present_api_key_decides_alone() {
        let none = MockClientStore::new();
        let now = Utc::now();
        assert_eq!(
            authenticate(&creds(Some("api"), None, None), &keys(), &none, now).ok(),
            Some(Actor::Platform)
        );
        assert!(matches!(
            authenticate(
                &creds(Some("bad"), Some("ck"), Some("tok")),
                &keys(),
                &none,
                now
            ),
            Err(DomainError::InvalidApiKey)
        ));
    }

    #[test]
    fn client_key_is_checked_before_the_token() {
        let none = MockClientStore::new();
        for ck in [None, Some("wrong")] {
            assert!(matches!(
                authenticate(&creds(None, ck, Some("tok")), &keys(), &none, Utc::now()),
                Err(DomainError::InvalidClientKey)
            ));
        }
        assert!(matches!(
            authenticate(&creds(None, Some("ck"), None), &keys(), &none, Utc::now()),
            Err(DomainError::InvalidToken)
        ));
    }

    #[test]
    fn unknown_expired_and_revoked_tokens_are_invalid() {
        let c = creds(None, Some("ck"), Some("tok"));
        for rec in [
            None,
            Some(record(Duration::seconds(-1), false)),
            Some(record(Duration::days(1), true)),
        ] {
            assert!(matches!(
                authenticate(&c, &keys(), &store(rec), Utc::now()),
                Err(DomainError::InvalidToken)
            ));
        }
        let actor = authenticate(
            &c,
            &keys(),
            &store(Some(record(Duration::days(1), false))),
            Utc::now(),
        );
        assert_eq!(
            actor.ok().and_then(|a| a.client_id().cloned()),
            Some(ClientId::from_trusted("alice".to_owned()))
        );
    }

    #[test]
    fn admin_only_endpoints_ignore_user_credentials() {
        assert!(matches!(
            require_api_key(&creds(None, Some("ck"), Some("tok")), &keys()),
            Err(DomainError::InvalidApiKey)
        ));
        assert!(require_api_key(&creds(Some("api"), None, None), &keys()).is_ok());
    }

    #[test]
    fn secrets_compare_exactly() {
        assert!(secrets_match("abc", "abc"));
        assert!(!secrets_match("abc", "abd"));
        assert!(!secrets_match("ab", "abc"));
        assert_eq!(hash_token("x").0.len(), 64);
        assert_ne!(generate_secret(), generate_secret());
    }

    #[test]
    fn lapsed_tokens_are_the_unknown_revoked_and_expired_ones() {
        let now = Utc::now();
        let hashes: Vec<TokenHash> = ["live", "revoked", "expired", "gone"]
            .into_iter()
            .map(hash_token)
            .collect();
        let mut store = MockClientStore::new();
        store.expect_find_tokens().times(1).returning(|_| {
            Ok(vec![
                (hash_token("expired"), record(Duration::seconds(-1), false)),
                (hash_token("live"), record(Duration::days(1), false)),
                (hash_token("revoked"), record(Duration::days(1), true)),
            ])
        });
        let lapsed = lapsed_tokens(&store, &hashes, now).expect("checked");
        assert_eq!(lapsed, hashes[1..].to_vec());
    }
}
