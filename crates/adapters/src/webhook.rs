//! [`WebhookNotifier`]: signed HTTP(S) POST of event bodies, only to destinations the
//! [`AddressPolicy`] allows (checked when a webhook is set and again at every delivery).

use hmac::{Hmac, Mac};
use roomwarden_domain::events::{Notifier, NotifyError, OutgoingEvent};
use roomwarden_domain::webhook::{DestinationRefused, WebhookGuard, is_internal_address};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;
use ureq::http::Uri;
use ureq::tls::{RootCerts, TlsConfig};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

/// Header carrying the signature.
pub const SIGNATURE_HEADER: &str = "IM-Signature";

/// How long a receiver has to answer.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
#[must_use]
pub fn signature(secret: &str, unix_seconds: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(format!("{unix_seconds}.{body}").as_bytes());
    format!(
        "t={unix_seconds},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// Which webhook destinations are allowed: by default only public addresses; the
/// operator's `ROOMWARDEN_WEBHOOK_ALLOW_PRIVATE=true` allows every address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    /// Allow hosts that are or resolve to loopback, private, link-local or unspecified
    /// addresses (see [`is_internal_address`]).
    pub allow_private: bool,
}

/// The host and port an `http(s)://` URL names.
fn host_and_port(url: &str) -> Result<(String, u16), DestinationRefused> {
    let uri: Uri = url
        .parse()
        .map_err(|_| DestinationRefused("is not a valid URL".to_owned()))?;
    let host = uri
        .host()
        .ok_or_else(|| DestinationRefused("names no host".to_owned()))?;
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        });
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok((host.to_owned(), port))
}

impl WebhookGuard for AddressPolicy {
    /// Resolves the URL's host (a DNS lookup unless it is an address) and refuses it when it
    /// does not resolve or any of its addresses is internal.
    fn check(&self, url: &str) -> Result<(), DestinationRefused> {
        if self.allow_private {
            return Ok(());
        }
        let (host, port) = host_and_port(url)?;
        let addresses: Vec<SocketAddr> = (host.as_str(), port)
            .to_socket_addrs()
            .map_err(|_| DestinationRefused(format!("host {host} does not resolve")))?
            .collect();
        if addresses.is_empty() {
            return Err(DestinationRefused(format!("host {host} does not resolve")));
        }
        match addresses.iter().find(|a| is_internal_address(a.ip())) {
            Some(internal) => Err(DestinationRefused(format!(
                "host {host} is {}, which is not a public address",
                internal.ip()
            ))),
            None => Ok(()),
        }
    }
}

/// Resolves like ureq's own resolver, then drops internal addresses (unless allowed), so
/// that the connection only ever goes to an address the policy accepts, even if DNS
/// changed since [`AddressPolicy::check`].
#[derive(Debug)]
struct PolicyResolver {
    policy: AddressPolicy,
}

impl Resolver for PolicyResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let resolved = DefaultResolver::default().resolve(uri, config, timeout)?;
        if self.policy.allow_private {
            return Ok(resolved);
        }
        let mut public = self.empty();
        for address in resolved.iter().filter(|a| !is_internal_address(a.ip())) {
            public.push(*address);
        }
        if public.is_empty() {
            return Err(ureq::Error::HostNotFound);
        }
        Ok(public)
    }
}

/// POSTs events as JSON with an `IM-Signature` header; a 2xx answer within 10 s is success.
/// `https://` destinations are verified against Mozilla's root certificates (webpki), or
/// against the operator's own CA certificates when given.
#[derive(Debug)]
pub struct WebhookNotifier {
    agent: ureq::Agent,
    secret: SecretString,
    policy: AddressPolicy,
}

impl WebhookNotifier {
    /// A notifier signing with `secret`, delivering only where `policy` allows.
    /// `ca_pem`, when given, holds the PEM certificates that `https://` receivers must
    /// chain to instead of the public roots.
    ///
    /// # Errors
    /// When `ca_pem` holds no valid certificate.
    pub fn new(
        secret: SecretString,
        policy: AddressPolicy,
        ca_pem: Option<&[u8]>,
    ) -> anyhow::Result<Self> {
        let roots = match ca_pem {
            None => RootCerts::WebPki,
            Some(pem) => {
                let certs = ureq::tls::parse_pem(pem)
                    .filter_map(|item| match item {
                        Ok(ureq::tls::PemItem::Certificate(cert)) => Some(Ok(cert)),
                        Ok(_) => None,
                        Err(e) => Some(Err(e)),
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| anyhow::anyhow!("webhook CA certificates: {e}"))?;
                if certs.is_empty() {
                    anyhow::bail!("webhook CA certificates: no certificate found");
                }
                RootCerts::new_with_certs(&certs)
            }
        };
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(TIMEOUT))
            .max_redirects(0)
            .user_agent("Roomwarden-Webhook/1")
            .tls_config(TlsConfig::builder().root_certs(roots).build())
            .build();
        let agent = ureq::Agent::with_parts(
            config,
            DefaultConnector::default(),
            PolicyResolver { policy },
        );
        Ok(Self {
            agent,
            secret,
            policy,
        })
    }
}

impl Notifier for WebhookNotifier {
    fn notify(&self, destination: &str, event: &OutgoingEvent) -> Result<(), NotifyError> {
        // Checked again at every delivery: the URL was accepted when it was set, but DNS
        // (or the policy) may have changed since.
        self.policy
            .check(destination)
            .map_err(|refused| NotifyError::Refused(refused.0))?;
        // The system's clock, not the server's (`roomwarden_domain::time::Clock`): receivers
        // check the signature's time against their own wall clock.
        let now = chrono::Utc::now().timestamp();
        let response = self
            .agent
            .post(destination)
            .header("Content-Type", "application/json; charset=utf-8")
            .header(
                SIGNATURE_HEADER,
                &signature(self.secret.expose_secret(), now, &event.body),
            )
            .send(event.body.as_str())
            .map_err(|e| NotifyError::Transport(e.to_string()))?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(NotifyError::Status(status))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{AddressPolicy, signature};
    use roomwarden_domain::webhook::WebhookGuard;

    #[test]
    fn only_public_destinations_pass_by_default() {
        let strict = AddressPolicy::default();
        for url in [
            "http://127.0.0.1:9000/hook",
            "http://localhost/hook",
            "https://[::1]/hook",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.1/",
            "http://[::ffff:192.168.0.1]:8080/",
            "http://0.0.0.0/",
            "http://no-such-host.invalid/",
        ] {
            assert!(strict.check(url).is_err(), "{url}");
        }
        assert!(strict.check("https://93.184.216.34/hook").is_ok());
        let open = AddressPolicy {
            allow_private: true,
        };
        assert!(open.check("http://127.0.0.1:9000/hook").is_ok());
    }

    #[test]
    fn signature_matches_a_known_vector() {
        // HMAC-SHA256("secret", "1700000000.{}"), computed independently with Python's hmac module.
        assert_eq!(
            signature("secret", 1_700_000_000, "{}"),
            "t=1700000000,v1=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
        );
    }
}
