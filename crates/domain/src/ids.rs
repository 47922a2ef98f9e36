//! Validated identifiers.
//!
//! Every client, room and message ID is 1 to 128 characters with no whitespace, no control
//! character and no `/` (docs/api.md §1.4). `_all` is reserved: it can never name a message.

use crate::error::DomainError;
use std::fmt;

/// Longest accepted ID, in characters.
pub const MAX_ID_CHARS: usize = 128;

/// The reserved message ID that means "every message of the room".
pub const ALL_MESSAGES: &str = "_all";

/// The `messageID` of a bulk deletion's result, audit record and event.
pub const BULK_MESSAGES: &str = "_bulk";

/// Checks the shared ID rule; `what` names the field in the error message.
fn check_id(what: &str, raw: &str) -> Result<(), DomainError> {
    let chars = raw.chars().count();
    if chars == 0 || chars > MAX_ID_CHARS {
        return Err(DomainError::InvalidParameter(format!(
            "{what} must be 1 to {MAX_ID_CHARS} characters"
        )));
    }
    if raw
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '/')
    {
        return Err(DomainError::InvalidParameter(format!(
            "{what} must not contain whitespace, control characters or '/'"
        )));
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Validates `raw` against the ID rule.
            ///
            /// # Errors
            /// [`DomainError::InvalidParameter`] naming the field when the rule is broken.
            pub fn parse(raw: &str) -> Result<Self, DomainError> {
                check_id($what, raw)?;
                Ok(Self(raw.to_owned()))
            }

            /// Wraps a value read back from trusted storage without re-validating it.
            #[must_use]
            pub fn from_trusted(raw: String) -> Self {
                Self(raw)
            }

            /// The ID as a string slice.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A client (user) ID.
    ClientId,
    "client ID"
);
id_type!(
    /// A room ID.
    RoomId,
    "room ID"
);
id_type!(
    /// An audit record ID (24 lowercase hex characters when generated).
    DeletionId,
    "audit record ID"
);
id_type!(
    /// A room-change record ID (24 lowercase hex characters when generated).
    RoomChangeId,
    "room change ID"
);
id_type!(
    /// A report ID (24 lowercase hex characters when generated).
    ReportId,
    "report ID"
);

/// A message ID. Never `_all`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(String);

impl MessageId {
    /// Validates `raw` against the ID rule and rejects the reserved `_all`.
    ///
    /// # Errors
    /// [`DomainError::InvalidParameter`] when the rule is broken or `raw` is `_all`.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        check_id("message ID", raw)?;
        if raw == ALL_MESSAGES {
            return Err(DomainError::InvalidParameter(
                "message ID '_all' is reserved".to_owned(),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// A fresh server-generated ID: 24 lowercase hex characters, ObjectId style
    /// (4 bytes of Unix seconds, 8 random bytes), so IDs sort roughly by creation.
    #[must_use]
    pub fn generate(now: chrono::DateTime<chrono::Utc>) -> Self {
        Self(object_id(now))
    }

    /// Wraps a value read back from trusted storage without re-validating it.
    #[must_use]
    pub fn from_trusted(raw: String) -> Self {
        Self(raw)
    }

    /// The ID as a string slice.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl DeletionId {
    /// A fresh audit record ID, same shape as generated message IDs.
    #[must_use]
    pub fn generate(now: chrono::DateTime<chrono::Utc>) -> Self {
        Self(object_id(now))
    }

    /// Validates `raw` as an event ID (a deletion's event is announced under the deletion's
    /// ID), naming it so in the error.
    ///
    /// # Errors
    /// [`DomainError::InvalidParameter`] when the ID rule is broken.
    pub fn parse_event(raw: &str) -> Result<Self, DomainError> {
        check_id("event ID", raw)?;
        Ok(Self(raw.to_owned()))
    }
}

impl RoomChangeId {
    /// A fresh room-change record ID, same shape as generated message IDs.
    #[must_use]
    pub fn generate(now: chrono::DateTime<chrono::Utc>) -> Self {
        Self(object_id(now))
    }
}

impl ReportId {
    /// A fresh report ID, same shape as generated message IDs; a report's event is
    /// announced under it.
    #[must_use]
    pub fn generate(now: chrono::DateTime<chrono::Utc>) -> Self {
        Self(object_id(now))
    }
}

impl RoomId {
    /// A fresh room ID for rooms created without `_id`.
    #[must_use]
    pub fn generate(now: chrono::DateTime<chrono::Utc>) -> Self {
        Self(object_id(now))
    }
}

/// 24 lowercase hex characters: big-endian Unix seconds then 8 random bytes.
fn object_id(now: chrono::DateTime<chrono::Utc>) -> String {
    let mut bytes = [0_u8; 12];
    let secs = u32::try_from(now.timestamp().max(0)).unwrap_or(u32::MAX);
    bytes[..4].copy_from_slice(&secs.to_be_bytes());
    crate::random::fill(&mut bytes[4..]);
    hex::encode(bytes)
}

/// What a DELETE names: one message, or every message of the room (`_all`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteTarget {
    /// One message.
    One(MessageId),
    /// Every message the room holds when the deletion is accepted (that the request's
    /// filter matches).
    All,
    /// The listed messages that are visible in the room (`POST .../messages/delete`).
    Bulk(Vec<MessageId>),
}

impl DeleteTarget {
    /// Parses the `{messageID}` path segment: `_all` or a valid message ID.
    ///
    /// # Errors
    /// [`DomainError::InvalidParameter`] when it is neither.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        if raw == ALL_MESSAGES {
            Ok(Self::All)
        } else {
            MessageId::parse(raw).map(Self::One)
        }
    }

