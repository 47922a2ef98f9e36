//! # roomwarden-domain
//!
//! The pure rules of Roomwarden, a chat server core whose headline feature is admin message
//! deletion: validated IDs ([`ids`]), entities ([`model`]), roles ([`roles`]),
//! authentication ([`auth`]), the use cases behind every endpoint ([`usecases`]) and the
//! storage ports they need ([`ports`]). Nothing here knows about diesel, actix or HTTP;
//! use cases are synchronous functions over `&dyn` ports, so an embedding service plugs in
//! its own storage (or an in-memory one) and calls them directly.
//!
//! ```
//! use roomwarden_domain::auth::Actor;
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
//!     created_at: chrono::Utc::now(),
//!     updated_at: chrono::Utc::now(),
//! };
//! // The owner may delete; `_all` is the reserved "whole room" target.
//! assert!(room.can_moderate(&Actor::Client { id: alice, is_platform_admin: false }));
//! assert_eq!(DeleteTarget::parse("_all")?, DeleteTarget::All);
//! # Ok::<(), roomwarden_domain::error::DomainError>(())
//! ```
//!
//! With the `mock` feature, every port has a `mockall` mock (`ports::MockMessageStore`, ...)
//! for other crates' tests.

pub mod auth;
pub mod error;
pub mod events;
pub mod ids;
pub mod model;
pub mod ports;
mod random;
pub mod roles;
pub mod usecases;
pub mod webhook;
