//! Reports (docs/api.md §7.10): a member flags a message, moderators read the queue and
//! dismiss; deletions resolve reports in storage ([`crate::ports::ReportStore`]).

use crate::actor::Actor;
use crate::error::{Action, DomainError};
use crate::ids::{MessageId, ReportId, RoomId};
use crate::model::{AuditReason, to_millis};
use crate::report::{
    DismissOutcome, Dismissal, NewReport, QueueCursor, QueueQuery, RateLimit, Report,
    ReportCategory, ReportOutcome, ReportReason, ReportState, ReportedMessage,
};
use crate::usecases::{Limit, Ports};

/// A validated report: building it is the syntax check (400) that comes after
/// authentication and before every lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    /// The room.
    pub room: RoomId,
    /// The message.
    pub message: MessageId,
    /// Why.
    pub category: ReportCategory,
    /// The reporter's words.
    pub reason: Option<ReportReason>,
}

impl FileReport {
    /// Checks the body's fields (`category` required, `reason` optional).
    ///
    /// # Errors
    /// [`DomainError::InvalidBody`] naming the field.
    pub fn new(
        room: RoomId,
        message: MessageId,
        category: Option<&str>,
        reason: Option<&str>,
    ) -> Result<Self, DomainError> {
        let category = category.and_then(ReportCategory::parse).ok_or_else(|| {
            DomainError::InvalidBody(
                "category must be one of spam, abuse, sensitive, other".to_owned(),
            )
        })?;
        Ok(Self {
            room,
            message,
            category,
            reason: reason.map(ReportReason::parse).transpose()?,
        })
    }
}

/// What filing a report answered: the report, and whether it is new (else the reporter's
/// open report of the message, returned as it was).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filed {
    /// The report.
    pub report: Report,
    /// Whether this call stored it.
    pub created: bool,
}

/// `POST /rooms/{roomID}/messages/{messageID}/reports`: a member of the room reports a
/// message visible there. Checks, after the syntax: the room (404), membership (403; the
/// API key has no identity to report with), the message (404), then the reporter's rate
/// ([`RateLimit::REPORTS`], 429). Storage makes them in one transaction.
///
/// # Errors
/// `RoomNotFound`, `PermissionDenied(ReportMessage | ActAsClient)`, `MessageNotFound`,
/// `TooManyRequests`, or a storage failure.
pub fn report_message(
    ports: &Ports<'_>,
    actor: &Actor,
    command: FileReport,
) -> Result<Filed, DomainError> {
    let Some(reporter) = actor.client_id() else {
        ports
            .rooms
            .get_room(&command.room)?
            .ok_or(DomainError::RoomNotFound)?;
        return Err(DomainError::PermissionDenied(Action::ActAsClient));
    };
    let now = to_millis(ports.clock.now());
    let report = NewReport {
        id: ReportId::generate(now),
        room: command.room,
        message: command.message,
        reporter: reporter.clone(),
        category: command.category,
        reason: command.reason,
        created_at: now,
        limit: RateLimit::REPORTS,
    };
    match ports.reports.file_report(&report)? {
        ReportOutcome::Created(report) => Ok(Filed {
            report,
            created: true,
        }),
        ReportOutcome::Existing(report) => Ok(Filed {
            report,
            created: false,
        }),
        ReportOutcome::RoomNotFound => Err(DomainError::RoomNotFound),
        ReportOutcome::NotMember => Err(DomainError::PermissionDenied(Action::ReportMessage)),
        ReportOutcome::MessageNotFound => Err(DomainError::MessageNotFound),
        ReportOutcome::Limited { oldest } => Err(DomainError::TooManyRequests {
            retry_after_secs: report.limit.retry_after(oldest, now),
        }),
    }
}

/// A queue's query parameters, checked: `state` (default `open`), `before` (a cursor),
/// `limit` (1 to 100, default 20).
///
/// # Errors
/// [`DomainError::InvalidParameter`] naming the parameter.
pub fn queue_query(
    room: Option<RoomId>,
    state: Option<&str>,
    before: Option<&str>,
    limit: Option<&str>,
) -> Result<QueueQuery, DomainError> {
    let state = match state {
        None => ReportState::Open,
        Some(raw) => ReportState::parse(raw).ok_or_else(|| {
            DomainError::InvalidParameter("state must be open, deleted or dismissed".to_owned())
        })?,
    };
    Ok(QueueQuery {
        room,
        state,
        before: before.map(QueueCursor::decode).transpose()?,
        limit: Limit::parse(limit)?.get(),
    })
}

/// `GET /rooms/{roomID}/reports`: the room's owner, managers and platform admins.
///
/// # Errors
/// `RoomNotFound`, `PermissionDenied(ModerateReports)`, or a storage failure.
pub fn room_queue(
    ports: &Ports<'_>,
    actor: &Actor,
    room: &RoomId,
    query: &QueueQuery,
) -> Result<Vec<ReportedMessage>, DomainError> {
    let found = ports
        .rooms
        .get_room(room)?
        .ok_or(DomainError::RoomNotFound)?;
    if !found.can_moderate(actor) {
        return Err(DomainError::PermissionDenied(Action::ModerateReports));
    }
    let query = QueueQuery {
        room: Some(room.clone()),
        ..query.clone()
    };
    Ok(ports.reports.list_reported(&query)?)
}

