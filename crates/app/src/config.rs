//! Configuration from the environment (docs/api.md §14).

use anyhow::{Context, bail};
use roomwarden_adapters::AddressPolicy;
use roomwarden_domain::events::RetryPolicy;
use roomwarden_domain::model::RetentionDays;
use roomwarden_domain::time::{Clock, SystemClock};
use secrecy::SecretString;
use std::net::ToSocketAddrs;
use std::sync::Arc;

/// Default database: an SQLite file under `./data/`.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/roomwarden.db";
/// How long a new socket has to send its authentication frame.
pub const SOCKET_AUTH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Default listen address.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";

/// Server settings. Secrets (keys, the metrics token, and the database URL, which may hold
/// a password) are `secrecy` types: `Debug` shows none of them.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where the server's time comes from: the system's clock (no variable sets another);
    /// given to the store and the handlers alike. Tests may set another.
    pub clock: Arc<dyn Clock>,
    /// `ROOMWARDEN_BIND`.
    pub bind: String,
    /// `ROOMWARDEN_DATABASE_URL`.
    pub database_url: SecretString,
    /// `ROOMWARDEN_API_KEY`; generated and stored when absent.
    pub api_key: Option<SecretString>,
    /// `ROOMWARDEN_CLIENT_KEY`; generated and stored when absent.
    pub client_key: Option<SecretString>,
    /// `ROOMWARDEN_WEBHOOK_URL`.
    pub webhook_url: Option<String>,
    /// `ROOMWARDEN_WEBHOOK_SECRET`; generated and stored when absent.
    pub webhook_secret: Option<SecretString>,
    /// `ROOMWARDEN_WEBHOOK_ALLOW_PRIVATE`: webhooks may point at loopback, private,
    /// link-local or unspecified addresses (refused by default).
    pub webhook_allow_private: bool,
    /// `ROOMWARDEN_WEBHOOK_CA_FILE`: PEM certificates that `https://` webhook receivers must
    /// chain to, instead of the public (webpki) roots.
    pub webhook_ca_file: Option<std::path::PathBuf>,
    /// `ROOMWARDEN_TOKEN_TTL_DAYS`.
    pub token_ttl_days: i64,
    /// Webhook retry schedule (not an environment variable; tests shorten it).
    pub webhook_retry: RetryPolicy,
    /// How long a socket has to authenticate (not an environment variable; 10 s).
    pub socket_auth_timeout: std::time::Duration,
    /// `ROOMWARDEN_RETENTION_DAYS`: retention of rooms without their own (unset: forever).
    pub retention_days: Option<RetentionDays>,
    /// How often the retention job runs (not an environment variable; 60 s, tests shorten it).
    pub retention_interval: std::time::Duration,
    /// `ROOMWARDEN_METRICS_TOKEN`: when set, `/metrics` needs `Authorization: Bearer <it>`.
    pub metrics_token: Option<SecretString>,
    /// `ROOMWARDEN_KEY_GUARD` (`on`, the default, or `off`): limit wrong keys per source
    /// address (docs/api.md §13.3).
    pub key_guard: bool,
    /// `ROOMWARDEN_DATABASE_SYNC_WAIT` (0 to 15, default 1): on a Galera cluster, the
    /// sessions' `wsrep_sync_wait` (docs/operations.md, "Running on a Galera cluster").
    pub database_sync_wait: u8,
}

/// The URL with any password replaced by `***`, for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

fn secret(name: &str, value: Option<String>) -> anyhow::Result<Option<SecretString>> {
    match value {
        None => Ok(None),
        Some(v) if v.is_empty() || v.chars().any(|c| c.is_whitespace() || c.is_control()) => {
            bail!("{name} must be non-empty and contain no whitespace")
        }
        Some(v) => Ok(Some(v.into())),
    }
}

/// Shortest accepted API key, client key or metrics token.
pub const MIN_SECRET_CHARS: usize = 32;

/// Fewest distinct characters in one of them.
const MIN_DISTINCT_CHARS: usize = 10;

