//! Which messages a moderation deletion applies to: the filters of a clear, of a user
//! purge and of a clear by content (docs/api.md §7.3, §7.6, §7.9), as one validated value
//! type.

use crate::error::DomainError;
use crate::ids::{ClientId, MessageId};
use chrono::{DateTime, Utc};
use serde_json::Value;

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

/// Most strings one content filter may hold.
pub const MAX_CONTAINS: usize = 5;
/// Fewest characters (Unicode scalar values) of one `contains` string.
pub const MIN_CONTAINS_CHARS: usize = 3;
/// Most characters of one `contains` string.
pub const MAX_CONTAINS_CHARS: usize = 200;

/// A clear by content's strings (`contains`): a message matches when one of them occurs in
/// its text, compared under Unicode simple case folding. A message's text is the string
/// itself for a string message, and every string value (not the keys) of a JSON message.
///
/// Equality compares the strings only (the matcher is built from them).
#[derive(Debug, Clone, Default)]
pub struct Contains {
    strings: Vec<String>,
    /// Every string, escaped, as one case-insensitive alternation: the `regex` crate folds
    /// case with Unicode's simple case folding, the rule the contract names. Built on the
    /// first comparison, so that filters only read back (audit records) never build it.
    matcher: std::sync::OnceLock<Option<regex::Regex>>,
}

impl PartialEq for Contains {
    fn eq(&self, other: &Self) -> bool {
        self.strings == other.strings
    }
}

impl Eq for Contains {}

impl Contains {
    /// Builds the filter from the strings given (repeats dropped, order kept).
    ///
    /// # Errors
    /// [`DomainError::InvalidParameter`] for more than [`MAX_CONTAINS`] strings (repeats
    /// count: the rule a schema can state), or one shorter than [`MIN_CONTAINS_CHARS`] or
    /// longer than [`MAX_CONTAINS_CHARS`] characters.
    pub fn new(strings: Vec<String>) -> Result<Self, DomainError> {
        if strings.len() > MAX_CONTAINS {
            return Err(DomainError::InvalidParameter(format!(
                "contains may be given at most {MAX_CONTAINS} times"
            )));
        }
        let mut distinct: Vec<String> = Vec::with_capacity(strings.len());
        for s in strings {
            let chars = s.chars().count();
            if !(MIN_CONTAINS_CHARS..=MAX_CONTAINS_CHARS).contains(&chars) {
                return Err(DomainError::InvalidParameter(format!(
                    "contains must be {MIN_CONTAINS_CHARS} to {MAX_CONTAINS_CHARS} characters"
                )));
            }
            if !distinct.contains(&s) {
                distinct.push(s);
            }
        }
        Ok(Self::from_trusted(distinct))
    }

    /// The filter of strings read back from trusted storage (an audit record's), as stored:
    /// not checked again, so a record written under other limits still reads as written.
    #[must_use]
    pub fn from_trusted(strings: Vec<String>) -> Self {
        Self {
            strings,
            matcher: std::sync::OnceLock::new(),
        }
    }

    /// The matcher of the strings; `None` without strings, or if it could not be built (at
    /// most 5 escaped strings of 200 characters are far below the size limit, so never in
    /// practice): a filter that matches nothing then, never one that matches everything.
    fn matcher(&self) -> Option<&regex::Regex> {
        self.matcher
            .get_or_init(|| {
                let pattern: Vec<String> = self.strings.iter().map(|s| regex::escape(s)).collect();
                regex::RegexBuilder::new(&pattern.join("|"))
                    .case_insensitive(true)
                    .size_limit(1 << 26)
                    .build()
                    .ok()
            })
            .as_ref()
    }

    /// The strings, distinct, in the order first given.
    #[must_use]
    pub fn strings(&self) -> &[String] {
        &self.strings
    }

