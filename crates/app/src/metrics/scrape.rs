//! The series read when scraped, so that they are exact at that moment: the outbox by
//! state and the purge backlog (from the database, shared by every process), the database
//! pool and the sockets (of this process).

use crate::realtime::hub::Hub;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;
use roomwarden_adapters::{DieselStore, OutboxCounts, PurgeBacklog};
use roomwarden_domain::ports::StoreResult;
use std::fmt;
use std::sync::Arc;

/// The scrape-time collector.
#[derive(Debug)]
pub(super) struct Scrape {
    store: Option<DieselStore>,
    hub: Arc<Hub>,
}

/// A gauge family with its samples.
fn gauge<L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    samples: &[(L, u64)],
) -> fmt::Result {
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in samples {
        ConstGauge::new(*value).encode(metric.encode_family(labels)?)?;
    }
    Ok(())
}

/// A gauge without labels.
fn single(encoder: &mut DescriptorEncoder<'_>, name: &str, help: &str, value: u64) -> fmt::Result {
    let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    ConstGauge::new(value).encode(metric)
}

impl Scrape {
    pub(super) fn new(store: Option<DieselStore>, hub: Arc<Hub>) -> Self {
        Self { store, hub }
    }

    /// The database's part, on one connection.
    fn read(store: &DieselStore) -> StoreResult<(OutboxCounts, PurgeBacklog)> {
        let session = store.session()?;
        Ok((session.outbox_counts()?, session.purge_backlog()?))
    }

    fn encode_database(store: &DieselStore, encoder: &mut DescriptorEncoder<'_>) -> fmt::Result {
        // The pool first, so that the scrape's own connection is not counted.
        let pool = store.database().pool_state();
        gauge(
            encoder,
            "db_pool_connections",
            "Connections of this process's database pool, by state: in_use (checked out) or idle.",
            &[
                ([("state", "in_use")], u64::from(pool.in_use())),
                ([("state", "idle")], u64::from(pool.idle)),
            ],
        )?;
        single(
            encoder,
            "db_pool_max_connections",
            "Most connections this process's database pool opens.",
            u64::from(pool.max),
        )?;
        let read = Self::read(store);
        single(
            encoder,
            "database_up",
            "1 when this scrape could read the database; 0 when it could not, and the outbox and purge backlog series are left out.",
            u64::from(read.is_ok()),
        )?;
        let (outbox, backlog) = match read {
            Ok(read) => read,
            Err(e) => {
                tracing::warn!(error = %e, "metrics: database unavailable; its series are left out");
                return Ok(());
            }
        };
        gauge(
            encoder,
            "outbox_events",
            "Deletion events in the outbox (the whole database), by state: pending, delivered, failed, skipped.",
            &[
                ([("state", "pending")], outbox.pending),
                ([("state", "delivered")], outbox.delivered),
                ([("state", "failed")], outbox.failed),
                ([("state", "skipped")], outbox.skipped),
            ],
        )?;
        gauge(
            encoder,
            "purge_backlog_jobs",
            "Unfinished background removals (the whole database), by source: clear (rooms) or erasure (filtered deletions, purges, retention runs).",
            &[
                ([("source", "clear")], backlog.clears),
                ([("source", "erasure")], backlog.erasures),
            ],
        )?;
        gauge(
            encoder,
            "purge_backlog_rows",
            "Upper bound on the rows awaiting physical removal, by source, from seq ranges (see docs/operations.md); 0 exactly when none are left.",
            &[
                ([("source", "clear")], backlog.clear_rows),
                ([("source", "erasure")], backlog.erasure_rows),
            ],
        )
    }
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        single(
            &mut encoder,
            "socket_connections",
            "Authenticated WebSocket connections of this process (those still authenticating are not counted).",
            u64::try_from(self.hub.connections()).unwrap_or(u64::MAX),
        )?;
        match &self.store {
            Some(store) => Self::encode_database(store, &mut encoder),
            None => Ok(()),
        }
    }
}
