//! Claiming, finishing and sweeping idempotency keys over [`IdempotencyStore`]; the rules
//! and the values they use are in [`crate::idempotency`].

use crate::actor::Actor;
use crate::error::DomainError;
use crate::idempotency::{
    ClaimId, ClaimOutcome, Completion, Fingerprint, IdempotencyKey, KEYS_PER_CLIENT, KeyClaim,
    KeyOwner, LEASE, MAX_STORED_ANSWER_BYTES, RETENTION, StoredResponse, Ticket,
};
use crate::ports::IdempotencyStore;
use crate::usecases::Ports;
use chrono::{DateTime, Utc};

/// What a request with a key does, once [`begin`] has claimed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// Run the request, then [`finish`] with this ticket.
    Run(Ticket),
    /// Answer with the stored response; change nothing.
    Replay(StoredResponse),
}

/// Claims `key` for `actor`'s request `fingerprint`, now.
///
/// # Errors
/// [`DomainError::IdempotencyKeyReused`] when the key was used with another request (also
/// while that one runs), [`DomainError::IdempotencyKeyInUse`] while the same request runs,
/// [`DomainError::TooManyRequests`] for a new key of a client holding
/// [`KEYS_PER_CLIENT`] already, a storage failure.
pub fn begin(
    ports: &Ports<'_>,
    actor: &Actor,
    key: IdempotencyKey,
    fingerprint: Fingerprint,
) -> Result<Begin, DomainError> {
    let now = ports.clock.now();
    let ticket = Ticket {
        owner: KeyOwner::of(actor),
        key,
        claim: ClaimId::generate(),
    };
    let claim = KeyClaim {
        ticket,
        fingerprint,
        now,
        lease_until: now + LEASE,
        expires_at: now + RETENTION,
        limit: actor.client_id().map(|_| KEYS_PER_CLIENT),
    };
    match ports.idempotency.claim_key(&claim)? {
        ClaimOutcome::Started => Ok(Begin::Run(claim.ticket)),
        ClaimOutcome::Replay(stored) => Ok(Begin::Replay(stored)),
        ClaimOutcome::InFlight => Err(DomainError::IdempotencyKeyInUse),
        ClaimOutcome::Mismatch => Err(DomainError::IdempotencyKeyReused),
        ClaimOutcome::Full(frees_at) => Err(DomainError::TooManyRequests {
            retry_after_secs: u64::try_from((frees_at - now).num_seconds())
                .unwrap_or(0)
                .max(1),
        }),
    }
}

/// Ends the claim of `ticket` with its answer, finished now: a 5xx answer, or one over
/// [`MAX_STORED_ANSWER_BYTES`], releases the key (a retry runs again); any other is stored
/// for [`RETENTION`]. Returns whether the
/// ticket still held the key (`false`: its lease lapsed and another request took it over,
/// so nothing was stored).
///
/// # Errors
/// A storage failure.
pub fn finish(
    ports: &Ports<'_>,
    ticket: &Ticket,
    completion: &Completion,
) -> Result<bool, DomainError> {
    let store = ports.idempotency;
    if completion.response.status >= 500 || completion.response.body.len() > MAX_STORED_ANSWER_BYTES
    {
        return Ok(store.release_key(ticket)?);
    }
    Ok(store.complete_key(ticket, completion, ports.clock.now() + RETENTION)?)
}

/// Releases the claim of `ticket` without an answer (the request failed or panicked), so
/// that the next request with the key runs.
///
/// # Errors
/// A storage failure.
pub fn release(ports: &Ports<'_>, ticket: &Ticket) -> Result<bool, DomainError> {
    Ok(ports.idempotency.release_key(ticket)?)
}

