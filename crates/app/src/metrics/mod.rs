//! The server's Prometheus series, served by `GET /metrics` (docs/api.md §12.3; each series is
//! described in docs/operations.md, "Metrics").
//!
//! [`Metrics`] holds a `prometheus-client` registry with the prefix `roomwarden_`. Events are
//! counted as they happen: HTTP requests ([`http::record`], a middleware), deletions
//! ([`Metrics::deleted`], called by the deletion routes and, for retention runs, through the
//! adapters' worker [`Observer`]) and webhook delivery attempts (the dispatcher's
//! [`Observer`]). What is a state rather than an event (outbox, purge backlog, pool,
//! sockets) is read when scraped (`scrape`).

pub mod http;
mod scrape;

use crate::realtime::hub::Hub;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use roomwarden_adapters::{DeliveryOutcome, DieselStore, Observer};
use roomwarden_domain::ids::DeleteTarget;
use roomwarden_domain::model::Deletion;
use std::sync::Arc;
use std::time::Duration;

/// The challenge of a `401` from `/metrics` (RFC 6750).
pub const METRICS_CHALLENGE: &str = "Bearer realm=\"metrics\"";

/// `Content-Type` of the Prometheus text format, version 0.0.4.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Upper bounds, in seconds, of the latency histograms' buckets: 1 ms to 10 s (a webhook
/// delivery times out at 10 s).
const LATENCY_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// What kind of deletion an audit record is: the `kind` label of the deletion series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletionKind {
    /// One message (`DELETE …/messages/{messageID}`).
    One,
    /// A clear without filters (`_all`).
    All,
    /// A clear with `before`, `after`, `sender` or `contains`.
    Filtered,
    /// A bulk delete by IDs (`POST …/messages/delete`).
    Bulk,
    /// One room of a user purge (`DELETE /admin/clients/{clientID}/messages`).
    Purge,
    /// One room of a clear by content across rooms (`DELETE /admin/messages`).
    Content,
    /// One room of a retention run.
    Retention,
}

impl DeletionKind {
    /// Every kind, in the order the series list them.
    pub const ALL: [Self; 7] = [
        Self::One,
        Self::All,
        Self::Filtered,
        Self::Bulk,
        Self::Purge,
        Self::Content,
        Self::Retention,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::One => "one",
            Self::All => "all",
            Self::Filtered => "filtered",
            Self::Bulk => "bulk",
            Self::Purge => "purge",
            Self::Content => "content",
            Self::Retention => "retention",
        }
    }

    /// The kind of a deletion made through `DELETE …/messages/{messageID}` or the bulk
    /// route, from its audit record (a purge or a retention run is known by its caller).
    pub fn of_request(deletion: &Deletion) -> Self {
        match deletion.target {
            DeleteTarget::All if deletion.filter.is_some() => Self::Filtered,
            DeleteTarget::All => Self::All,
            DeleteTarget::Bulk(_) => Self::Bulk,
            DeleteTarget::One(_) => Self::One,
        }
    }
}

/// A deployment credential that a request presents in a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// `IM-API-KEY`.
    ApiKey,
    /// `IM-CLIENT-KEY`.
    ClientKey,
}

