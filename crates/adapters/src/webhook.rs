//! [`WebhookNotifier`]: signed HTTP POST of event bodies.

use hmac::{Hmac, Mac};
use roomwarden_domain::events::{Notifier, NotifyError, OutgoingEvent};
use sha2::Sha256;
use std::time::Duration;

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

/// POSTs events as JSON with an `IM-Signature` header; a 2xx answer within 10 s is success.
pub struct WebhookNotifier {
    agent: ureq::Agent,
    secret: String,
}

impl std::fmt::Debug for WebhookNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookNotifier { .. }")
    }
}

impl WebhookNotifier {
    /// A notifier signing with `secret`.
    #[must_use]
    pub fn new(secret: String) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(TIMEOUT))
            .max_redirects(0)
            .user_agent("Roomwarden-Webhook/1")
            .build()
            .into();
        Self { agent, secret }
    }
}

impl Notifier for WebhookNotifier {
    fn notify(&self, destination: &str, event: &OutgoingEvent) -> Result<(), NotifyError> {
        let now = chrono::Utc::now().timestamp();
        let response = self
            .agent
            .post(destination)
            .header("Content-Type", "application/json; charset=utf-8")
            .header(SIGNATURE_HEADER, &signature(&self.secret, now, &event.body))
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
    use super::signature;

    #[test]
    fn signature_matches_a_known_vector() {
        // HMAC-SHA256("secret", "1700000000.{}"), computed independently with Python's hmac module.
        assert_eq!(
            signature("secret", 1_700_000_000, "{}"),
            "t=1700000000,v1=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
        );
    }
}
