//! Reports: members flag messages, moderators act (docs/api.md §7.10).
//!
//! A member reports a message visible in a room; the report stays `open` until a deletion
//! that removes the message resolves it (`deleted`, with the deletion's ID, in the
//! deletion's own transaction) or a moderator dismisses it (`dismissed`). A report never
//! keeps a copy of the message's content: the queue shows the content only while the
//! message is visible.

use crate::actor::{Actor, RecordedActor};
use crate::error::DomainError;
use crate::ids::{ClientId, DeletionId, MessageId, ReportId, RoomId};
use crate::model::{AuditReason, MessageContent};
use chrono::{DateTime, Utc};

/// Why a member reports a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReportCategory {
    /// Unsolicited or repeated content.
    Spam,
    /// Harassment, threats, hate.
    Abuse,
    /// Personal or secret data.
    Sensitive,
    /// Anything else.
    Other,
}

impl ReportCategory {
    /// Every category, in the order listings show them.
    pub const ALL: [Self; 4] = [Self::Spam, Self::Abuse, Self::Sensitive, Self::Other];

    /// The wire and stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Spam => "spam",
            Self::Abuse => "abuse",
            Self::Sensitive => "sensitive",
            Self::Other => "other",
        }
    }

    /// The category named `name`, if any.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

/// Where a report stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReportState {
    /// Waiting for a moderator.
    Open,
    /// Its message was deleted (by any deletion path).
    Deleted,
    /// A moderator dismissed it.
    Dismissed,
}

impl ReportState {
    /// The wire and stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Deleted => "deleted",
            Self::Dismissed => "dismissed",
        }
    }

    /// The state named `name`, if any.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Open, Self::Deleted, Self::Dismissed]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

/// A report's optional free text: at most [`ReportReason::MAX_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportReason(String);

impl ReportReason {
    /// Longest reason, in characters.
    pub const MAX_CHARS: usize = 512;

    /// Validates `raw`.
    ///
    /// # Errors
    /// [`DomainError::InvalidBody`] when it is longer than [`Self::MAX_CHARS`].
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(DomainError::InvalidBody(format!(
                "reason must be at most {} characters",
                Self::MAX_CHARS
            )));
        }
        Ok(Self(raw.to_owned()))
    }

    /// Wraps a value read back from trusted storage.
    #[must_use]
    pub fn from_trusted(raw: String) -> Self {
        Self(raw)
    }

    /// The text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How a report ended; `None` on a report while it is open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Resolved by the deletion (audit record) with this ID.
    Deleted(DeletionId),
    /// Dismissed by a moderator.
    Dismissed {
        /// Who dismissed it.
        by: RecordedActor,
        /// When.
        at: DateTime<Utc>,
        /// The dismissal's `X-Audit-Log-Reason`, if given.
        reason: Option<AuditReason>,
    },
}

/// A report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Its ID.
    pub id: ReportId,
    /// The room of the message.
    pub room: RoomId,
    /// The reported message.
    pub message: MessageId,
    /// Who sent the message.
    pub sender: ClientId,
    /// Who reported it.
    pub reporter: ClientId,
    /// Why.
    pub category: ReportCategory,
    /// The reporter's words, if any.
    pub reason: Option<ReportReason>,
    /// When it was reported.
    pub created_at: DateTime<Utc>,
    /// How it ended; `None` while open.
    pub resolution: Option<Resolution>,
}

impl Report {
    /// Where it stands.
    #[must_use]
    pub fn state(&self) -> ReportState {
        match self.resolution {
            None => ReportState::Open,
            Some(Resolution::Deleted(_)) => ReportState::Deleted,
            Some(Resolution::Dismissed { .. }) => ReportState::Dismissed,
        }
    }
}

/// How many reports a reporter may open per [`RateLimit::window`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Most new reports in a window.
    pub max: u32,
    /// The sliding window.
    pub window: chrono::Duration,
}

impl RateLimit {
    /// The contract's: 60 reports a minute.
    pub const REPORTS: Self = Self {
        max: 60,
        window: chrono::Duration::seconds(60),
    };

