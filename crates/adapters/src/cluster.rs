//! Several MySQL/MariaDB servers behind one URL, `mysql://user@h1:p1,h2:p2,h3:p3/db` (the
//! way libpq and Connector/J take several hosts): which one is the writer, and moving to
//! another when it fails (docs/operations.md, "Running on a Galera cluster").
//!
//! Every process given the same list elects the same writer: the first node, in list order,
//! whose latest probe found it answering and, on a Galera cluster, `Synced` and in the
//! primary component. One prober thread per node probes it every [`PROBE_INTERVAL`] (at
//! once when connecting to the writer fails); a verdict older than [`VERDICT_TTL`] counts as
//! down, so a node that hangs is left too. When the writer changes, the pool's connections
//! to the old one are discarded as they come back to the pool (their generation is old) and
//! new ones open on the new writer. A node that comes back and is synced again is elected
//! again, by every process, so processes never stay split between writers.

#[cfg(feature = "mysql")]
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How often each node is probed.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(500);

/// How old a node's latest good verdict may be before the node counts as down (a probe that
/// hangs, on a node that accepts connections but does not answer, ages out).
pub const VERDICT_TTL: Duration = Duration::from_millis(2_000);

/// One server of the list: the single-host URL diesel connects to, and a label without
/// credentials for logs and metrics (`127.0.0.1:3307`).
#[derive(Clone, PartialEq, Eq)]
pub struct Node {
    /// `mysql://user:pass@host:port/db?query`, with this node's host alone.
    pub url: String,
    /// The same without the database, for probing a server whose database does not exist
    /// yet.
    pub server_url: String,
    /// `host:port` as written in the list.
    pub label: String,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label)
    }
}

/// Splits a `mysql://` URL with a comma-separated host list into one URL per host, each with
/// the same user, password, database and query. A single-host URL gives one node.
///
/// # Errors
/// An empty host in the list (`h1,,h2`, a trailing comma) or a URL that is not `mysql://`.
pub fn split_hosts(url: &str) -> anyhow::Result<Vec<Node>> {
    let rest = url
        .strip_prefix("mysql://")
        .ok_or_else(|| anyhow::anyhow!("a host list needs a mysql:// URL"))?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let query = tail
        .split_once('?')
        .map_or(String::new(), |(_, q)| format!("/?{q}"));
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((user, hosts)) => (format!("{user}@"), hosts),
        None => (String::new(), authority),
    };
    hosts
        .split(',')
        .map(|host| {
            let host = host.trim();
            if host.is_empty() {
                anyhow::bail!("the database URL's host list has an empty entry");
            }
            Ok(Node {
                url: format!("mysql://{userinfo}{host}{tail}"),
                server_url: format!("mysql://{userinfo}{host}{query}"),
                label: host.to_owned(),
            })
        })
        .collect()
}

/// What the latest probe of a node found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It answers and may take writes (a standalone server, or a Galera node that is
    /// `Synced`, ready and in the primary component).
    Eligible,
    /// It answers but must not take writes now (joining, donor, or not in the primary
    /// component), or it does not answer.
    Down,
}

/// A node's latest verdict and when it was reached.
#[derive(Debug, Clone, Copy)]
struct Latest {
    verdict: Verdict,
    at: Instant,
}

const NO_WRITER: usize = usize::MAX;

/// The elected writer of a node list, shared by the pool and the probers.
#[derive(Debug)]
pub struct Writer {
    nodes: Vec<Node>,
    latest: Mutex<Vec<Option<Latest>>>,
    /// Index of the writer in `nodes`, or [`NO_WRITER`].
    current: AtomicUsize,
    /// Bumped at every change of writer; a pooled connection remembers the one it opened in.
    generation: AtomicU64,
    /// Changes of writer from one node to another (not counting the first election).
    failovers: AtomicU64,
    /// Wakes the probers before their next tick (`true`: probe now).
    wake: (Mutex<u64>, Condvar),
}

