//! Who acts, and who a record names: the vocabulary that authentication, the rules, the
//! records and storage share. Depends on the IDs and the error kinds only.

use crate::error::{Action, DomainError};
use crate::ids::ClientId;
use std::fmt;

/// The `deletedBy` / `changedBy` of a record made with the API key.
pub const PLATFORM_ACTOR: &str = "_platform";
/// The `deletedBy` of a record made by the retention job.
pub const RETENTION_ACTOR: &str = "_retention";

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// The backend, with the API key.
    Platform,
    /// A user, with a token.
    Client {
        /// The user's ID.
        id: ClientId,
        /// Whether the user is flagged as a platform administrator.
        is_platform_admin: bool,
    },
    /// The retention job: moderates every room, recorded as `_retention`.
    Retention,
}

impl Actor {
    /// Platform administrators: the API key, or a client flagged `isPlatformAdmin`.
    #[must_use]
    pub fn is_platform_admin(&self) -> bool {
        match self {
            Self::Platform | Self::Retention => true,
            Self::Client {
                is_platform_admin, ..
            } => *is_platform_admin,
        }
    }

    /// The caller's client ID, if it is a user.
    #[must_use]
    pub fn client_id(&self) -> Option<&ClientId> {
        match self {
            Self::Platform | Self::Retention => None,
            Self::Client { id, .. } => Some(id),
        }
    }

    /// The caller's client ID, or `PermissionDenied(ActAsClient)` for the API key.
    ///
    /// # Errors
    /// [`DomainError::PermissionDenied`] when called with the API key.
    pub fn require_client(&self) -> Result<&ClientId, DomainError> {
        self.client_id()
            .ok_or(DomainError::PermissionDenied(Action::ActAsClient))
    }

    /// How a record names this actor.
    #[must_use]
    pub fn recorded(&self) -> RecordedActor {
        match self {
            Self::Platform => RecordedActor::Platform,
            Self::Retention => RecordedActor::Retention,
            Self::Client { id, .. } => RecordedActor::Client(id.clone()),
        }
    }
}

/// Who a deletion record or a room-change record names: a client, the API key
/// (`_platform`), or the retention job (`_retention`).
///
/// On the wire and in storage it is one string ([`Self::as_str`]); a client whose ID is
/// `_platform` or `_retention` reads back as the API key or the job
/// ([`Self::from_recorded`]), as the wire format cannot tell them apart.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RecordedActor {
    /// A client, by ID.
    Client(ClientId),
    /// The API key.
    Platform,
    /// The retention job.
    Retention,
}

impl RecordedActor {
    /// The recorded name: the client ID, [`PLATFORM_ACTOR`] or [`RETENTION_ACTOR`].
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::Client(id) => id.as_str(),
            Self::Platform => PLATFORM_ACTOR,
            Self::Retention => RETENTION_ACTOR,
        }
    }

    /// Reads back a name [`Self::as_str`] wrote.
    #[must_use]
    pub fn from_recorded(name: String) -> Self {
        match name.as_str() {
            PLATFORM_ACTOR => Self::Platform,
            RETENTION_ACTOR => Self::Retention,
            _ => Self::Client(ClientId::from_trusted(name)),
        }
    }
}

impl fmt::Display for RecordedActor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for RecordedActor {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for RecordedActor {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_names_read_back_as_written() {
        for actor in [
            RecordedActor::Platform,
            RecordedActor::Retention,
            RecordedActor::Client(ClientId::from_trusted("alice".to_owned())),
        ] {
            assert_eq!(
                RecordedActor::from_recorded(actor.as_str().to_owned()),
                actor
            );
        }
        assert_eq!(Actor::Platform.recorded(), "_platform");
        assert_eq!(Actor::Retention.recorded(), "_retention");
    }
}