    /// Reads back a record's target from its stored `messageID` and the IDs a `_bulk`
    /// deletion removed (never empty for one): the listed IDs decide a bulk deletion, so a
    /// message whose ID is `_bulk` reads back as itself.
    #[must_use]
    pub fn from_record(message_id: String, removed: Vec<MessageId>) -> Self {
        if !removed.is_empty() {
            Self::Bulk(removed)
        } else if message_id == ALL_MESSAGES {
            Self::All
        } else {
            Self::One(MessageId(message_id))
        }
    }

    /// `_all` or the message ID, as it appears in results, audit records and events.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::One(id) => id.as_str(),
            Self::All => ALL_MESSAGES,
            Self::Bulk(_) => BULK_MESSAGES,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_target_reads_back_whatever_the_message_is_called() {
        let id = |s: &str| MessageId(s.to_owned());
        for target in [
            DeleteTarget::All,
            DeleteTarget::One(id("m1")),
            DeleteTarget::One(id(BULK_MESSAGES)),
            DeleteTarget::Bulk(vec![id("a"), id("_bulk")]),
        ] {
            let removed = match &target {
                DeleteTarget::Bulk(ids) => ids.clone(),
                _ => Vec::new(),
            };
            assert_eq!(
                DeleteTarget::from_record(target.as_str().to_owned(), removed),
                target
            );
        }
    }

    #[test]
    fn accepts_ids_within_the_rule() {
        assert!(RoomId::parse("test-room-123").is_ok());
        assert!(RoomId::parse(&"r".repeat(128)).is_ok());
        assert!(ClientId::parse("ünïcode-ok").is_ok());
    }

    #[test]
    fn rejects_ids_breaking_the_rule() {
        for bad in ["", "a b", "a/b", "tab\tx", "nl\n", "\u{7}"] {
            assert!(RoomId::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(RoomId::parse(&"r".repeat(129)).is_err());
    }

    #[test]
    fn all_is_reserved_for_messages_only() {
        assert!(MessageId::parse("_all").is_err());
        assert_eq!(DeleteTarget::parse("_all").ok(), Some(DeleteTarget::All));
        assert!(RoomId::parse("_all").is_ok());
    }

    #[test]
    fn generated_ids_are_24_lowercase_hex_and_distinct() {
        let now = chrono::Utc::now();
        let a = MessageId::generate(now);
        let b = MessageId::generate(now);
        assert_eq!(a.as_str().len(), 24);
        assert!(
            a.as_str()
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(a, b);
        assert!(MessageId::parse(a.as_str()).is_ok());
    }
}
