//! What every handler can reach: the ports, the keys and the settings.

use crate::credentials::Caller;
use crate::envelope::ApiError;
use chrono::Duration;
use roomwarden_adapters::{AddressPolicy, DieselStore};
use roomwarden_domain::actor::Actor;
use roomwarden_domain::auth::{self, DeploymentKeys};
use roomwarden_domain::error::{DomainError, StoreError};
use roomwarden_domain::ports::{
    AuditStore, ClientStore, EventLog, IdempotencyStore, MessageStore, RoomStore,
};
use roomwarden_domain::time::Clock;
use roomwarden_domain::usecases::Ports as UseCasePorts;
use roomwarden_domain::webhook::WebhookGuard;
use std::sync::Arc;

/// Checks that storage answers, for `GET /ready`.
pub type Readiness = Arc<dyn Fn() -> Result<(), StoreError> + Send + Sync>;

/// Opens a unit of work over the ports: the same ports on one storage connection, for one
/// request's authentication and use case.
pub type Sessions = Arc<dyn Fn(&Ports) -> Result<Ports, StoreError> + Send + Sync>;

/// The domain's ports as trait objects, so tests can put mocks behind the real routes.
#[derive(Clone)]
pub struct Ports {
    /// Clients and tokens.
    pub clients: Arc<dyn ClientStore>,
    /// Rooms and members.
    pub rooms: Arc<dyn RoomStore>,
    /// Messages and deletion.
    pub messages: Arc<dyn MessageStore>,
    /// The audit log.
    pub audit: Arc<dyn AuditStore>,
    /// Idempotency keys and their stored answers.
    pub idempotency: Arc<dyn IdempotencyStore>,
    /// Deletion events and their delivery (the operators' view of the outbox).
    pub events: Arc<dyn EventLog>,
    /// Readiness probe.
    pub readiness: Readiness,
    /// Where webhooks may point.
    pub webhooks: Arc<dyn WebhookGuard>,
    /// How a request gets its unit of work ([`Ports::without_sessions`] for test doubles).
    pub sessions: Sessions,
    /// The time every use case runs at: the store's own clock ([`Ports::from_store`]), so
    /// a request's time and its reads' agree.
    pub clock: Arc<dyn Clock>,
}

impl Ports {
    /// Every port served by one diesel store; webhooks checked against `webhooks`.
    pub fn from_store(store: &DieselStore, webhooks: AddressPolicy) -> Self {
        let shared = Arc::new(store.clone());
        let db = store.database().clone();
        let sessions = store.clone();
        Self {
            clients: shared.clone(),
            rooms: shared.clone(),
            messages: shared.clone(),
            audit: shared.clone(),
            idempotency: shared.clone(),
            events: shared,
            readiness: Arc::new(move || db.ping()),
            webhooks: Arc::new(webhooks),
            clock: store.clock(),
            sessions: Arc::new(move |ports: &Ports| {
                let session = Arc::new(sessions.session()?);
                Ok(Ports {
                    clients: session.clone(),
                    rooms: session.clone(),
                    messages: session.clone(),
                    audit: session.clone(),
                    idempotency: session.clone(),
                    events: session,
                    ..ports.clone()
                })
            }),
        }
    }

    /// The ports as the bundle the use cases take.
    pub fn for_use_cases(&self) -> UseCasePorts<'_> {
        UseCasePorts {
            clients: self.clients.as_ref(),
            rooms: self.rooms.as_ref(),
            messages: self.messages.as_ref(),
            audit: self.audit.as_ref(),
            idempotency: self.idempotency.as_ref(),
            events: self.events.as_ref(),
            webhooks: self.webhooks.as_ref(),
            clock: self.clock.as_ref(),
        }
    }

    /// Sessions that are the ports themselves, for ports without connections (mocks).
    pub fn without_sessions() -> Sessions {
        Arc::new(|ports: &Ports| Ok(ports.clone()))
    }
}

impl AppState {
    /// Runs a use case over one session of the ports, on the blocking pool (see
    /// [`crate::run::blocking`]): one hop, one connection.
    ///
    /// # Errors
    /// The use case's error, mapped to the API's.
    pub async fn run<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&UseCasePorts<'_>) -> Result<T, DomainError> + Send + 'static,
        T: Send + 'static,
    {
        let ports = self.ports.clone();
        scrubbed(move || {
            let session = (ports.sessions)(&ports).map_err(DomainError::from)?;
            f(&session.for_use_cases()).map_err(ApiError::from)
        })
        .await
    }

    /// [`AppState::run`], where a success that comes after the request's deadline (so that
    /// its caller was answered `503`) is handed to `undo` on a session of its own.
    ///
    /// # Errors
    /// As [`AppState::run`].
    pub async fn run_undoable<T, F, U>(&self, f: F, undo: U) -> Result<T, ApiError>
    where
        F: FnOnce(&UseCasePorts<'_>) -> Result<T, DomainError> + Send + 'static,
        U: FnOnce(&UseCasePorts<'_>, T) + Send + 'static,
        T: Send + 'static,
    {
        let (ports, later) = (self.ports.clone(), self.ports.clone());
        crate::run::blocking_undoable(
            move || -> Result<T, DomainError> {
                let session = (ports.sessions)(&ports)?;
                f(&session.for_use_cases())
            },
            move |value| match (later.sessions)(&later) {
                Ok(session) => undo(&session.for_use_cases(), value),
                Err(e) => tracing::warn!(error = %e, "no session to undo a late result"),
            },
        )
        .await
    }

    /// Runs `f` over one session of the ports to its end, waiting for it only until the
    /// request's deadline (see [`crate::run::detached`]); `None` when it outlived it.
    pub async fn run_detached<T, F>(&self, f: F) -> Option<Result<T, DomainError>>
    where
        F: FnOnce(&UseCasePorts<'_>) -> Result<T, DomainError> + Send + 'static,
        T: Send + 'static,
    {
        let ports = self.ports.clone();
        crate::run::detached(move || {
            let session = (ports.sessions)(&ports)?;
            f(&session.for_use_cases())
        })
        .await
    }

    /// Authenticates `caller` (unless a middleware did already: [`Caller::authenticated`]),
    /// then runs `f` as the authenticated actor, in one hop to the blocking pool and on one
    /// storage connection. `f` does everything that comes after
    /// authentication in the contract's order of checks: parsing the path, query and body,
    /// then the use case.
    ///
    /// # Errors
    /// `401` for bad credentials; else `f`'s error.
    pub async fn run_as<T, F>(&self, caller: Caller, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&Actor, &UseCasePorts<'_>) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let ports = self.ports.clone();
        let keys = self.keys.clone();
        scrubbed(move || {
            let session = (ports.sessions)(&ports).map_err(DomainError::from)?;
            let actor = match caller.authenticated() {
                Some(actor) => actor.clone(),
                None => auth::authenticate(
                    caller.credentials(),
                    &keys,
                    session.clients.as_ref(),
                    session.clock.now(),
                )?,
            };
            f(&actor, &session.for_use_cases())
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
    if let Some(scrub) = scrub {
        let (done, finished) = tokio::sync::oneshot::channel();
        scrub.when_done(move || {
            let _ = done.send(());
        });
        let _ = finished.await;
    }
    Ok(value)
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