impl Credential {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ApiKey => "api_key",
            Self::ClientKey => "client_key",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// The registry and the handles of the series counted as events happen. One per process;
/// shared by the routes, the middleware and the workers.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    http_requests: Family<RequestLabels, Counter>,
    http_duration: Histograms<RouteLabels>,
    deletions: Family<KindLabels, Counter>,
    messages_deleted: Family<KindLabels, Counter>,
    webhook_delivery: Histograms<OutcomeLabels>,
    credential_failures: Family<CredentialLabels, Counter>,
    credential_refusals: Counter,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CredentialLabels {
    credential: &'static str,
}

impl Metrics {
    /// The series of a server over `store` (none for routes over test doubles: the
    /// database series are then left out) with sockets in `hub`.
    pub fn new(store: Option<DieselStore>, hub: Arc<Hub>) -> Self {
        let mut registry = Registry::with_prefix("roomwarden");
        let http_requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route pattern (`unmatched` for no route) and status",
            http_requests.clone(),
        );
        let http_duration: Histograms<RouteLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time from receiving a request to its response being ready, by method and route pattern",
            http_duration.clone(),
        );
        let deletions = Family::<KindLabels, Counter>::default();
        registry.register(
            "deletions",
            "Deletions committed (audit records written), by kind: one, all, filtered, bulk, purge (per room), retention (per room)",
            deletions.clone(),
        );
        let messages_deleted = Family::<KindLabels, Counter>::default();
        registry.register(
            "messages_deleted",
            "Messages deleted (the deletions' deletedCount), by kind of deletion",
            messages_deleted.clone(),
        );
        // Every kind and outcome exists from the start, at 0, so that `increase()` sees
        // the first event.
        for kind in DeletionKind::ALL {
            let labels = KindLabels {
                kind: kind.as_str(),
            };
            let _ = deletions.get_or_create_owned(&labels);
            let _ = messages_deleted.get_or_create_owned(&labels);
        }
        let webhook_delivery: Histograms<OutcomeLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "webhook_delivery_duration_seconds",
            "Duration of webhook delivery attempts, by outcome: delivered, retry (failed, to be retried), failed (for good)",
            webhook_delivery.clone(),
        );
        for outcome in [
            DeliveryOutcome::Delivered,
            DeliveryOutcome::Retry,
            DeliveryOutcome::Failed,
        ] {
            let _ = webhook_delivery.get_or_create_owned(&OutcomeLabels {
                outcome: outcome.as_str(),
            });
        }
        let credential_failures = Family::<CredentialLabels, Counter>::default();
        registry.register(
            "credential_failures",
            "Requests whose IM-API-KEY or IM-CLIENT-KEY was sent and wrong, by credential: api_key, client_key",
            credential_failures.clone(),
        );
        for credential in [Credential::ApiKey, Credential::ClientKey] {
            let _ = credential_failures.get_or_create_owned(&CredentialLabels {
                credential: credential.as_str(),
            });
        }
        let credential_refusals = Counter::default();
        registry.register(
            "credential_refusals",
            "Requests with a key refused with 429 unchecked, because their source address failed key checks too often",
            credential_refusals.clone(),
        );
        registry.register_collector(Box::new(scrape::Scrape::new(store, hub)));
        Self {
            registry,
            http_requests,
            http_duration,
            deletions,
            messages_deleted,
            webhook_delivery,
            credential_failures,
            credential_refusals,
        }
    }

    /// Counts one wrong `credential`.
    pub fn credential_failed(&self, credential: Credential) {
        self.credential_failures
            .get_or_create(&CredentialLabels {
                credential: credential.as_str(),
            })
            .inc();
    }

    /// Counts one request refused unchecked for its address's failures.
    pub fn credential_refused(&self) {
        self.credential_refusals.inc();
    }

    /// Counts one answered request.
    pub fn request(&self, method: &'static str, route: String, status: u16, elapsed: Duration) {
        self.http_duration
            .get_or_create(&RouteLabels {
                method,
                route: route.clone(),
            })
            .observe(elapsed.as_secs_f64());
        self.http_requests
            .get_or_create(&RequestLabels {
                method,
                route,
                status,
            })
            .inc();
    }

    /// Counts one committed deletion of `kind` that removed `count` messages.
    pub fn deleted(&self, kind: DeletionKind, count: u64) {
        let labels = KindLabels {
            kind: kind.as_str(),
        };
        self.deletions.get_or_create(&labels).inc();
        self.messages_deleted.get_or_create(&labels).inc_by(count);
    }

    /// Every series in the Prometheus text format. Reads the database (outbox, purge
    /// backlog): call it on the blocking pool.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        if let Err(e) =
            prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)
        {
            // Writing to a String cannot fail; a collector's error is logged where it happens.
            tracing::error!(error = %e, "metrics could not be encoded");
        }
        text
    }
}

