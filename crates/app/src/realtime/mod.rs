//! Real-time delivery over WebSocket (`GET /socket`).
//!
//! The fan-out thread ([`fanout::spawn`]) polls the database's [`roomwarden_adapters::RealtimeFeed`] and hands
//! each event to the [`hub::Hub`], which passes it to the sockets of the room's current
//! members. Because the feed reads the shared database, sockets on every server process see
//! events written by any of them.

pub mod fanout;
pub mod hub;
pub mod socket;