/// `GET /admin/reports`: every room's queue (or one room's, `query.room`), for the API key.
///
/// # Errors
/// `InvalidApiKey` for any other caller, or a storage failure.
pub fn platform_queue(
    ports: &Ports<'_>,
    actor: &Actor,
    query: &QueueQuery,
) -> Result<Vec<ReportedMessage>, DomainError> {
    if *actor != Actor::Platform {
        return Err(DomainError::InvalidApiKey);
    }
    Ok(ports.reports.list_reported(query)?)
}

/// What a dismissal answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dismissed {
    /// How many open reports were dismissed.
    pub count: u64,
    /// The room.
    pub room: RoomId,
    /// The message.
    pub message: MessageId,
}

/// `POST /rooms/{roomID}/messages/{messageID}/reports/dismiss`: the room's moderators
/// dismiss every open report of the message. Storage checks the room (404), the actor's
/// role under the room's lock (403), then that an open report exists (404 `ReportNotFound`).
///
/// # Errors
/// `RoomNotFound`, `PermissionDenied(ModerateReports)`, `ReportNotFound`, or a storage
/// failure.
pub fn dismiss_reports(
    ports: &Ports<'_>,
    actor: &Actor,
    room: RoomId,
    message: MessageId,
    reason: Option<AuditReason>,
) -> Result<Dismissed, DomainError> {
    let dismissal = Dismissal {
        room,
        message,
        actor: actor.clone(),
        at: to_millis(ports.clock.now()),
        reason,
    };
    match ports.reports.dismiss_reports(&dismissal)? {
        DismissOutcome::Dismissed(count) => Ok(Dismissed {
            count,
            room: dismissal.room,
            message: dismissal.message,
        }),
        DismissOutcome::RoomNotFound => Err(DomainError::RoomNotFound),
        DismissOutcome::PermissionDenied => {
            Err(DomainError::PermissionDenied(Action::ModerateReports))
        }
        DismissOutcome::NoOpenReport => Err(DomainError::ReportNotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::fixtures::{rid, user};
    use crate::time::Clock;
    use crate::usecases::Mocks;

    fn mid(s: &str) -> MessageId {
        MessageId::parse(s).expect("id")
    }

    #[test]
    fn the_body_is_checked_before_anything_is_read() {
        let bad = FileReport::new(rid("r"), mid("m"), Some("nonsense"), None);
        assert!(matches!(bad, Err(DomainError::InvalidBody(_))));
        let missing = FileReport::new(rid("r"), mid("m"), None, None);
        assert!(matches!(missing, Err(DomainError::InvalidBody(_))));
        let long = FileReport::new(rid("r"), mid("m"), Some("spam"), Some(&"x".repeat(513)));
        assert!(matches!(long, Err(DomainError::InvalidBody(_))));
        assert!(FileReport::new(rid("r"), mid("m"), Some("other"), Some("")).is_ok());
    }

    #[test]
    fn over_the_rate_the_answer_says_when_to_retry() {
        let mut mocks = Mocks::default();
        let now = to_millis(mocks.clock.now());
        let oldest = now - chrono::Duration::seconds(45);
        mocks
            .reports
            .expect_file_report()
            .returning(move |_| Ok(ReportOutcome::Limited { oldest }));
        let command = FileReport::new(rid("r"), mid("m"), Some("spam"), None).expect("valid");
        match report_message(&mocks.ports(), &user("u"), command) {
            Err(DomainError::TooManyRequests { retry_after_secs }) => {
                assert!((14..=16).contains(&retry_after_secs), "{retry_after_secs}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_api_key_cannot_report_but_learns_first_whether_the_room_exists() {
        let mut mocks = Mocks::default();
        mocks.rooms.expect_get_room().returning(|_| Ok(None));
        let command = FileReport::new(rid("r"), mid("m"), Some("spam"), None).expect("valid");
        assert!(matches!(
            report_message(&mocks.ports(), &Actor::Platform, command),
            Err(DomainError::RoomNotFound)
        ));
    }

    #[test]
    fn the_platform_queue_is_the_api_key_s_alone() {
        let mocks = Mocks::default();
        let query = queue_query(None, None, None, None).expect("defaults");
        assert_eq!(query.state, ReportState::Open);
        assert_eq!(query.limit, 20);
        assert!(matches!(
            platform_queue(&mocks.ports(), &user("admin"), &query),
            Err(DomainError::InvalidApiKey)
        ));
        assert!(queue_query(None, Some("closed"), None, None).is_err());
        assert!(queue_query(None, None, Some("nope"), None).is_err());
    }
}