/// The workers' reports: webhook delivery attempts and retention runs.
impl Observer for Metrics {
    fn delivery_attempted(&self, outcome: DeliveryOutcome, elapsed: Duration) {
        self.webhook_delivery
            .get_or_create(&OutcomeLabels {
                outcome: outcome.as_str(),
            })
            .observe(elapsed.as_secs_f64());
    }

    fn retention_deleted(&self, deletion: &Deletion) {
        self.deleted(DeletionKind::Retention, deletion.deleted_count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use roomwarden_domain::actor::Actor;
    use roomwarden_domain::filter::{Bound, MessageFilter};
    use roomwarden_domain::ids::{DeleteTarget, DeletionId, MessageId, RoomId};
    use roomwarden_domain::model::DeletionRequest;

    fn deletion(target: DeleteTarget, filter: MessageFilter, count: u64) -> Deletion {
        let request = DeletionRequest {
            id: DeletionId::generate(chrono::Utc::now()),
            room: RoomId::parse("r").expect("valid"),
            target,
            actor: Actor::Platform,
            deleted_at: chrono::Utc::now(),
            reason: None,
            filter,
            skip_if_nothing: false,
            retention: None,
        };
        match &request.target {
            DeleteTarget::Bulk(ids) => Deletion::committed_bulk(&request, ids.clone()),
            _ => Deletion::committed(&request, count),
        }
    }

    #[test]
    fn a_deletion_s_kind_comes_from_its_audit_record() {
        let id = MessageId::parse("m").expect("valid");
        let before = MessageFilter {
            before: Some(Bound::At(chrono::Utc::now())),
            ..MessageFilter::default()
        };
        for (target, filter, kind) in [
            (
                DeleteTarget::One(id.clone()),
                MessageFilter::default(),
                DeletionKind::One,
            ),
            (
                DeleteTarget::All,
                MessageFilter::default(),
                DeletionKind::All,
            ),
            (DeleteTarget::All, before, DeletionKind::Filtered),
            (
                DeleteTarget::Bulk(vec![id]),
                MessageFilter::default(),
                DeletionKind::Bulk,
            ),
            // A message that happens to be called `_bulk`, deleted on its own.
            (
                DeleteTarget::One(MessageId::parse("_bulk").expect("valid")),
                MessageFilter::default(),
                DeletionKind::One,
            ),
        ] {
            assert_eq!(DeletionKind::of_request(&deletion(target, filter, 1)), kind);
        }
    }

    #[test]
    fn the_workers_reports_become_series() {
        let metrics = Metrics::new(None, Arc::new(Hub::default()));
        let retained = deletion(DeleteTarget::All, MessageFilter::default(), 7);
        metrics.retention_deleted(&retained);
        metrics.delivery_attempted(DeliveryOutcome::Retry, Duration::from_millis(30));
        let text = metrics.encode();
        for line in [
            r#"roomwarden_deletions_total{kind="retention"} 1"#,
            r#"roomwarden_messages_deleted_total{kind="retention"} 7"#,
            r#"roomwarden_deletions_total{kind="one"} 0"#,
            r#"roomwarden_webhook_delivery_duration_seconds_bucket{outcome="retry",le="0.025"} 0"#,
            r#"roomwarden_webhook_delivery_duration_seconds_bucket{outcome="retry",le="0.05"} 1"#,
            r#"roomwarden_webhook_delivery_duration_seconds_count{outcome="delivered"} 0"#,
            "roomwarden_socket_connections 0",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from:\n{text}"
            );
        }
        assert!(
            !text.contains("roomwarden_database_up"),
            "no store, no database series"
        );
    }
}
