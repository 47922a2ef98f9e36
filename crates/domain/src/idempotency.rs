//! Idempotency keys (docs/api.md §11): a retried `POST`, `PUT` or `DELETE` that carries the
//! same `Idempotency-Key` gets the first answer again instead of running again.
//!
//! The rules, independent of HTTP:
//!
//! - Keys belong to a caller ([`KeyOwner`]): two callers use the same key independently.
//! - A key is first claimed ([`crate::usecases::idempotency::begin`]) with the request's [`Fingerprint`]; the claim is
//!   *in flight* until [`crate::usecases::idempotency::finish`] stores the answer or releases the key. An in-flight claim
//!   holds a lease of [`LEASE`]: when its process died before finishing, the next request
//!   with the key takes it over once the lease has lapsed, so a key is never blocked forever.
//! - A stored answer is kept for [`RETENTION`] after it was stored; later the key is new
//!   again, and [`crate::usecases::idempotency::sweep`] removes such records.
//! - Answers with a 5xx status are not stored: the key is released, so a retry runs again.
//!   So are answers over [`MAX_STORED_ANSWER_BYTES`]: storage stays bounded.
//! - A client (a token's caller) holds at most [`KEYS_PER_CLIENT`] unexpired keys at once;
//!   a claim of a new key beyond that is refused ([`DomainError::TooManyRequests`], until
//!   the client's oldest record expires). The API key's caller is the platform's own
//!   backend and has no such cap.
//! - A stored answer never keeps the content of a deleted message: an answer that embeds a
//!   message ([`EmbeddedMessage`]) is stored with a redacted copy, which replaces it when
//!   the message is deleted (see [`crate::ports::IdempotencyStore`]).
//!
//! ```
//! use roomwarden_domain::actor::Actor;
//! use roomwarden_domain::idempotency::{Completion, Fingerprint, IdempotencyKey, StoredResponse};
//! use roomwarden_domain::usecases::Ports;
//! use roomwarden_domain::usecases::idempotency::{self, Begin};
//! use roomwarden_domain::memory::{AcceptAnyWebhook, MemoryStore};
//!
//! let store = MemoryStore::new();
//! let clock = store.clock();
//! let ports = Ports::of(&store, &AcceptAnyWebhook, clock.as_ref());
//! let key = IdempotencyKey::parse(b"retry-7f3a")?;
//! let request = Fingerprint::of("DELETE", "/rooms/r/messages/_all", "", b"");
//! let Begin::Run(ticket) = idempotency::begin(&ports, &Actor::Platform, key.clone(), request.clone())? else {
//!     unreachable!("a new key runs")
//! };
//! let answer = StoredResponse { status: 200, content_type: "application/json".into(), body: b"{}".to_vec() };
//! idempotency::finish(&ports, &ticket, &Completion { response: answer.clone(), embeds: None })?;
//! // The retry is answered from the store.
//! let again = idempotency::begin(&ports, &Actor::Platform, key, request)?;
//! assert_eq!(again, Begin::Replay(answer));
//! # Ok::<(), roomwarden_domain::error::DomainError>(())
//! ```

use crate::actor::Actor;
use crate::error::DomainError;
use crate::ids::{MessageId, RoomId};
use chrono::{DateTime, TimeDelta, Utc};
use sha2::{Digest, Sha256};

/// Longest key, in characters (bytes: keys are ASCII).
pub const MAX_KEY_CHARS: usize = 255;

/// How long a stored answer is replayed.
pub const RETENTION: TimeDelta = TimeDelta::hours(24);

/// How long an in-flight claim blocks its key without finishing. A request holds its claim
/// for at most the use case's deadline plus one storage round trip (seconds); a claim older
/// than this belongs to a process that died, and the next request takes the key over.
pub const LEASE: TimeDelta = TimeDelta::seconds(60);

/// Largest answer body stored under a key (128 KiB: a sent message of the largest content
/// with its envelope fits). A larger answer is sent but not stored, and the key released.
pub const MAX_STORED_ANSWER_BYTES: usize = 128 * 1024;

