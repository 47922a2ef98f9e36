//! Which messages a moderation deletion applies to: the filters of a clear
//! and of a user purge (docs/api.md §7.3, §7.6), as one validated value type.

use crate::error::DomainError;
use crate::ids::{ClientId, MessageId};
use chrono::{DateTime, Utc};

/// Most distinct senders one filter may name.
pub const MAX_SENDERS: usize = 20;

/// One end of a time window: a time, or a message of the room (its position in the room).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bound {
    /// A time, to the millisecond.
    At(DateTime<Utc>),
    /// A message of the room: the bound is its place in the room's order, not its time.
    Message(MessageId),
}

impl Bound {
    /// Parses `before`/`after` of a room clear: Unix milliseconds (digits only, so an
    /// all-digit value is always a time), an ISO 8601 time with offset, or a message ID.
    ///
    /// # Errors
    /// [`DomainError::InvalidParameter`] naming `field` when it is none of those.
    pub fn parse(field: &str, raw: &str) -> Result<Self, DomainError> {
        let time = Self::parse_time(field, raw);
        if time.is_ok() || is_all_digits(raw) {
            // Out of range digits are a bad time, never a message ID.
            return time;
        }
        MessageId::parse(raw).map(Self::Message).map_err(|_| {
            DomainError::InvalidParameter(format!(
                "{field} must be an ISO 8601 time, Unix milliseconds or a message ID"
            ))
        })
    }

    /// Parses a time only (Unix milliseconds or ISO 8601), as a user purge takes it.
    ///
    /// # Errors
    /// [`DomainError::InvalidParameter`] naming `field`.
    pub fn parse_time(field: &str, raw: &str) -> Result<Self, DomainError> {
        let bad = || {
            DomainError::InvalidParameter(format!(
                "{field} must be an ISO 8601 time or Unix milliseconds"
            ))
        };
        let time = if is_all_digits(raw) {
            Some(raw)
                .filter(|r| r.len() <= MAX_MILLIS_DIGITS)
                .and_then(|r| r.parse::<i64>().ok())
                .and_then(DateTime::from_timestamp_millis)
                .ok_or_else(bad)?
        } else {
            DateTime::parse_from_rfc3339(raw)
                .map_err(|_| bad())?
                .with_timezone(&Utc)
        };
        Ok(Self::At(crate::time::to_millis(time)))
    }

    /// The time, when this bound is one.
    #[must_use]
    pub fn time(&self) -> Option<DateTime<Utc>> {
        match self {
            Self::At(t) => Some(*t),
            Self::Message(_) => None,
        }
    }
}

/// Most digits of a time given as Unix milliseconds (up to year 33658): an all-digit value
/// with more is out of range, whatever its value, so that the rule is a pattern a client can
/// check (`^[0-9]{1,15}$`).
pub const MAX_MILLIS_DIGITS: usize = 15;

/// Whether `raw` is Unix milliseconds in form (digits only), whatever its range.
fn is_all_digits(raw: &str) -> bool {
    !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit())
}

/// The messages a deletion applies to: sent strictly before `before`, strictly after
/// `after`, by one of `senders` (any sender when empty). The empty filter is every message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageFilter {
    /// Upper bound (exclusive).
    pub before: Option<Bound>,
    /// Lower bound (exclusive).
    pub after: Option<Bound>,
    /// Senders, distinct, in the order first given; empty for all.
    pub senders: Vec<ClientId>,
}

