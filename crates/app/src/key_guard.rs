//! Limits key guessing: wrong `IM-API-KEY` and `IM-CLIENT-KEY` values per source address.
//!
//! Each source address (an IPv6 address by its /64, the block one host is usually given)
//! has a budget of [`BURST`] wrong keys, refilled by one every [`REFILL`]. Each request (and
//! each socket's first frame) that presents a key has it compared as it arrives, and a wrong
//! one spends the budget at once. While the budget is spent, requests and sockets from that
//! address that present either key are refused (`429 TOO_MANY_REQUESTS` with `Retry-After`;
//! a socket is closed with 1008) **without checking the key** (checking would tell a right
//! guess from a wrong one). Other addresses are not affected; an address that sends right
//! keys never spends its budget, and nothing is slowed: refused requests are answered at
//! once. Both are counted in `/metrics` (`roomwarden_credential_failures_total`,
//! `roomwarden_credential_refusals_total`).
//!
//! Addresses are taken from the connection (a proxy in front makes all callers one address:
//! see docs/operations.md). At most [`MAX_TRACKED`] addresses are remembered; when full,
//! those whose budget has refilled are forgotten first, then the one with the most left.

use crate::metrics::Credential;
use roomwarden_domain::auth::{DeploymentKeys, secrets_match};
use secrecy::ExposeSecret;
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
        (left < 1.0).then(|| refill_wait(left))
    }

    /// Spends one of `ip`'s budget for a wrong key at `now`.
    pub fn failed(&self, ip: IpAddr, now: Instant) {
        let mut budgets = self
            .budgets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        spend(&mut budgets, source(ip), now);
    }

    /// Admits a request from `ip` that presents `api_key` and/or `client_key`: refused (the
    /// seconds to wait) when the address has no budget left, without looking at the keys;
    /// else each presented key is compared with the deployment's (in constant time), and each
    /// wrong one spends the budget at once, before the request goes on (so requests in flight
    /// together cannot pass the check on the same unit). Returns the wrong ones.
    ///
    /// # Errors
    /// The seconds until the address may send a key again.
    pub fn admit(
        &self,
        ip: IpAddr,
        presented: [(Credential, Option<&str>); 2],
        keys: &DeploymentKeys,
        now: Instant,
    ) -> Result<Vec<Credential>, u64> {
        let mut budgets = self
            .budgets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = source(ip);
        if let Some(budget) = budgets.get(&key) {
            let left = budget.at(now).left;
            if left < 1.0 {
                return Err(refill_wait(left));
            }
        }
        let wrong: Vec<Credential> = presented
            .into_iter()
            .filter_map(|(credential, given)| {
                let expected = match credential {
                    Credential::ApiKey => &keys.api_key,
                    Credential::ClientKey => &keys.client_key,
                };
                given
                    .filter(|given| !secrets_match(given, expected.expose_secret()))
                    .map(|_| credential)
            })
            .collect();
        for _ in &wrong {
            spend(&mut budgets, key, now);
        }
        Ok(wrong)
    }

    /// How many addresses are remembered.
    pub fn tracked(&self) -> usize {
        self.budgets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }
}

/// Whole seconds, rounded up and at least 1, until a budget with `left` holds one unit.
fn refill_wait(left: f64) -> u64 {
    let wait = Duration::from_secs_f64((1.0 - left).max(0.0) * REFILL.as_secs_f64());
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// Spends one unit of `key`'s budget, making room first when [`MAX_TRACKED`] addresses are
/// remembered: those whose budget has refilled go, then the tenth with the most budget left
/// (the least suspect), so that eviction is rare work, not work per wrong key.
fn spend(budgets: &mut HashMap<IpAddr, Budget>, key: IpAddr, now: Instant) {
    if !budgets.contains_key(&key) && budgets.len() >= MAX_TRACKED {
        budgets.retain(|_, b| b.at(now).left < f64::from(BURST));
        if budgets.len() >= MAX_TRACKED {
            let mut by_left: Vec<(IpAddr, f64)> =
                budgets.iter().map(|(k, b)| (*k, b.at(now).left)).collect();
            by_left.sort_by(|a, b| b.1.total_cmp(&a.1));
            for (freest, _) in by_left.into_iter().take(MAX_TRACKED / 10) {
                budgets.remove(&freest);
            }
        }
    }
    let budget = budgets.entry(key).or_insert_with(|| Budget::full(now));
    let mut spent = budget.at(now);
    spent.left = (spent.left - 1.0).max(0.0);
    *budget = spent;
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
    fn admission_checks_keys_as_they_come_and_spends_at_once() {
        let guard = KeyGuard::default();
        let keys = DeploymentKeys {
            api_key: "api-key-0123456789abcdef0123456789".to_owned().into(),
            client_key: "client-key-0123456789abcdef01234567".to_owned().into(),
        };
        let t0 = Instant::now();
        let at = ip("192.0.2.9");
        let right = [
            (
                Credential::ApiKey,
                Some("api-key-0123456789abcdef0123456789"),
            ),
            (Credential::ClientKey, None),
        ];
        let wrong = [
            (Credential::ApiKey, None),
            (Credential::ClientKey, Some("guess")),
        ];
        for _ in 0..50 {
            assert_eq!(guard.admit(at, right, &keys, t0), Ok(Vec::new()));
        }
        for _ in 0..BURST {
            assert_eq!(
                guard.admit(at, wrong, &keys, t0),
                Ok(vec![Credential::ClientKey])
            );
        }
        assert_eq!(guard.admit(at, wrong, &keys, t0), Err(1));
        assert_eq!(guard.admit(at, right, &keys, t0), Err(1), "unchecked");
        assert_eq!(guard.admit(at, right, &keys, t0 + REFILL), Ok(Vec::new()));
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
