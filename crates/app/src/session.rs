//! The ports a request runs its use cases over, and the session that puts them on one
//! storage connection ([`Session`]).

use roomwarden_adapters::{AddressPolicy, DieselStore};
use roomwarden_domain::error::StoreError;
use roomwarden_domain::ports::{
    AuditStore, ClientStore, EventLog, IdempotencyStore, MessageStore, ReportStore, RoomStore,
};
use roomwarden_domain::time::Clock;
use roomwarden_domain::usecases::Ports as UseCasePorts;
use roomwarden_domain::webhook::WebhookGuard;
use std::sync::Arc;

/// Checks that storage answers, for `GET /ready`.
pub type Readiness = Arc<dyn Fn() -> Result<(), StoreError> + Send + Sync>;

/// Opens a session over the ports: the same ports on one storage connection, for one
/// request's authentication and use case.
pub type Sessions = Arc<dyn Fn(&Ports) -> Result<Session, StoreError> + Send + Sync>;

/// One request's ports on one storage connection ([`Sessions`]), and the transaction that
/// can span several of their calls (a keyed request's use case and its stored answer,
/// [`crate::idempotency`]).
pub struct Session {
    /// The ports, on the session's connection.
    pub ports: Ports,
    /// The store behind them, which opens and ends the spanning transaction; `None` for
    /// test doubles, whose calls each stand on their own.
    store: Option<DieselStore>,
}

impl Session {
    /// Opens the transaction that every later call on the session joins, until
    /// [`Session::end_unit`] (see `DieselStore::begin_unit`); nothing for test doubles.
    ///
    /// # Errors
    /// A storage failure.
    pub fn begin_unit(&self) -> Result<(), StoreError> {
        self.store.as_ref().map_or(Ok(()), DieselStore::begin_unit)
    }

    /// Commits (`commit`) or rolls back the transaction [`Session::begin_unit`] opened.
    ///
    /// # Errors
    /// A storage failure: nothing committed, unless it is
    /// [`StoreError::Uncertain`].
    pub fn end_unit(&self, commit: bool) -> Result<(), StoreError> {
        self.store
            .as_ref()
            .map_or(Ok(()), |store| store.end_unit(commit))
    }
}

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
    /// Reports of messages.
    pub reports: Arc<dyn ReportStore>,
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
            events: shared.clone(),
            reports: shared,
            readiness: Arc::new(move || db.ping()),
            webhooks: Arc::new(webhooks),
            clock: store.clock(),
            sessions: Arc::new(move |ports: &Ports| {
                let store = sessions.session()?;
                let session = Arc::new(store.clone());
                Ok(Session {
                    ports: Ports {
                        clients: session.clone(),
                        rooms: session.clone(),
                        messages: session.clone(),
                        audit: session.clone(),
                        idempotency: session.clone(),
                        events: session.clone(),
                        reports: session,
                        ..ports.clone()
                    },
                    store: Some(store),
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
            reports: self.reports.as_ref(),
            webhooks: self.webhooks.as_ref(),
            clock: self.clock.as_ref(),
        }
    }

    /// Sessions that are the ports themselves, for ports without connections (mocks).
    pub fn without_sessions() -> Sessions {
        Arc::new(|ports: &Ports| {
            Ok(Session {
                ports: ports.clone(),
                store: None,
            })
        })
    }
}
