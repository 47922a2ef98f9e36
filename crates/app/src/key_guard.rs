//! Limits key guessing: wrong `IM-API-KEY` and `IM-CLIENT-KEY` values per source address.
//!
//! Each source address (an IPv6 address by its /64, the block one host is usually given)
//! has a budget of [`BURST`] wrong keys, refilled by one every [`REFILL`]. While the budget
//! is spent, requests from that address that carry either key header are answered `429
//! TOO_MANY_REQUESTS` with `Retry-After`, **without checking the key** (checking would tell
//! a right guess from a wrong one). Requests with only a token, and every other address, are
//! not affected; an address that sends right keys never spends its budget, and nothing is
//! slowed: refused requests are answered at once. Both are counted in `/metrics`
//! (`roomwarden_credential_failures_total`, `roomwarden_credential_refusals_total`).
//!
//! Addresses are taken from the connection (a proxy in front makes all callers one address:
//! see docs/operations.md). At most [`MAX_TRACKED`] addresses are remembered; when full,
//! those whose budget has refilled are forgotten first, then the one with the most left.

use crate::auth::{API_KEY, CLIENT_KEY};
use crate::envelope::ApiError;
use crate::metrics::Credential;
use crate::state::AppState;
use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError, web};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Wrong keys an address may send in a burst.
pub const BURST: u32 = 20;
/// One more wrong key is allowed per this much time (60 a minute, sustained).
pub const REFILL: Duration = Duration::from_secs(1);
/// Most addresses remembered at once.
pub const MAX_TRACKED: usize = 10_000;

/// One address's budget: how many wrong keys it may still send, as of `at`.
#[derive(Debug, Clone, Copy)]
struct Budget {
    left: f64,
    at: Instant,
}

impl Budget {
    fn full(now: Instant) -> Self {
        Self {
            left: f64::from(BURST),
            at: now,
        }
    }

    /// The budget refilled up to `now`.
    fn at(self, now: Instant) -> Self {
        let refilled = now.saturating_duration_since(self.at).as_secs_f64() / REFILL.as_secs_f64();
        Self {
            left: (self.left + refilled).min(f64::from(BURST)),
            at: now,
        }
    }
}

/// The wrong keys of recent source addresses (see the module documentation).
#[derive(Debug, Default)]
pub struct KeyGuard {
    budgets: Mutex<HashMap<IpAddr, Budget>>,
}