/// Most unexpired keys (stored or in flight) one client holds at once.
pub const KEYS_PER_CLIENT: u32 = 1_000;

/// The stored name of the API key's caller. No client ID contains `/`, so it can never be
/// a client's name (a client may be called `_platform`).
pub const PLATFORM_OWNER: &str = "/platform";

/// An `Idempotency-Key` value: 1 to 255 visible ASCII characters (0x21 to 0x7E).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Validates a raw header value.
    ///
    /// # Errors
    /// [`DomainError::InvalidParameter`] unless it is 1 to 255 bytes, each 0x21 to 0x7E.
    pub fn parse(raw: &[u8]) -> Result<Self, DomainError> {
        let visible = |b: &u8| (0x21..=0x7E).contains(b);
        if raw.is_empty() || raw.len() > MAX_KEY_CHARS || !raw.iter().all(visible) {
            return Err(DomainError::InvalidParameter(format!(
                "Idempotency-Key must be 1 to {MAX_KEY_CHARS} visible ASCII characters"
            )));
        }
        Ok(Self(raw.iter().map(|b| char::from(*b)).collect()))
    }

    /// Wraps a value read back from trusted storage without re-validating it.
    #[must_use]
    pub fn from_trusted(raw: String) -> Self {
        Self(raw)
    }

    /// The key.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whose key it is: the client ID of a user, or [`PLATFORM_OWNER`] for the API key. A user
/// flagged `isPlatformAdmin` is still its own client.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyOwner(String);

impl KeyOwner {
    /// The owner of the keys `actor` sends.
    #[must_use]
    pub fn of(actor: &Actor) -> Self {
        Self(
            actor
                .client_id()
                .map_or(PLATFORM_OWNER, |id| id.as_str())
                .to_owned(),
        )
    }

    /// Wraps a value read back from trusted storage.
    #[must_use]
    pub fn from_trusted(raw: String) -> Self {
        Self(raw)
    }

    /// The stored name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What makes two requests "the same": a SHA-256 over the method, the path and the query
/// string as sent (byte for byte) and the body, as 64 lowercase hex characters. Headers are
/// not part of it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// The fingerprint of one request. Each part is length-prefixed, so no two different
    /// requests share their input.
    #[must_use]
    pub fn of(method: &str, path: &str, query: &str, body: &[u8]) -> Self {
        let mut hash = Sha256::new();
        for part in [method.as_bytes(), path.as_bytes(), query.as_bytes(), body] {
            hash.update(u64::try_from(part.len()).unwrap_or(u64::MAX).to_be_bytes());
            hash.update(part);
        }
        Self(hex::encode(hash.finalize()))
    }

    /// Wraps a value read back from trusted storage.
    #[must_use]
    pub fn from_trusted(raw: String) -> Self {
        Self(raw)
    }

    /// The hex digest.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Names one claim of a key (random, 32 hex characters), so that only the request holding
/// the claim stores or releases it, and one whose lease lapsed cannot overwrite the request
/// that took the key over.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClaimId(String);

impl ClaimId {
    /// A fresh random claim ID.
    #[must_use]
    pub fn generate() -> Self {
        let mut bytes = [0_u8; 16];
        crate::random::fill(&mut bytes);
        Self(hex::encode(bytes))
    }

    /// Wraps a value read back from trusted storage.
    #[must_use]
    pub fn from_trusted(raw: String) -> Self {
        Self(raw)
    }

    /// The ID.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A stored answer: status, content type and body bytes (no other header is kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// HTTP status, never 5xx.
    pub status: u16,
    /// `Content-Type` of the body.
    pub content_type: String,
    /// The body as sent.
    pub body: Vec<u8>,
}

/// A message whose content an answer embeds (a sent message, a room's `lastMessage`), with
/// the answer's body without that content. Once the message is deleted, only the redacted
/// body may be stored or replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedMessage {
    /// The message's room.
    pub room: RoomId,
    /// The message.
    pub message: MessageId,
    /// The answer's body with the message's content removed.
    pub redacted_body: Vec<u8>,
}