impl Writer {
    /// A writer for `nodes`, none elected yet.
    #[must_use]
    pub fn new(nodes: Vec<Node>) -> Self {
        let n = nodes.len();
        Self {
            nodes,
            latest: Mutex::new(vec![None; n]),
            current: AtomicUsize::new(NO_WRITER),
            generation: AtomicU64::new(0),
            failovers: AtomicU64::new(0),
            wake: (Mutex::new(0), Condvar::new()),
        }
    }

    /// The nodes, in list order.
    #[must_use]
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The writer now and the generation it was elected in, if one is elected.
    #[must_use]
    pub fn current(&self) -> Option<(&Node, u64)> {
        let generation = self.generation.load(Ordering::Acquire);
        let i = self.current.load(Ordering::Acquire);
        self.nodes.get(i).map(|node| (node, generation))
    }

    /// The generation of the current election.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Changes of writer so far.
    #[must_use]
    pub fn failovers(&self) -> u64 {
        self.failovers.load(Ordering::Relaxed)
    }

    /// Records a probe's verdict on node `i` and runs the election.
    pub fn record(&self, i: usize, verdict: Verdict, now: Instant) {
        {
            let mut latest = self.latest.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(slot) = latest.get_mut(i) {
                *slot = Some(Latest { verdict, at: now });
            }
        }
        self.elect(now);
    }

    /// Elects the first node whose latest verdict is [`Verdict::Eligible`] and fresh; none
    /// when no node is. Returns the writer's index.
    pub fn elect(&self, now: Instant) -> Option<usize> {
        let latest = self.latest.lock().unwrap_or_else(PoisonError::into_inner);
        let chosen = latest
            .iter()
            .position(|l| {
                l.is_some_and(|l| {
                    l.verdict == Verdict::Eligible
                        && now.saturating_duration_since(l.at) < VERDICT_TTL
                })
            })
            .unwrap_or(NO_WRITER);
        let before = self.current.load(Ordering::Acquire);
        if chosen != before {
            // Under the lock, so that two probers cannot interleave two changes.
            self.generation.fetch_add(1, Ordering::AcqRel);
            self.current.store(chosen, Ordering::Release);
            let from = self.nodes.get(before).map_or("none", |n| n.label.as_str());
            match self.nodes.get(chosen) {
                Some(to) if before != NO_WRITER => {
                    self.failovers.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(from, to = %to.label, "database writer changed");
                }
                Some(to) => tracing::info!(writer = %to.label, "database writer elected"),
                None => tracing::error!(from, "no database node can take writes"),
            }
        }
        drop(latest);
        (chosen != NO_WRITER).then_some(chosen)
    }

    /// Asks every prober to probe now (connecting to the writer just failed).
    pub fn suspect(&self) {
        let (lock, cvar) = &self.wake;
        *lock.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        cvar.notify_all();
    }

    /// Waits until the next tick or a [`Writer::suspect`] after `seen` (the wake count the
    /// caller saw last); returns the wake count now.
    #[cfg(feature = "mysql")]
    fn wait_tick(&self, seen: u64) -> u64 {
        let (lock, cvar) = &self.wake;
        let guard = lock.lock().unwrap_or_else(PoisonError::into_inner);
        let (guard, _) = cvar
            .wait_timeout_while(guard, PROBE_INTERVAL, |wakes| *wakes == seen)
            .unwrap_or_else(PoisonError::into_inner);
        *guard
    }

