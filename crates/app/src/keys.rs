//! The deployment's secrets: from configuration, else generated once and stored.

use crate::config::Config;
use anyhow::Context;
use roomwarden_adapters::DieselStore;
use roomwarden_domain::auth::{DeploymentKeys, generate_secret};
use secrecy::{ExposeSecret, SecretString};

/// The effective secrets, and which of them this start generated.
pub struct Keys {
    /// API key and client key.
    pub deployment: DeploymentKeys,
    /// HMAC secret for webhook signatures.
    pub webhook_secret: SecretString,
    /// Names of the settings generated (and stored) by this start.
    pub generated: Vec<&'static str>,
}

/// One secret: the configured value, else the stored one, else a new one (stored).
fn one(
    store: &DieselStore,
    configured: Option<&SecretString>,
    name: &'static str,
    generated: &mut Vec<&'static str>,
) -> anyhow::Result<SecretString> {
    if let Some(value) = configured {
        return Ok(value.clone());
    }
    let (value, created) = store
        .setting_or_insert(name, generate_secret)
        .with_context(|| format!("cannot read or store {name}"))?;
    if created {
        generated.push(name);
    }
    Ok(value.into())
}

/// Resolves every secret.
///
/// # Errors
/// When the database cannot be read or written.
pub fn resolve(store: &DieselStore, config: &Config) -> anyhow::Result<Keys> {
    let mut generated = Vec::new();
    let api_key = one(store, config.api_key.as_ref(), "api_key", &mut generated)?;
    let client_key = one(
        store,
        config.client_key.as_ref(),
        "client_key",
        &mut generated,
    )?;
    let webhook_secret = one(
        store,
        config.webhook_secret.as_ref(),
        "webhook_secret",
        &mut generated,
    )?;
    Ok(Keys {
        deployment: DeploymentKeys {
            api_key,
            client_key,
        },
        webhook_secret,
        generated,
    })
}

/// The text that shows keys: all of them (`roomwarden keys`), or only those generated now
/// (the first-start banner). `None` when there is nothing to show.
pub fn banner(keys: &Keys, only_generated: bool) -> Option<String> {
    let rows = [
        (
            "api_key",
            "IM-API-KEY     (ROOMWARDEN_API_KEY)       ",
            &keys.deployment.api_key,
        ),
        (
            "client_key",
            "IM-CLIENT-KEY  (ROOMWARDEN_CLIENT_KEY)    ",
            &keys.deployment.client_key,
        ),
        (
            "webhook_secret",
            "webhook secret (ROOMWARDEN_WEBHOOK_SECRET)",
            &keys.webhook_secret,
        ),
    ];
    let shown: Vec<String> = rows
        .iter()
        .filter(|(name, _, _)| !only_generated || keys.generated.contains(name))
        .map(|(_, label, value)| format!("  {label}  {}", value.expose_secret()))
        .collect();
    if shown.is_empty() {
        return None;
    }
    let title = if only_generated {
        "Roomwarden generated these keys and stored them in its database.\nThey are shown once; `roomwarden keys` prints them again."
    } else {
        "Roomwarden keys:"
    };
    Some(format!("{title}\n{}\n", shown.join("\n")))
}