    /// Seconds until a reporter whose oldest report in the window is `oldest` may report
    /// again at `now` (at least 1).
    #[must_use]
    pub fn retry_after(&self, oldest: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
        let frees = oldest + self.window;
        let ms = u64::try_from((frees - now).num_milliseconds()).unwrap_or(0);
        ms.div_ceil(1000).max(1)
    }
}

/// A report about to be stored: storage checks, in one transaction and in this order, that
/// the room exists, that the reporter is a member, that the message is visible there, that
/// the reporter has no open report of it (else answers that one), and the rate limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReport {
    /// The ID it gets if it is stored.
    pub id: ReportId,
    /// The room.
    pub room: RoomId,
    /// The message.
    pub message: MessageId,
    /// Who reports.
    pub reporter: ClientId,
    /// Why.
    pub category: ReportCategory,
    /// The reporter's words.
    pub reason: Option<ReportReason>,
    /// Now.
    pub created_at: DateTime<Utc>,
    /// The reporter's limit.
    pub limit: RateLimit,
}

/// How filing a report ended in storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportOutcome {
    /// Stored (with its event, in the same transaction).
    Created(Report),
    /// The reporter's open report of the message, unchanged: nothing was written.
    Existing(Report),
    /// No such room.
    RoomNotFound,
    /// The reporter is not a member of the room.
    NotMember,
    /// The message is not visible in the room.
    MessageNotFound,
    /// Over the reporter's [`RateLimit`]: the oldest of its reports in the window.
    Limited {
        /// When the oldest report in the window was made.
        oldest: DateTime<Utc>,
    },
}

/// Reports of one category per category ([`ReportCategory::ALL`] order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CategoryCounts(pub [u64; 4]);

impl CategoryCounts {
    /// The count of `category`.
    #[must_use]
    pub fn of(&self, category: ReportCategory) -> u64 {
        self.0[category as usize]
    }

    /// Counts one more report of `category`.
    pub fn add(&mut self, category: ReportCategory) {
        self.0[category as usize] += 1;
    }
}

/// A reported message in a queue: its reports of one state, aggregated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportedMessage {
    /// The room.
    pub room: RoomId,
    /// The message.
    pub message: MessageId,
    /// Who sent it.
    pub sender: ClientId,
    /// Its content while it is visible, else `None`.
    pub content: Option<MessageContent>,
    /// How many reports of the state asked for it has.
    pub report_count: u64,
    /// Those reports per category.
    pub categories: CategoryCounts,
    /// The oldest of those reports' time.
    pub first_reported_at: DateTime<Utc>,
    /// The newest of those reports' time.
    pub last_reported_at: DateTime<Utc>,
    /// The newest [`QUEUE_REPORTS`] of those reports, newest first.
    pub reports: Vec<Report>,
}

impl ReportedMessage {
    /// The cursor that pages on after this item.
    #[must_use]
    pub fn cursor(&self) -> QueueCursor {
        QueueCursor {
            report_count: self.report_count,
            last_reported_ms: self.last_reported_at.timestamp_millis(),
            room: self.room.clone(),
            message: self.message.clone(),
        }
    }
}

/// Most reports a queue item lists.
pub const QUEUE_REPORTS: usize = 10;

/// Where a queue page starts: strictly after this item in the queue's order (most reported
/// first, then the most recent report first, then room and message ID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueCursor {
    /// The item's report count.
    pub report_count: u64,
    /// Its newest report's time, in Unix milliseconds.
    pub last_reported_ms: i64,
    /// Its room.
    pub room: RoomId,
    /// Its message.
    pub message: MessageId,
}

impl QueueCursor {
    /// Most digits of the cursor's two numbers (as Unix milliseconds anywhere).
    pub const MAX_DIGITS: usize = 15;

