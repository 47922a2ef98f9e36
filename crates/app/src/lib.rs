//! # roomwarden
//!
//! The Roomwarden server: the HTTP API of `spec/api.md` over `roomwarden-domain` (rules)
//! and `roomwarden-adapters` (storage). This crate owns everything HTTP: configuration,
//! routes, header extraction, and the RC/RM envelope with the single mapping from domain
//! outcomes to statuses ([`envelope`]).

pub mod auth;
pub mod body;
pub mod config;
pub mod dto;
pub mod envelope;
pub mod keys;
pub mod middleware;
pub mod openapi;
pub mod protocol;
pub mod realtime;
pub mod routes;
pub mod run;
pub mod startup;
pub mod state;

/// Logs to standard error as text; `RUST_LOG` filters (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
