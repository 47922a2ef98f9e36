//! The series read when scraped: the database pool and the sockets (of this process), exact
//! at that moment, and the outbox by state and the purge backlog (from the database, shared
//! by every process), read by at most one scrape at a time and reused for [`REUSE`], so that
//! scrapes, however many and however often, never hold more than one pooled connection and
//! never queue behind requests for one.

use crate::realtime::hub::Hub;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use roomwarden_adapters::{DieselStore, OutboxCounts, PurgeBacklog};
use roomwarden_domain::ports::StoreResult;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long a reading of the database is served again before the next scrape reads anew.
pub(super) const REUSE: Duration = Duration::from_secs(5);

/// How long a scrape waits for a pooled connection. A pool that stays full that long is
/// busy, not broken: the last reading is served instead.
const CHECKOUT: Duration = Duration::from_secs(1);

/// What the database said.
#[derive(Debug, Clone, Copy)]
enum Reading {
    Read(OutboxCounts, PurgeBacklog),
    Unreadable,
}

/// A reading and when it was taken.
#[derive(Debug, Clone, Copy)]
struct Taken {
    at: Instant,
    reading: Reading,
}

/// The scrape-time collector.
#[derive(Debug)]
pub(super) struct Scrape {
    store: Option<DieselStore>,
    hub: Arc<Hub>,
    /// The last reading of the database.
    last: Mutex<Option<Taken>>,
    /// Held by the one scrape that reads the database.
    reader: Mutex<()>,
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
        Self {
            store,
            hub,
            last: Mutex::new(None),
            reader: Mutex::new(()),
        }
    }

    /// The database's part, on one connection.
    fn read(store: &DieselStore) -> StoreResult<(OutboxCounts, PurgeBacklog)> {
        let session = store.session_within(CHECKOUT)?;
        Ok((session.outbox_counts()?, session.purge_backlog()?))
    }

    fn last(&self) -> Option<Taken> {
        *self.last.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The last reading if it is recent; otherwise a new one, unless another scrape is
    /// taking it (then the last one, however old); `None` before any reading.
    fn reading(&self, store: &DieselStore) -> Option<Reading> {
        let recent = |taken: Option<Taken>| taken.filter(|t| t.at.elapsed() < REUSE);
        if let Some(taken) = recent(self.last()) {
            return Some(taken.reading);
        }
        let Ok(_turn) = self.reader.try_lock() else {
            return self.last().map(|t| t.reading);
        };
        if let Some(taken) = recent(self.last()) {
            return Some(taken.reading);
        }
        let reading = match Self::read(store) {
            Ok((outbox, backlog)) => Reading::Read(outbox, backlog),
            Err(e) => {
                let pool = store.database().pool_state();
                if pool.in_use() >= pool.max {
                    tracing::debug!(error = %e, "metrics: the pool is busy; serving the last reading");
                    return self.last().map(|t| t.reading);
                }
                tracing::warn!(error = %e, "metrics: database unavailable; its series are left out");
                Reading::Unreadable
            }
        };
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(Taken {
            at: Instant::now(),
            reading,
        });
        Some(reading)
    }

    fn encode_database(
        &self,
        store: &DieselStore,
        encoder: &mut DescriptorEncoder<'_>,
    ) -> fmt::Result {
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
        if let Some((writer, failovers)) = store.database().writer() {
            gauge(
                encoder,
                "db_writer",
                "The database node this process writes to, from ROOMWARDEN_DATABASE_URL's host list: 1 for the elected node; 0, with an empty node label, while no node can take writes.",
                &[([("node", writer.as_str())], u64::from(!writer.is_empty()))],
            )?;
            let metric = encoder.encode_descriptor(
                "db_writer_changes",
                "Times this process's database writer moved from one node to another (failovers, and returns to a node earlier in the list).",
                None,
                MetricType::Counter,
            )?;
            ConstCounter::new(failovers).encode(metric)?;
        }
        let Some(reading) = self.reading(store) else {
            return Ok(());
        };
        single(
            encoder,
            "database_up",
            "1 when the last reading of the database (at most 5 s old, unless the pool is busy) succeeded; 0 when it failed, and the outbox and purge backlog series are left out.",
            u64::from(matches!(reading, Reading::Read(..))),
        )?;
        let Reading::Read(outbox, backlog) = reading else {
            return Ok(());
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
            Some(store) => self.encode_database(store, &mut encoder),
            None => Ok(()),
        }
    }
}