/// The address whose budget a request spends: IPv4 (also when mapped into IPv6) as it is,
/// IPv6 by its /64.
fn source(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

impl KeyGuard {
    /// When `ip` has no budget left at `now`: the seconds until one wrong key is allowed again.
    pub fn refused(&self, ip: IpAddr, now: Instant) -> Option<u64> {
        let budgets = self
            .budgets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let left = budgets.get(&source(ip))?.at(now).left;
        (left < 1.0).then(|| {
            let wait = Duration::from_secs_f64((1.0 - left) * REFILL.as_secs_f64());
            // Whole seconds, rounded up, at least 1.
            (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
        })
    }

    /// Spends one of `ip`'s budget for a wrong key at `now`.
    pub fn failed(&self, ip: IpAddr, now: Instant) {
        let mut budgets = self
            .budgets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = source(ip);
        if !budgets.contains_key(&key) && budgets.len() >= MAX_TRACKED {
            budgets.retain(|_, b| b.at(now).left < f64::from(BURST));
            // Then the address with the most budget left: it is the least suspect.
            if budgets.len() >= MAX_TRACKED
                && let Some(freest) = budgets
                    .iter()
                    .max_by(|(_, a), (_, b)| a.at(now).left.total_cmp(&b.at(now).left))
                    .map(|(k, _)| *k)
            {
                budgets.remove(&freest);
            }
        }
        let budget = budgets.entry(key).or_insert_with(|| Budget::full(now));
        let mut spent = budget.at(now);
        spent.left = (spent.left - 1.0).max(0.0);
        *budget = spent;
    }

    /// How many addresses are remembered.
    pub fn tracked(&self) -> usize {
        self.budgets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }
}

/// The middleware, on every route that authenticates (`routes::configure`): refuses keyed
/// requests from an address out of budget, and spends the budget of each request answered
/// `INVALID_API_KEY` or `INVALID_CLIENT_KEY` for a key it sent. Off when the server was
/// started with `ROOMWARDEN_KEY_GUARD=off`.
///
/// # Errors
/// Only the wrapped service's own errors.
pub async fn guard(
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let sent = |name| req.headers().contains_key(name);
    let (api_key, client_key) = (sent(API_KEY), sent(CLIENT_KEY));
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let (Some(state), Some(ip)) = (state, req.peer_addr().map(|a| a.ip())) else {
        return next.call(req).await;
    };
    let Some(keys) = state.key_guard.clone() else {
        return next.call(req).await;
    };
    if !api_key && !client_key {
        return next.call(req).await;
    }
    let metrics = &state.metrics;
    if let Some(retry_after) = keys.refused(ip, Instant::now()) {
        metrics.credential_refused();
        let err = ApiError::too_many_requests(
            "Too many wrong keys from this address; retry after the time in Retry-After",
            retry_after,
        );
        return Ok(req.into_response(err.error_response()));
    }
    let res = next.call(req).await?;
    let wrong = res.response().extensions().get::<Credential>().copied();
    if let Some(credential) = wrong {
        let was_sent = match credential {
            Credential::ApiKey => api_key,
            Credential::ClientKey => client_key,
        };
        if was_sent {
            metrics.credential_failed(credential);
            keys.failed(ip, Instant::now());
        }
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    #[test]
    fn a_burst_of_wrong_keys_is_allowed_then_one_per_refill() {
        let guard = KeyGuard::default();
        let t0 = Instant::now();
        for _ in 0..BURST {
            assert_eq!(guard.refused(ip("192.0.2.7"), t0), None);
            guard.failed(ip("192.0.2.7"), t0);
        }
        assert_eq!(guard.refused(ip("192.0.2.7"), t0), Some(1));
        assert_eq!(guard.refused(ip("192.0.2.8"), t0), None, "per address");
        assert_eq!(
            guard.refused(ip("192.0.2.7"), t0 + REFILL),
            None,
            "refilled"
        );
        guard.failed(ip("192.0.2.7"), t0 + REFILL);
        assert!(guard.refused(ip("192.0.2.7"), t0 + REFILL).is_some());
    }

    #[test]
    fn an_ipv6_host_is_its_64_and_a_mapped_ipv4_its_address() {
        let guard = KeyGuard::default();
        let t0 = Instant::now();
        for i in 0..BURST {
            guard.failed(ip(&format!("2001:db8:1:2::{i:x}")), t0);
        }
        assert!(guard.refused(ip("2001:db8:1:2:ffff::1"), t0).is_some());
        assert_eq!(guard.refused(ip("2001:db8:1:3::1"), t0), None);
        for _ in 0..BURST {
            guard.failed(ip("::ffff:198.51.100.1"), t0);
        }
        assert!(guard.refused(ip("198.51.100.1"), t0).is_some());
    }

    #[test]
    fn memory_is_bounded_and_spent_addresses_are_kept_longest() {
        let guard = KeyGuard::default();
        let t0 = Instant::now();
        for _ in 0..BURST {
            guard.failed(ip("203.0.113.9"), t0);
        }
        for i in 0..(MAX_TRACKED + 50) {
            let [a, b] = u16::try_from(i).expect("small").to_be_bytes();
            guard.failed(IpAddr::from([10, 1, a, b]), t0 + Duration::from_millis(1));
        }
        assert!(guard.tracked() <= MAX_TRACKED);
        assert!(guard.refused(ip("203.0.113.9"), t0).is_some());
    }
}