/// [`secret`] for a credential that callers present (API key, client key, metrics token):
/// also at least [`MIN_SECRET_CHARS`] characters with no visibly low entropy (fewer than
/// ten distinct characters, or one short piece repeated), since anyone who can reach the
/// server may guess it.
fn credential(name: &str, value: Option<String>) -> anyhow::Result<Option<SecretString>> {
    if let Some(v) = &value {
        let chars: Vec<char> = v.chars().collect();
        let distinct: std::collections::BTreeSet<&char> = chars.iter().collect();
        let repeats_a_piece = (1..=8)
            .any(|n| chars.len() > n && chars.iter().enumerate().all(|(i, c)| *c == chars[i % n]));
        if chars.len() < MIN_SECRET_CHARS || distinct.len() < MIN_DISTINCT_CHARS || repeats_a_piece
        {
            bail!(
                "{name} must be at least {MIN_SECRET_CHARS} characters of a random value (for example `openssl rand -hex 24`); unset, the API and client keys are generated"
            );
        }
    }
    secret(name, value)
}

impl Config {
    /// Reads the process environment.
    ///
    /// # Errors
    /// A one-line description of the first bad value.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (the environment, or a map in tests).
    ///
    /// # Errors
    /// A one-line description of the first bad value.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let get = |name: &str| lookup(name).filter(|v| !v.is_empty());
        let bind = get("ROOMWARDEN_BIND").unwrap_or_else(|| DEFAULT_BIND.to_owned());
        bind.to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .with_context(|| format!("ROOMWARDEN_BIND must be host:port, got {bind:?}"))?;
        let database_url =
            get("ROOMWARDEN_DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        roomwarden_adapters::Backend::of_url(&database_url).context("ROOMWARDEN_DATABASE_URL")?;
        let webhook_allow_private = match get("ROOMWARDEN_WEBHOOK_ALLOW_PRIVATE").as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                bail!("ROOMWARDEN_WEBHOOK_ALLOW_PRIVATE must be true or false, got {other:?}")
            }
        };
        let webhook_url = get("ROOMWARDEN_WEBHOOK_URL");
        if let Some(url) = &webhook_url {
            let policy = AddressPolicy {
                allow_private: webhook_allow_private,
            };
            roomwarden_domain::usecases::rooms::check_webhook(url, &policy).map_err(|e| {
                anyhow::anyhow!(
                    "ROOMWARDEN_WEBHOOK_URL must be an http:// or https:// URL of a public host \
                     (or set ROOMWARDEN_WEBHOOK_ALLOW_PRIVATE=true): {e}"
                )
            })?;
        }
        let webhook_ca_file = get("ROOMWARDEN_WEBHOOK_CA_FILE").map(std::path::PathBuf::from);
        let token_ttl_days = match get("ROOMWARDEN_TOKEN_TTL_DAYS") {
            None => 7,
            Some(v) => match v.parse::<i64>() {
                Ok(days) if (1..=3650).contains(&days) => days,
                _ => bail!(
                    "ROOMWARDEN_TOKEN_TTL_DAYS must be a whole number of days from 1 to 3650, got {v:?}"
                ),
            },
        };
        let retention_days = get("ROOMWARDEN_RETENTION_DAYS")
            .map(|v| {
                v.parse::<i64>()
                    .ok()
                    .and_then(|d| RetentionDays::new(d).ok())
                    .with_context(|| {
                        format!(
                            "ROOMWARDEN_RETENTION_DAYS must be a whole number of days from 1 to {}, got {v:?}",
                            RetentionDays::MAX
                        )
                    })
            })
            .transpose()?;
        let key_guard = match get("ROOMWARDEN_KEY_GUARD").as_deref() {
            None | Some("on") => true,
            Some("off") => false,
            Some(other) => bail!("ROOMWARDEN_KEY_GUARD must be on or off, got {other:?}"),
        };
        let database_sync_wait = match get("ROOMWARDEN_DATABASE_SYNC_WAIT") {
            None => roomwarden_adapters::DEFAULT_SYNC_WAIT,
            Some(v) => v.parse::<u8>().ok().filter(|n| *n <= 15).with_context(|| {
                format!(
                    "ROOMWARDEN_DATABASE_SYNC_WAIT must be a whole number from 0 to 15, got {v:?}"
                )
            })?,
        };
        Ok(Self {
            clock: Arc::new(SystemClock),
            key_guard,
            database_sync_wait,
            bind,
            database_url: database_url.into(),
            api_key: credential("ROOMWARDEN_API_KEY", get("ROOMWARDEN_API_KEY"))?,
            client_key: credential("ROOMWARDEN_CLIENT_KEY", get("ROOMWARDEN_CLIENT_KEY"))?,
            webhook_url,
            webhook_secret: secret(
                "ROOMWARDEN_WEBHOOK_SECRET",
                get("ROOMWARDEN_WEBHOOK_SECRET"),
            )?,
            webhook_allow_private,
            webhook_ca_file,
            token_ttl_days,
            webhook_retry: RetryPolicy::default(),
            socket_auth_timeout: SOCKET_AUTH_TIMEOUT,
            retention_days,
            retention_interval: roomwarden_adapters::workers::RETENTION_INTERVAL,
            metrics_token: credential("ROOMWARDEN_METRICS_TOKEN", get("ROOMWARDEN_METRICS_TOKEN"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> anyhow::Result<Config> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_need_no_environment() {
        let c = config(&[]).expect("defaults");
        assert_eq!(c.bind, DEFAULT_BIND);
        assert_eq!(
            secrecy::ExposeSecret::expose_secret(&c.database_url),
            DEFAULT_DATABASE_URL
        );
        assert_eq!(c.token_ttl_days, 7);
        assert!(c.api_key.is_none());
    }

    #[test]
    fn bad_values_are_one_line_errors() {
        for (k, v) in [
            ("ROOMWARDEN_BIND", "nonsense"),
            ("ROOMWARDEN_DATABASE_URL", "postgres://x"),
            ("ROOMWARDEN_TOKEN_TTL_DAYS", "0"),
            ("ROOMWARDEN_TOKEN_TTL_DAYS", "seven"),
            ("ROOMWARDEN_RETENTION_DAYS", "0"),
            ("ROOMWARDEN_RETENTION_DAYS", "36501"),
            ("ROOMWARDEN_RETENTION_DAYS", "30d"),
            ("ROOMWARDEN_WEBHOOK_URL", "ftp://x"),
            ("ROOMWARDEN_WEBHOOK_URL", "http://127.0.0.1:9/hook"),
            ("ROOMWARDEN_WEBHOOK_ALLOW_PRIVATE", "yes"),
            ("ROOMWARDEN_KEY_GUARD", "maybe"),
            ("ROOMWARDEN_DATABASE_SYNC_WAIT", "16"),
            ("ROOMWARDEN_DATABASE_SYNC_WAIT", "on"),
            ("ROOMWARDEN_API_KEY", "has space"),
            ("ROOMWARDEN_METRICS_TOKEN", "has space"),
            ("ROOMWARDEN_API_KEY", "a"),
            ("ROOMWARDEN_CLIENT_KEY", "a"),
            ("ROOMWARDEN_METRICS_TOKEN", "a"),
            ("ROOMWARDEN_API_KEY", "0123456789abcdefghijklmnopqrstu"),
            (
                "ROOMWARDEN_API_KEY",
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            ),
            ("ROOMWARDEN_CLIENT_KEY", "abcdefgh".repeat(5).as_str()),
            (
                "ROOMWARDEN_METRICS_TOKEN",
                "aabbccddaabbccddaabbccddaabbccddaabb",
            ),
        ] {
            let err = config(&[(k, v)]).expect_err(k);
            assert!(!format!("{err:#}").contains('\n'), "{k}: {err:#}");
        }
    }

    #[test]
    fn a_private_global_webhook_needs_the_opt_in() {
        let url = ("ROOMWARDEN_WEBHOOK_URL", "http://127.0.0.1:9/hook");
        assert!(config(&[url]).is_err());
        let c = config(&[url, ("ROOMWARDEN_WEBHOOK_ALLOW_PRIVATE", "true")]).expect("allowed");
        assert!(c.webhook_allow_private);
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("mysql://u:secret@h:3306/db"),
            "mysql://u:***@h:3306/db"
        );
        assert_eq!(redact_url("sqlite://data/x.db"), "sqlite://data/x.db");
        let c = config(&[
            ("ROOMWARDEN_DATABASE_URL", "sqlite://x.db"),
            ("ROOMWARDEN_API_KEY", "topsecret-4f9a2c7e1b8d3f6a0c5e9b2d"),
            (
                "ROOMWARDEN_METRICS_TOKEN",
                "scrapesecret-7c1e9a4b2f8d6e0a3c5b",
            ),
        ])
        .expect("ok");
        assert!(c.metrics_token.is_some());
        assert!(!format!("{c:?}").contains("topsecret"));
        assert!(!format!("{c:?}").contains("scrapesecret"));
    }
}