/// Removes up to about `batch` records expired at `now`; returns how many went. The key
/// sweeper's job, so it takes its one port and the time of its run.
///
/// # Errors
/// A storage failure.
pub fn sweep(
    store: &dyn IdempotencyStore,
    now: DateTime<Utc>,
    batch: u32,
) -> Result<u64, DomainError> {
    Ok(store.remove_expired_keys(now, batch)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idempotency::PLATFORM_OWNER;
    use crate::ids::ClientId;
    use crate::ports::MockIdempotencyStore;
    use crate::usecases::Mocks;
    use chrono::TimeDelta;

    fn with(idempotency: MockIdempotencyStore) -> Mocks {
        Mocks {
            idempotency,
            ..Mocks::default()
        }
    }

    /// Whether `t` is within a minute after `since`: the clock's time, read inside.
    fn about(t: DateTime<Utc>, since: DateTime<Utc>) -> bool {
        t >= since && t - since < TimeDelta::minutes(1)
    }

    fn answer(status: u16) -> Completion {
        Completion {
            response: StoredResponse {
                status,
                content_type: "application/json".to_owned(),
                body: b"{}".to_vec(),
            },
            embeds: None,
        }
    }

    #[test]
    fn a_claim_is_leased_and_kept_for_a_day() {
        let now = Utc::now();
        let mut store = MockIdempotencyStore::new();
        store
            .expect_claim_key()
            .withf(move |c| {
                about(c.now, now)
                    && c.lease_until == c.now + LEASE
                    && c.expires_at == c.now + RETENTION
                    && c.ticket.owner.as_str() == PLATFORM_OWNER
                    && c.limit.is_none()
            })
            .times(1)
            .returning(|_| Ok(ClaimOutcome::Started));
        let key = IdempotencyKey::parse(b"k").expect("valid");
        let fp = Fingerprint::of("DELETE", "/x", "", b"");
        assert!(matches!(
            begin(&with(store).ports(), &Actor::Platform, key, fp),
            Ok(Begin::Run(_))
        ));
    }

    #[test]
    fn a_client_is_capped_and_told_when_its_oldest_key_frees() {
        let mut store = MockIdempotencyStore::new();
        store
            .expect_claim_key()
            .withf(|c| c.limit == Some(KEYS_PER_CLIENT))
            .return_once(move |c| Ok(ClaimOutcome::Full(c.now + TimeDelta::seconds(90))));
        let alice = Actor::Client {
            id: ClientId::parse("alice").expect("valid"),
            is_platform_admin: false,
        };
        let key = IdempotencyKey::parse(b"k").expect("valid");
        let fp = Fingerprint::of("DELETE", "/x", "", b"");
        let err = begin(&with(store).ports(), &alice, key, fp).expect_err("refused");
        assert!(
            matches!(
                err,
                DomainError::TooManyRequests {
                    retry_after_secs: 90
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn in_flight_and_mismatch_are_errors() {
        for (outcome, code) in [
            (ClaimOutcome::InFlight, "in use"),
            (ClaimOutcome::Mismatch, "reused"),
        ] {
            let mut store = MockIdempotencyStore::new();
            store.expect_claim_key().return_once(move |_| Ok(outcome));
            let key = IdempotencyKey::parse(b"k").expect("valid");
            let fp = Fingerprint::of("DELETE", "/x", "", b"");
            let err = begin(&with(store).ports(), &Actor::Platform, key, fp).expect_err("refused");
            let matched = match err {
                DomainError::IdempotencyKeyInUse => "in use",
                DomainError::IdempotencyKeyReused => "reused",
                _ => "other",
            };
            assert_eq!(matched, code);
        }
    }

    #[test]
    fn server_errors_release_the_key_and_others_are_stored_for_a_day() {
        let now = Utc::now();
        let ticket = Ticket {
            owner: KeyOwner::of(&Actor::Platform),
            key: IdempotencyKey::parse(b"k").expect("valid"),
            claim: ClaimId::generate(),
        };
        let mut store = MockIdempotencyStore::new();
        store.expect_release_key().times(2).returning(|_| Ok(true));
        store
            .expect_complete_key()
            .withf(move |_, _, expires| about(*expires, now + RETENTION))
            .times(3)
            .returning(|_, _, _| Ok(true));
        let mocks = with(store);
        for status in [500, 503] {
            assert!(finish(&mocks.ports(), &ticket, &answer(status)).expect("ran"));
        }
        for status in [200, 404, 409] {
            assert!(finish(&mocks.ports(), &ticket, &answer(status)).expect("ran"));
        }
    }

    #[test]
    fn answers_over_the_cap_release_the_key() {
        let ticket = Ticket {
            owner: KeyOwner::of(&Actor::Platform),
            key: IdempotencyKey::parse(b"k").expect("valid"),
            claim: ClaimId::generate(),
        };
        let mut store = MockIdempotencyStore::new();
        store.expect_release_key().times(1).returning(|_| Ok(true));
        store
            .expect_complete_key()
            .times(1)
            .returning(|_, _, _| Ok(true));
        let mocks = with(store);
        let mut big = answer(200);
        big.response.body = vec![b' '; MAX_STORED_ANSWER_BYTES + 1];
        assert!(finish(&mocks.ports(), &ticket, &big).expect("released"));
        big.response.body.pop();
        assert!(finish(&mocks.ports(), &ticket, &big).expect("stored"));
    }
}