    /// The text a client sends back as `before`: `count/ms/room/message` (IDs never contain
    /// `/`, so the parts split unambiguously).
    #[must_use]
    pub fn encode(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.report_count,
            self.last_reported_ms,
            self.room.as_str(),
            self.message.as_str()
        )
    }

    /// Reads back what [`Self::encode`] wrote. The IDs are a position in the queue's order,
    /// not a lookup: any non-empty text is taken as it is.
    ///
    /// # Errors
    /// [`DomainError::InvalidParameter`] for anything else.
    pub fn decode(raw: &str) -> Result<Self, DomainError> {
        let bad = || {
            DomainError::InvalidParameter(
                "before must be the cursor of a queue item from a previous page".to_owned(),
            )
        };
        let number = |part: &str| -> Result<i64, DomainError> {
            if part.is_empty()
                || part.len() > Self::MAX_DIGITS
                || !part.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(bad());
            }
            part.parse().map_err(|_| bad())
        };
        let parts: Vec<&str> = raw.split('/').collect();
        let [count, ms, room, message] = parts.as_slice() else {
            return Err(bad());
        };
        if room.is_empty() || message.is_empty() {
            return Err(bad());
        }
        Ok(Self {
            report_count: u64::try_from(number(count)?).map_err(|_| bad())?,
            last_reported_ms: number(ms)?,
            room: RoomId::from_trusted((*room).to_owned()),
            message: MessageId::from_trusted((*message).to_owned()),
        })
    }
}

/// Which queue page to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueQuery {
    /// One room, or every room.
    pub room: Option<RoomId>,
    /// Reports of this state.
    pub state: ReportState,
    /// Strictly after this item.
    pub before: Option<QueueCursor>,
    /// Most items (1 to 100).
    pub limit: u32,
}

/// A dismissal about to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dismissal {
    /// The room.
    pub room: RoomId,
    /// The message whose open reports are dismissed.
    pub message: MessageId,
    /// Who dismisses: storage checks, under the room's lock, that they moderate the room.
    pub actor: Actor,
    /// Now.
    pub at: DateTime<Utc>,
    /// The `X-Audit-Log-Reason`, if given.
    pub reason: Option<AuditReason>,
}

/// How a dismissal ended in storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DismissOutcome {
    /// This many open reports were dismissed (at least one).
    Dismissed(u64),
    /// No such room.
    RoomNotFound,
    /// The actor does not moderate the room.
    PermissionDenied,
    /// The message has no open report.
    NoOpenReport,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back() {
        for c in ReportCategory::ALL {
            assert_eq!(ReportCategory::parse(c.as_str()), Some(c));
        }
        assert_eq!(ReportCategory::parse("Spam"), None);
        for s in [
            ReportState::Open,
            ReportState::Deleted,
            ReportState::Dismissed,
        ] {
            assert_eq!(ReportState::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn reasons_are_counted_in_characters() {
        assert!(ReportReason::parse(&"é".repeat(512)).is_ok());
        assert!(ReportReason::parse(&"é".repeat(513)).is_err());
    }

    #[test]
    fn cursors_round_trip_and_reject_anything_else() {
        let c = QueueCursor {
            report_count: 3,
            last_reported_ms: 1_790_000_000_123,
            room: RoomId::parse("room.with.dots").expect("id"),
            message: MessageId::parse("m-1").expect("id"),
        };
        assert_eq!(QueueCursor::decode(&c.encode()).expect("decodes"), c);
        let longest = "9".repeat(QueueCursor::MAX_DIGITS);
        assert!(QueueCursor::decode(&format!("{longest}/{longest}/r/m")).is_ok());
        for bad in [
            "",
            "1/2/r",
            "x/1/r/m",
            "1/-2/r/m",
            "-1/2/r/m",
            "1/2//m",
            "1/2/r/",
            "1/2/r/m/n",
            "+1/2/r/m",
            "1/9999999999999999/r/m",
            "9999999999999999/2/r/m",
        ] {
            assert!(QueueCursor::decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn retry_after_rounds_up_to_the_window_s_end() {
        let now = DateTime::from_timestamp_millis(100_000).expect("time");
        let oldest = now - chrono::Duration::milliseconds(59_001);
        assert_eq!(RateLimit::REPORTS.retry_after(oldest, now), 1);
        assert_eq!(RateLimit::REPORTS.retry_after(now, now), 60);
        let long_ago = now - chrono::Duration::seconds(120);
        assert_eq!(RateLimit::REPORTS.retry_after(long_ago, now), 1);
    }
}