/// What [`crate::usecases::idempotency::finish`] stores for a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The answer.
    pub response: StoredResponse,
    /// The message the answer embeds, if any.
    pub embeds: Option<EmbeddedMessage>,
}

/// The claim a request holds on its key while it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// Whose key.
    pub owner: KeyOwner,
    /// The key.
    pub key: IdempotencyKey,
    /// This claim.
    pub claim: ClaimId,
}

/// A request to claim a key, as [`crate::ports::IdempotencyStore::claim_key`] receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyClaim {
    /// Owner, key and the new claim's ID.
    pub ticket: Ticket,
    /// The request.
    pub fingerprint: Fingerprint,
    /// The time of the claim: records expired or with a lapsed lease at this time are stale.
    pub now: DateTime<Utc>,
    /// When the new claim's lease lapses.
    pub lease_until: DateTime<Utc>,
    /// When the new record expires if it is never finished.
    pub expires_at: DateTime<Utc>,
    /// Most unexpired records the owner may hold, counting the new one; `None`: no cap.
    pub limit: Option<u32>,
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The key was free (new, expired, or left by a lapsed lease): the request runs.
    Started,
    /// The same request holds the key and is still running.
    InFlight,
    /// The key was used with another request.
    Mismatch,
    /// The same request finished before: its stored answer.
    Replay(StoredResponse),
    /// The key is new but its owner holds [`KeyClaim::limit`] records already; the oldest
    /// expires at this time.
    Full(DateTime<Utc>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ClientId;

    #[test]
    fn keys_are_1_to_255_visible_ascii_characters() {
        for good in [
            &b"a"[..],
            b"!~",
            &[b'x'; 255],
            b"550e8400-e29b-41d4-a716-446655440000",
        ] {
            assert!(IdempotencyKey::parse(good).is_ok(), "{good:?}");
        }
        for bad in [
            &b""[..],
            &[b'x'; 256],
            b"has space",
            b"tab\t",
            b"\x7f",
            "caf\u{e9}".as_bytes(),
        ] {
            assert!(
                matches!(
                    IdempotencyKey::parse(bad),
                    Err(DomainError::InvalidParameter(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn owners_are_the_client_or_a_name_no_client_can_have() {
        let user = |id: &str, admin| Actor::Client {
            id: ClientId::parse(id).expect("valid"),
            is_platform_admin: admin,
        };
        assert_eq!(KeyOwner::of(&Actor::Platform).as_str(), PLATFORM_OWNER);
        assert_eq!(KeyOwner::of(&user("alice", true)).as_str(), "alice");
        assert_ne!(
            KeyOwner::of(&user("_platform", false)),
            KeyOwner::of(&Actor::Platform)
        );
        assert!(ClientId::parse(PLATFORM_OWNER).is_err());
    }

    #[test]
    fn every_part_of_the_request_counts_and_parts_do_not_run_together() {
        let base = Fingerprint::of("POST", "/rooms/r/message", "", b"{}");
        assert_eq!(base, Fingerprint::of("POST", "/rooms/r/message", "", b"{}"));
        assert_eq!(base.as_str().len(), 64);
        for other in [
            Fingerprint::of("PUT", "/rooms/r/message", "", b"{}"),
            Fingerprint::of("POST", "/rooms/s/message", "", b"{}"),
            Fingerprint::of("POST", "/rooms/r/message", "a=1", b"{}"),
            Fingerprint::of("POST", "/rooms/r/message", "", b"{ }"),
        ] {
            assert_ne!(base, other);
        }
        assert_ne!(
            Fingerprint::of("DELETE", "/a", "b", b""),
            Fingerprint::of("DELETE", "/ab", "", b"")
        );
    }
}
