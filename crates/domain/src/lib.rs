//! # roomwarden-domain
//!
//! The pure rules of Roomwarden, a chat server core whose headline feature is admin message
//! deletion: validated IDs ([`ids`]), who acts and who a record names ([`actor`]), entities
//! ([`model`]), roles ([`roles`]), authentication ([`auth`]), what a room change changed
//! ([`room_change`]), what a deletion covers, counts, removes and records
//! ([`deletion_plan`]: every store carries out its answers), the JSON of audit records ([`record_json`]) and their chain
//! ([`audit_chain`]), deletion events ([`events`]), the use cases behind every endpoint
//! ([`usecases`]) and the storage ports they need ([`ports`]), and the rules of idempotency
//! keys ([`idempotency`]).
//! Nothing here knows about diesel, actix or HTTP; use cases are synchronous functions over
//! `&dyn` ports, so an embedding service plugs in its own storage (or an in-memory one) and
//! calls them directly.
//!
//! ```
//! use roomwarden_domain::actor::Actor;
//! use roomwarden_domain::ids::{ClientId, DeleteTarget, RoomId};
//! use roomwarden_domain::model::{Room, RoomType};
//!
//! let alice = ClientId::parse("alice")?;
//! let room = Room {
//!     id: RoomId::parse("test-room-123")?,
//!     name: None,
//!     room_type: RoomType::Group,
//!     owner: Some(alice.clone()),
//!     managers: vec![],
//!     members: vec![alice.clone()],
//!     webhook: None,
//!     retention_days: None,
//!     created_at: chrono::Utc::now(),
//!     updated_at: chrono::Utc::now(),
//! };
//! // The owner may delete; `_all` is the reserved "whole room" target.
//! assert!(room.can_moderate(&Actor::Client { id: alice, is_platform_admin: false }));
//! assert_eq!(DeleteTarget::parse("_all")?, DeleteTarget::All);
//! # Ok::<(), roomwarden_domain::error::DomainError>(())
//! ```
//!
//! With the `memory` feature, [`memory::MemoryStore`] implements every port in memory (its
//! docs show an embedding service creating a room, deleting a message and clearing the room
//! through the use cases). With the `mock` feature, every port has a `mockall` mock
//! (`ports::MockMessageStore`, ...) for other crates' tests, and `usecases::Mocks` bundles them
//! as the [`usecases::Ports`] a use case takes. With the `testkit` feature,
//! [`testkit`] is the storage contract as a test suite: [`store_contract!`] runs every
//! case against a third-party adapter in a few lines.
//!
//! A service's own error handling when storage is down, tested with the mocks:
//!
//! ```
//! use roomwarden_domain::actor::Actor;
//! use roomwarden_domain::error::{DomainError, StoreError};
//! use roomwarden_domain::ids::{DeleteTarget, RoomId};
//! use roomwarden_domain::usecases::Mocks;
//! use roomwarden_domain::usecases::deletion::{DeleteMessages, delete_messages};
//!
//! let mut mocks = Mocks::default(); // a call to a port without expectations panics
//! mocks
//!     .messages
//!     .expect_delete()
//!     .times(1)
//!     .returning(|_| Err(StoreError::Unavailable(anyhow::anyhow!("connection refused"))));
//! let command = DeleteMessages { room: RoomId::parse("r")?, target: DeleteTarget::All, reason: None, filter: Default::default() };
//! let outcome = delete_messages(&mocks.ports(), &Actor::Platform, command);
//! assert!(matches!(outcome, Err(DomainError::Unavailable(_))));
//! # Ok::<(), DomainError>(())
//! ```

pub mod actor;
pub mod audit_chain;
pub mod auth;
pub mod deletion_plan;
pub mod error;
pub mod events;
pub mod filter;
pub mod idempotency;
pub mod ids;
#[cfg(any(test, feature = "memory"))]
pub mod memory;
pub mod model;
pub mod ports;
mod random;
pub mod record_json;
pub mod report;
pub mod roles;
pub mod room_change;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod time;
pub mod usecases;
pub mod webhook;
