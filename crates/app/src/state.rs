//! What every handler can reach: the ports, the keys and the settings.

pub use crate::session::{Ports, Readiness, Session, Sessions};

use crate::credentials::Caller;
use crate::envelope::ApiError;
use crate::idempotency::hop::Hop;
use chrono::Duration;
use roomwarden_domain::actor::Actor;
use roomwarden_domain::auth::{self, DeploymentKeys};
use roomwarden_domain::error::DomainError;
use roomwarden_domain::usecases::Ports as UseCasePorts;
use std::sync::Arc;

impl AppState {
    /// Runs a use case over one session of the ports, on the blocking pool (see
    /// [`crate::run::blocking`]): one hop, one connection. In a request with an
    /// `Idempotency-Key`, the hop also claims the key and commits the answer with the use
    /// case's effect (`idempotency::hop`).
    ///
    /// # Errors
    /// The use case's error, mapped to the API's.
    pub async fn run<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&UseCasePorts<'_>) -> Result<T, DomainError> + Send + 'static,
        T: Send + 'static,
    {
        match crate::idempotency::hop::take() {
            Hop::Plain => {}
            Hop::Keyed(inputs) => {
                return crate::idempotency::hop::run(&self.ports, inputs, move |_, ports| {
                    f(ports).map_err(ApiError::from)
                })
                .await;
            }
            Hop::Refused => return Err(ApiError::internal()),
        }
        let ports = self.ports.clone();
        scrubbed(move || {
            let session = (ports.sessions)(&ports).map_err(DomainError::from)?;
            f(&session.ports.for_use_cases()).map_err(ApiError::from)
        })
        .await
    }

    /// Authenticates `caller`, then runs `f` as the authenticated actor, in one hop to the
    /// blocking pool and on one storage connection (keyed as [`AppState::run`] is). `f` does
    /// everything that comes after authentication in the contract's order of checks:
    /// parsing the path, query and body, then the use case.
    ///
    /// # Errors
    /// `401` for bad credentials; else `f`'s error.
    pub async fn run_as<T, F>(&self, caller: Caller, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&Actor, &UseCasePorts<'_>) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        match crate::idempotency::hop::take() {
            Hop::Plain => {}
            Hop::Keyed(inputs) => {
                return crate::idempotency::hop::run(&self.ports, inputs, f).await;
            }
            Hop::Refused => return Err(ApiError::internal()),
        }
        let ports = self.ports.clone();
        let keys = self.keys.clone();
        scrubbed(move || {
            let session = (ports.sessions)(&ports).map_err(DomainError::from)?;
            let actor = auth::authenticate(
                caller.credentials(),
                &keys,
                session.ports.clients.as_ref(),
                session.ports.clock.now(),
            )?;
            f(&actor, &session.ports.for_use_cases())
        })
        .await
    }
}

/// Runs a request's hop on the blocking pool ([`crate::run::blocking`]) and answers once
/// the WAL checkpoint its deletions need (SQLite) has finished: waited for after the hop has
/// given its connection back, and without a thread, so that the deletions sharing one
/// checkpoint are not bounded by the pool ([`roomwarden_adapters::deferring_wal_scrub`]).
async fn scrubbed<T, F>(f: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let (value, scrub) = crate::run::blocking(move || {
        match roomwarden_adapters::deferring_wal_scrub(f) {
            (Ok(value), scrub) => Ok((value, scrub)),
            // A failed request reports nothing done; its checkpoint is waited for here.
            (Err(e), scrub) => {
                if let Some(scrub) = scrub {
                    scrub.wait();
                }
                Err(e)
            }
        }
    })
    .await?;
    checkpointed(scrub).await;
    Ok(value)
}

/// Waits, without a thread, for the WAL checkpoint a hop's deletions need (SQLite), if any.
pub(crate) async fn checkpointed(scrub: Option<roomwarden_adapters::ScrubWait>) {
    if let Some(scrub) = scrub {
        let (done, finished) = tokio::sync::oneshot::channel();
        scrub.when_done(move || {
            let _ = done.send(());
        });
        let _ = finished.await;
    }
}

/// Shared, read-only application state.
#[derive(Clone)]
pub struct AppState {
    /// Storage.
    pub ports: Ports,
    /// The deployment's API key and client key.
    pub keys: DeploymentKeys,
    /// Lifetime of issued tokens.
    pub token_ttl: Duration,
    /// Sockets connected to this process.
    pub hub: Arc<crate::realtime::hub::Hub>,
    /// How long a new socket has to send its authentication frame.
    pub socket_auth_timeout: std::time::Duration,
    /// The series served by `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// `ROOMWARDEN_METRICS_TOKEN`: when set, `/metrics` needs it as a bearer token.
    pub metrics_token: Option<secrecy::SecretString>,
    /// Wrong keys per source address ([`crate::key_guard`]); `None` with
    /// `ROOMWARDEN_KEY_GUARD=off`.
    pub key_guard: Option<Arc<crate::key_guard::KeyGuard>>,
    /// The chain verifications running over HTTP ([`crate::routes::audit::VERIFIES_AT_ONCE`]
    /// permits, taken without waiting): each holds a blocking thread and a connection, a
    /// page at a time, for as long as its room's log takes to read.
    pub verifies: Arc<tokio::sync::Semaphore>,
}

impl AppState {
    /// Admits a request or socket from `ip` presenting these keys (see
    /// [`KeyGuard::admit`](crate::key_guard::KeyGuard::admit)), counting wrong keys and
    /// refusals in `/metrics`. Always admitted with `ROOMWARDEN_KEY_GUARD=off`.
    ///
    /// # Errors
    /// The seconds until the address may send a key again.
    pub fn admit_keys(
        &self,
        ip: std::net::IpAddr,
        api_key: Option<&str>,
        client_key: Option<&str>,
    ) -> Result<(), u64> {
        use crate::metrics::Credential;
        let Some(guard) = &self.key_guard else {
            return Ok(());
        };
        if api_key.is_none() && client_key.is_none() {
            return Ok(());
        }
        let presented = [
            (Credential::ApiKey, api_key),
            (Credential::ClientKey, client_key),
        ];
        match guard.admit(ip, presented, &self.keys, std::time::Instant::now()) {
            Ok(wrong) => {
                for credential in wrong {
                    self.metrics.credential_failed(credential);
                }
                Ok(())
            }
            Err(retry_after) => {
                self.metrics.credential_refused();
                Err(retry_after)
            }
        }
    }
}
