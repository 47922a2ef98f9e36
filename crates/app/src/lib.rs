//! # roomwarden
//!
//! The Roomwarden server: the HTTP API of docs/api.md over `roomwarden-domain` (rules)
//! and `roomwarden-adapters` (storage). This crate owns everything HTTP: configuration,
//! routes, header extraction, and the RC/RM envelope with the single mapping from domain
//! outcomes to statuses ([`envelope`]).

pub mod access;
pub mod auth;
pub mod body;
pub mod config;
pub mod credentials;
pub mod dto;
pub mod envelope;
pub mod idempotency;
pub mod key_guard;
pub mod keys;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod protocol;
pub mod realtime;
pub mod routes;
pub mod run;
pub mod session;
pub mod startup;
pub mod state;
pub mod wire;

/// Logs to standard error as text; `RUST_LOG` filters (default `info`). A request's span
/// closing is its access-log line (`request{method path request_id status}: close
/// time.busy=… time.idle=…`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .try_init();
}

/// For tests: with `TEST_LOG` set, logs like the server does (filtered by `RUST_LOG`,
/// default `info`) through the test harness's capture; without it, nothing is logged.
pub fn init_test_tracing() {
    if std::env::var_os("TEST_LOG").is_none() {
        return;
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .with_target(false)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .try_init();
}
