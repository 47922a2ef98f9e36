//! Running a workload on N threads for a while, and summarising latencies.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What a workload did.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub ops: u64,
    pub errors: u64,
    pub elapsed: Duration,
    pub latencies: Vec<Duration>,
}

impl Stats {
    pub fn per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The `q` quantile (0..=1) of the latencies, in ms.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        quantile_ms(&self.latencies, q)
    }
}

pub fn quantile_ms(latencies: &[Duration], q: f64) -> f64 {
    if latencies.is_empty() {
        return f64::NAN;
    }
    let mut sorted = latencies.to_vec();
    sorted.sort();
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1000.0
}

/// Runs `op(thread)` in a loop on `threads` threads until `duration` has passed or `stop`
/// is set; `op` answers `Ok(true)` for a success, `Ok(false)` for a refused request.
/// `setup(thread)` builds each thread's state (its connection) before the clock starts.
pub fn run<S, F>(
    threads: usize,
    duration: Duration,
    stop: Option<Arc<AtomicBool>>,
    setup: impl Fn(usize) -> S + Sync,
    op: F,
) -> Stats
where
    F: Fn(&mut S, usize) -> anyhow::Result<bool> + Sync,
{
    let errors = AtomicU64::new(0);
    let started = Instant::now();
    let deadline = started + duration;
    let latencies: Vec<Vec<Duration>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (setup, op, errors, stop) = (&setup, &op, &errors, stop.clone());
                scope.spawn(move || {
                    let mut state = setup(t);
                    let mut mine = Vec::new();
                    while Instant::now() < deadline
                        && !stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed))
                    {
                        let t0 = Instant::now();
                        match op(&mut state, t) {
                            Ok(true) => mine.push(t0.elapsed()),
                            Ok(false) | Err(_) => {
                                errors.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let latencies: Vec<Duration> = latencies.into_iter().flatten().collect();
    Stats {
        ops: latencies.len() as u64,
        errors: errors.into_inner(),
        elapsed: started.elapsed(),
        latencies,
    }
}