impl MessageFilter {
    /// Builds a filter, checking the rules that need no storage: at most [`MAX_SENDERS`]
    /// distinct senders (repeats are dropped), and `before` later than `after` when both
    /// are times. With message IDs the order is known only in storage; an empty window then
    /// matches nothing.
    ///
    /// # Errors
    /// [`DomainError::InvalidParameter`].
    pub fn new(
        before: Option<Bound>,
        after: Option<Bound>,
        senders: Vec<ClientId>,
    ) -> Result<Self, DomainError> {
        let mut distinct: Vec<ClientId> = Vec::with_capacity(senders.len());
        for s in senders {
            if !distinct.contains(&s) {
                distinct.push(s);
            }
        }
        if distinct.len() > MAX_SENDERS {
            return Err(DomainError::InvalidParameter(format!(
                "sender may be given at most {MAX_SENDERS} distinct times"
            )));
        }
        if let (Some(b), Some(a)) = (
            before.as_ref().and_then(Bound::time),
            after.as_ref().and_then(Bound::time),
        ) && b <= a
        {
            return Err(DomainError::InvalidParameter(
                "before must be later than after".to_owned(),
            ));
        }
        Ok(Self {
            before,
            after,
            senders: distinct,
        })
    }

    /// Every message of the room: the seed's clear.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.before.is_none() && self.after.is_none() && self.senders.is_empty()
    }

    /// Whether a message sent by `sender` at `sent_at` is inside the filter's time window
    /// and sender set. Message bounds are not evaluated here (they need the room's order):
    /// callers that allow them resolve them first.
    #[must_use]
    pub fn matches(&self, sender: &ClientId, sent_at: DateTime<Utc>) -> bool {
        let before_ok = self
            .before
            .as_ref()
            .and_then(Bound::time)
            .is_none_or(|b| sent_at < b);
        let after_ok = self
            .after
            .as_ref()
            .and_then(Bound::time)
            .is_none_or(|a| sent_at > a);
        let sender_ok = self.senders.is_empty() || self.senders.contains(sender);
        before_ok && after_ok && sender_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> Bound {
        Bound::At(DateTime::from_timestamp_millis(ms).expect("valid"))
    }

    #[test]
    fn bounds_parse_as_millis_iso_or_message_id() {
        assert_eq!(Bound::parse("before", "1000").ok(), Some(at(1000)));
        assert_eq!(
            Bound::parse("before", "1970-01-01T00:00:01.5+00:00").ok(),
            Some(at(1500))
        );
        assert_eq!(
            Bound::parse("before", "m-1").ok(),
            Some(Bound::Message(MessageId::from_trusted("m-1".to_owned())))
        );
        for bad in ["", "a b", "2023-13-01T00:00:00Z x"] {
            assert!(Bound::parse("before", bad).is_err(), "{bad:?}");
        }
        assert!(Bound::parse_time("after", "m-1").is_err());
        assert!(Bound::parse_time("after", "99999999999999999999").is_err());
        assert!(Bound::parse_time("after", "999999999999999").is_ok());
        assert!(
            Bound::parse_time("after", "1000000000000000").is_err(),
            "16 digits, though a valid time"
        );
    }

    #[test]
    fn windows_must_be_ordered_and_senders_bounded() {
        assert!(MessageFilter::new(Some(at(5)), Some(at(5)), vec![]).is_err());
        assert!(MessageFilter::new(Some(at(6)), Some(at(5)), vec![]).is_ok());
        let many: Vec<ClientId> = (0..=MAX_SENDERS)
            .map(|i| ClientId::from_trusted(format!("u{i}")))
            .collect();
        assert!(MessageFilter::new(None, None, many.clone()).is_err());
        let repeated = vec![many[0].clone(); 30];
        let f = MessageFilter::new(None, None, repeated).expect("one distinct sender");
        assert_eq!(f.senders.len(), 1);
    }

    #[test]
    fn matching_is_strict_on_both_ends() {
        let alice = ClientId::from_trusted("alice".to_owned());
        let bob = ClientId::from_trusted("bob".to_owned());
        let f = MessageFilter::new(Some(at(10)), Some(at(5)), vec![alice.clone()]).expect("ok");
        let t = |ms| DateTime::from_timestamp_millis(ms).expect("valid");
        assert!(f.matches(&alice, t(6)));
        assert!(!f.matches(&alice, t(5)) && !f.matches(&alice, t(10)));
        assert!(!f.matches(&bob, t(6)));
        assert!(MessageFilter::default().matches(&bob, t(0)));
    }
}