    /// Waits up to `limit` for a writer to be elected.
    #[must_use]
    pub fn await_writer(&self, limit: Duration) -> Option<&Node> {
        let until = Instant::now() + limit;
        loop {
            if let Some((node, _)) = self.current() {
                return Some(node);
            }
            if Instant::now() >= until {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Starts one prober thread per node; each stops (closing its connection) within a tick of
/// the writer being dropped with the last pool that uses it.
#[cfg(feature = "mysql")]
pub fn spawn_probers(writer: &Arc<Writer>) {
    for i in 0..writer.nodes().len() {
        let writer = Arc::downgrade(writer);
        let name = format!("db-probe-{i}");
        std::thread::Builder::new()
            .name(name)
            .spawn(move || probe_while_used(&writer, i))
            .expect("a prober thread starts");
    }
}

#[cfg(feature = "mysql")]
fn probe_while_used(writer: &std::sync::Weak<Writer>, i: usize) {
    let mut conn: Option<diesel::MysqlConnection> = None;
    let mut wakes = 0;
    while let Some(writer) = writer.upgrade() {
        let verdict = probe(&writer.nodes()[i].server_url, &mut conn);
        writer.record(i, verdict, Instant::now());
        wakes = writer.wait_tick(wakes);
    }
}

/// One probe over the node's probe connection (opened again when it broke).
#[cfg(feature = "mysql")]
fn probe(url: &str, conn: &mut Option<diesel::MysqlConnection>) -> Verdict {
    use diesel::Connection;
    if conn.is_none() {
        *conn = diesel::MysqlConnection::establish(url).ok();
    }
    let Some(c) = conn.as_mut() else {
        return Verdict::Down;
    };
    match node_state(c) {
        Ok(verdict) => verdict,
        Err(_) => {
            *conn = None;
            Verdict::Down
        }
    }
}

/// A server variable or status row, as `SHOW ... LIKE` returns it.
#[cfg(feature = "mysql")]
#[derive(diesel::QueryableByName, Debug)]
pub(crate) struct Setting {
    #[diesel(sql_type = diesel::sql_types::Text, column_name = Variable_name)]
    pub(crate) name: String,
    #[diesel(sql_type = diesel::sql_types::Text, column_name = Value)]
    pub(crate) value: String,
}

/// Whether a MySQL-protocol server is a Galera node (`wsrep_on` is ON; a server without
/// Galera has it OFF or not at all).
#[cfg(feature = "mysql")]
pub(crate) fn wsrep_on(conn: &mut diesel::MysqlConnection) -> diesel::QueryResult<bool> {
    use diesel::RunQueryDsl;
    let on: Vec<Setting> =
        diesel::sql_query("SHOW GLOBAL VARIABLES LIKE 'wsrep\\_on'").load(conn)?;
    Ok(on.iter().any(|s| s.value.eq_ignore_ascii_case("ON")))
}

/// A Galera node takes writes when `wsrep_on` and it is `Synced` (local state 4), ready and
/// in the primary component; a server without Galera (`wsrep_on` OFF or absent) always.
#[cfg(feature = "mysql")]
fn node_state(conn: &mut diesel::MysqlConnection) -> diesel::QueryResult<Verdict> {
    use diesel::RunQueryDsl;
    let galera = wsrep_on(conn)?;
    if !galera {
        return Ok(Verdict::Eligible);
    }
    let status: Vec<Setting> = diesel::sql_query(
        "SHOW GLOBAL STATUS WHERE Variable_name IN \
         ('wsrep_local_state', 'wsrep_cluster_status', 'wsrep_ready')",
    )
    .load(conn)?;
    let value = |name: &str| {
        status
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
            .map(|s| s.value.as_str())
    };
    let ready = value("wsrep_local_state") == Some("4")
        && value("wsrep_cluster_status") == Some("Primary")
        && value("wsrep_ready") == Some("ON");
    Ok(if ready {
        Verdict::Eligible
    } else {
        Verdict::Down
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_list_becomes_one_url_per_host_with_the_same_credentials_database_and_query() {
        let nodes = split_hosts(
            "mysql://u:p%40ss@127.0.0.1:3307, 127.0.0.1:3308,[::1]:3309/rw?ssl_mode=disabled",
        )
        .expect("splits");
        let urls: Vec<&str> = nodes.iter().map(|n| n.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "mysql://u:p%40ss@127.0.0.1:3307/rw?ssl_mode=disabled",
                "mysql://u:p%40ss@127.0.0.1:3308/rw?ssl_mode=disabled",
                "mysql://u:p%40ss@[::1]:3309/rw?ssl_mode=disabled",
            ]
        );
        assert_eq!(
            nodes[2].server_url,
            "mysql://u:p%40ss@[::1]:3309/?ssl_mode=disabled"
        );
        let labels: Vec<&str> = nodes.iter().map(|n| n.label.as_str()).collect();
        assert_eq!(labels, ["127.0.0.1:3307", "127.0.0.1:3308", "[::1]:3309"]);
        assert_eq!(
            format!("{:?}", nodes[0]),
            "127.0.0.1:3307",
            "no password in logs"
        );

        let single = split_hosts("mysql://root@db").expect("splits");
        assert_eq!(single.len(), 1);
        assert_eq!(single[0].url, "mysql://root@db");
        assert_eq!(single[0].server_url, "mysql://root@db");
        assert!(split_hosts("mysql://root@a,,b/db").is_err());
        assert!(split_hosts("mysql://root@a,/db").is_err());
    }

    fn three() -> Writer {
        Writer::new(split_hosts("mysql://r@a:1,b:2,c:3/d").expect("splits"))
    }

    #[test]
    fn the_first_eligible_node_in_list_order_is_the_writer_and_a_change_is_a_new_generation() {
        let w = three();
        let t = Instant::now();
        assert!(w.current().is_none());
        w.record(1, Verdict::Eligible, t);
        assert_eq!(w.current().map(|(n, _)| n.label.as_str()), Some("b:2"));
        let g1 = w.generation();
        w.record(0, Verdict::Eligible, t);
        assert_eq!(w.current().map(|(n, _)| n.label.as_str()), Some("a:1"));
        assert!(w.generation() > g1);
        assert_eq!(w.failovers(), 1);
        // Same verdict again: no change, same generation.
        let g2 = w.generation();
        w.record(0, Verdict::Eligible, t);
        assert_eq!(w.generation(), g2);
        // The writer goes down: the next eligible one takes over.
        w.record(0, Verdict::Down, t);
        assert_eq!(w.current().map(|(n, _)| n.label.as_str()), Some("b:2"));
        assert_eq!(w.failovers(), 2);
    }

    #[cfg(feature = "mysql")]
    #[test]
    fn a_prober_stops_once_its_writer_is_dropped() {
        // Nodes nobody listens on: every probe finds them down, at once.
        let writer = Arc::new(Writer::new(
            split_hosts("mysql://r@127.0.0.1:1,127.0.0.1:2/d").expect("splits"),
        ));
        let weak = Arc::downgrade(&writer);
        let (ended, end) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            probe_while_used(&weak, 0);
            let _ = ended.send(());
        });
        std::thread::sleep(PROBE_INTERVAL * 2);
        assert!(end.try_recv().is_err(), "probes while the writer is used");
        assert!(writer.current().is_none());
        drop(writer);
        // Generous: it ends at its next tick (0.5 s); a prober that never ends fails here.
        end.recv_timeout(std::time::Duration::from_secs(30))
            .expect("the prober ends once its writer is dropped");
    }

    #[test]
    fn a_verdict_that_ages_out_counts_as_down() {
        let w = three();
        let t = Instant::now();
        w.record(0, Verdict::Eligible, t);
        w.record(2, Verdict::Eligible, t + VERDICT_TTL);
        // Node a's verdict is now VERDICT_TTL old (its prober hangs): c is elected.
        assert_eq!(w.current().map(|(n, _)| n.label.as_str()), Some("c:3"));
        w.record(2, Verdict::Down, t + VERDICT_TTL);
        assert!(w.current().is_none(), "no node left");
    }
}
