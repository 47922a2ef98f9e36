//! What every handler can reach: the ports, the keys and the settings.

use chrono::Duration;
use roomwarden_adapters::{AddressPolicy, DieselStore};
use roomwarden_domain::auth::DeploymentKeys;
use roomwarden_domain::error::StoreError;
use roomwarden_domain::ports::{AuditStore, ClientStore, MessageStore, RoomStore};
use roomwarden_domain::webhook::WebhookGuard;
use std::sync::Arc;

/// Checks that storage answers, for `GET /ready`.
pub type Readiness = Arc<dyn Fn() -> Result<(), StoreError> + Send + Sync>;

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
    /// Readiness probe.
    pub readiness: Readiness,
    /// Where webhooks may point.
    pub webhooks: Arc<dyn WebhookGuard>,
}

impl Ports {
    /// Every port served by one diesel store; webhooks checked against `webhooks`.
    pub fn from_store(store: &DieselStore, webhooks: AddressPolicy) -> Self {
        let shared = Arc::new(store.clone());
        let db = store.database().clone();
        Self {
            clients: shared.clone(),
            rooms: shared.clone(),
            messages: shared.clone(),
            audit: shared,
            readiness: Arc::new(move || db.ping()),
            webhooks: Arc::new(webhooks),
        }
    }
}

impl AppState {
    /// Runs a use case over the ports on the blocking pool (see [`crate::run::blocking`]).
    ///
    /// # Errors
    /// The use case's error, mapped to the API's.
    pub async fn run<T, F>(&self, f: F) -> Result<T, crate::envelope::ApiError>
    where
        F: FnOnce(&Ports) -> Result<T, roomwarden_domain::error::DomainError> + Send + 'static,
        T: Send + 'static,
    {
        let ports = self.ports.clone();
        crate::run::blocking(move || f(&ports)).await
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
}