    /// No string: every message matches.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.strings.is_empty()
    }

    /// Whether `text` contains one of the strings, ignoring case (simple case folding).
    #[must_use]
    pub fn matches_text(&self, text: &str) -> bool {
        self.is_empty() || self.matcher().is_some_and(|m| m.is_match(text))
    }

    /// Whether a message's text contains one of the strings, given the message's content
    /// as its serialized JSON ([`crate::model::MessageContent::as_json`]): the string of a
    /// string message, any string value inside a JSON message. Content that is not JSON
    /// (never stored by this crate's callers) is matched as text.
    #[must_use]
    pub fn matches(&self, json: &str) -> bool {
        if self.is_empty() {
            return true;
        }
        match serde_json::from_str::<Value>(json) {
            Ok(value) => self.matches_value(&value),
            Err(_) => self.matches_text(json),
        }
    }

    fn matches_value(&self, value: &Value) -> bool {
        match value {
            Value::String(s) => self.matches_text(s),
            Value::Array(items) => items.iter().any(|v| self.matches_value(v)),
            Value::Object(fields) => fields.values().any(|v| self.matches_value(v)),
            Value::Null | Value::Bool(_) | Value::Number(_) => false,
        }
    }
}

/// The messages a deletion applies to: sent strictly before `before`, strictly after
/// `after`, by one of `senders` (any sender when empty), containing one of `contains`
/// (any content when empty). The empty filter is every message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageFilter {
    /// Upper bound (exclusive).
    pub before: Option<Bound>,
    /// Lower bound (exclusive).
    pub after: Option<Bound>,
    /// Senders, distinct, in the order first given; empty for all.
    pub senders: Vec<ClientId>,
    /// Text the message must contain (one of the strings); empty for any.
    pub contains: Contains,
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
            contains: Contains::default(),
        })
    }

    /// The same filter, also requiring one of `contains` in the message's text.
    #[must_use]
    pub fn with_contains(self, contains: Contains) -> Self {
        Self { contains, ..self }
    }

    /// Every message of the room: the seed's clear.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.before.is_none()
            && self.after.is_none()
            && self.senders.is_empty()
            && self.contains.is_empty()
    }

    /// Whether a message sent by `sender` at `sent_at` is inside the filter's time window
    /// and sender set. Message bounds are not evaluated here (they need the room's order):
    /// callers that allow them resolve them first; nor is the content ([`Contains::matches`]).
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

    fn contains(strings: &[&str]) -> Contains {
        Contains::new(strings.iter().map(|s| (*s).to_owned()).collect()).expect("valid")
    }

    fn json(text: &str) -> &str {
        text
    }

    #[test]
    fn contains_strings_are_bounded_in_number_and_length() {
        let s = |n: usize| "é".repeat(n);
        assert!(Contains::new(vec![s(2)]).is_err(), "2 characters");
        assert!(Contains::new(vec![s(3)]).is_ok(), "3 characters, 6 bytes");
        assert!(Contains::new(vec![s(200)]).is_ok());
        assert!(Contains::new(vec![s(201)]).is_err());
        let six: Vec<String> = (0..6).map(|i| format!("spam{i}")).collect();
        assert!(Contains::new(six.clone()).is_err());
        assert!(
            Contains::new(vec![six[0].clone(); 6]).is_err(),
            "repeats count"
        );
        let repeated = vec![six[0].clone(); 5];
        assert_eq!(Contains::new(repeated).expect("one").strings().len(), 1);
        let f = MessageFilter::default().with_contains(contains(&["abc"]));
        assert!(!f.is_empty());
    }

    #[test]
    fn contains_folds_case_on_string_values_only() {
        let c = contains(&["bit.ly/X", "ΦΙΑΣ"]);
        assert!(c.matches(json(r#""see BIT.LY/x now""#)));
        assert!(c.matches(json(r#"{"a":[1,{"b":"go bit.ly/x"}]}"#)));
        assert!(!c.matches(json(r#"{"bit.ly/x":1}"#)), "a key is not text");
        assert!(!c.matches(json(r#""bit-ly/x""#)), "a dot is not a wildcard");
        // Simple case folding: final sigma, the Kelvin sign and the long s fold.
        assert!(c.matches(json(r#""σοφιας""#)), "final sigma");
        assert!(!c.matches(json(r#""σοφια""#)));
        let k = contains(&["kiss"]);
        assert!(k.matches(json("\"\u{212a}i\u{17f}s\"")), "KIſs");
        // Full case folding would also match "ß" to "ss": simple folding does not.
        assert!(!contains(&["strasse"]).matches(json(r#""STRAßE""#)));
        assert!(contains(&["straße"]).matches(json(r#""STRAẞE""#)));
        // Escapes in the stored JSON are read as the text they stand for.
        assert!(contains(&["a\"b"]).matches(json(r#""xA\"By""#)));
        assert!(Contains::default().matches(json("1")));
    }
}
