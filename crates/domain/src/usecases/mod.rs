//! The use cases behind the API, one module per resource.

pub mod audit;
pub mod clients;
pub mod content;
pub mod deletion;
pub mod events;
pub mod idempotency;
pub mod messages;
pub mod ports;
pub mod purge;
pub mod reports;
pub mod retention;
pub mod rooms;

use crate::error::DomainError;

#[cfg(any(test, feature = "mock"))]
pub use ports::Mocks;
pub use ports::Ports;

/// A page of a listing whose cursor the store may not know: an unknown cursor (or one of
/// another room, or one the caller may not see) is an empty page, as after the last item, so
/// the answer reveals nothing and a client generated from the document never meets a refusal
/// of a well-formed cursor (docs/api.md §1.9).
pub(crate) fn page<T>(found: Option<Vec<T>>) -> Vec<T> {
    found.unwrap_or_default()
}

/// A page size: 1 to 100, default 20.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(u32);

impl Limit {
    /// Default page size.
    pub const DEFAULT: u32 = 20;
    /// Largest page size.
    pub const MAX: u32 = 100;

    /// Parses the `limit` query value.
    ///
    /// # Errors
    /// [`DomainError::InvalidParameter`] unless it is a whole number from 1 to 100.
    pub fn parse(raw: Option<&str>) -> Result<Self, DomainError> {
        let Some(raw) = raw else {
            return Ok(Self(Self::DEFAULT));
        };
        match raw.parse::<u32>() {
            Ok(n) if (1..=Self::MAX).contains(&n) => Ok(Self(n)),
            _ => Err(DomainError::InvalidParameter(format!(
                "limit must be a whole number from 1 to {}",
                Self::MAX
            ))),
        }
    }

    /// The number.
    #[must_use]
    pub fn get(self) -> u32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::Limit;

    #[test]
    fn limit_defaults_to_20_and_accepts_1_to_100() {
        assert_eq!(Limit::parse(None).ok().map(Limit::get), Some(20));
        assert_eq!(Limit::parse(Some("1")).ok().map(Limit::get), Some(1));
        assert_eq!(Limit::parse(Some("100")).ok().map(Limit::get), Some(100));
        for bad in ["0", "101", "-1", "x", ""] {
            assert!(Limit::parse(Some(bad)).is_err(), "{bad}");
        }
    }
}
