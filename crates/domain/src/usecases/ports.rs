//! What a use case reaches: every port and the clock, as one bundle.

use crate::ports::{
    AuditStore, ClientStore, EventLog, IdempotencyStore, MessageStore, ReportStore, RoomStore,
};
use crate::time::Clock;
use crate::webhook::WebhookGuard;

/// Every port a use case may need and the clock it runs by, borrowed for one call. Given a
/// session (one storage connection), it is one request's unit of work; its clock is the
/// request's time, injected at the edge: use cases read the time only from
/// [`Ports::clock`].
///
/// Every use case a request runs takes it. The background jobs (retention, the key sweep)
/// and the offline chain verification take their one port, and the jobs the time of their
/// run.
#[derive(Clone, Copy)]
pub struct Ports<'a> {
    /// Clients and tokens.
    pub clients: &'a dyn ClientStore,
    /// Rooms and members.
    pub rooms: &'a dyn RoomStore,
    /// Messages and deletion.
    pub messages: &'a dyn MessageStore,
    /// The audit log.
    pub audit: &'a dyn AuditStore,
    /// Idempotency keys and their stored answers.
    pub idempotency: &'a dyn IdempotencyStore,
    /// Deletion events and their delivery.
    pub events: &'a dyn EventLog,
    /// Reports of messages.
    pub reports: &'a dyn ReportStore,
    /// Where webhooks may point.
    pub webhooks: &'a dyn WebhookGuard,
    /// The time every use case runs at.
    pub clock: &'a dyn Clock,
}

impl<'a> Ports<'a> {
    /// Every storage port served by one store (such as
    /// [`MemoryStore`](crate::memory::MemoryStore)), with `webhooks` and `clock`.
    pub fn of<S>(store: &'a S, webhooks: &'a dyn WebhookGuard, clock: &'a dyn Clock) -> Self
    where
        S: ClientStore
            + RoomStore
            + MessageStore
            + AuditStore
            + IdempotencyStore
            + EventLog
            + ReportStore,
    {
        Self {
            clients: store,
            rooms: store,
            messages: store,
            audit: store,
            idempotency: store,
            events: store,
            reports: store,
            webhooks,
            clock,
        }
    }
}

/// A mock of every port, for testing use cases: set expectations on the ones a test
/// expects to be called, then pass [`Mocks::ports`]; a call to any other panics.
#[cfg(any(test, feature = "mock"))]
#[derive(Default)]
pub struct Mocks {
    /// Clients and tokens.
    pub clients: crate::ports::MockClientStore,
    /// Rooms and members.
    pub rooms: crate::ports::MockRoomStore,
    /// Messages and deletion.
    pub messages: crate::ports::MockMessageStore,
    /// The audit log.
    pub audit: crate::ports::MockAuditStore,
    /// Idempotency keys.
    pub idempotency: crate::ports::MockIdempotencyStore,
    /// Deletion events.
    pub events: crate::ports::MockEventLog,
    /// Reports.
    pub reports: crate::ports::MockReportStore,
    /// Where webhooks may point.
    pub webhooks: crate::webhook::MockWebhookGuard,
    /// The clock: the system's, moved by [`crate::time::OffsetClock::advance`].
    pub clock: crate::time::OffsetClock,
}

#[cfg(any(test, feature = "mock"))]
impl Mocks {
    /// The mocks as the bundle a use case takes.
    pub fn ports(&self) -> Ports<'_> {
        Ports {
            clients: &self.clients,
            rooms: &self.rooms,
            messages: &self.messages,
            audit: &self.audit,
            idempotency: &self.idempotency,
            events: &self.events,
            reports: &self.reports,
            webhooks: &self.webhooks,
            clock: &self.clock,
        }
    }
}
