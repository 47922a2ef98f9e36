//! Wire shapes of reports (docs/api.md §7.10): the report body, a report, the queues, a
//! dismissal's result, and the `MESSAGE_REPORTED` event's body as the event log shows it.

use super::iso;
use roomwarden_domain::report::{Report, ReportCategory, ReportState, ReportedMessage, Resolution};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;

/// `POST /rooms/{roomID}/messages/{messageID}/reports`.
#[derive(Deserialize, ToSchema)]
pub struct ReportBody {
    /// Why: `spam`, `abuse`, `sensitive` or `other`.
    #[schema(value_type = ReportCategoryDto, required = true)]
    pub category: Option<String>,
    /// The reporter's words, at most 512 characters.
    pub reason: Option<String>,
}

/// Where a report stands.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReportStateDto {
    /// Waiting for a moderator.
    Open,
    /// Its message was deleted.
    Deleted,
    /// A moderator dismissed it.
    Dismissed,
}

impl From<ReportState> for ReportStateDto {
    fn from(s: ReportState) -> Self {
        match s {
            ReportState::Open => Self::Open,
            ReportState::Deleted => Self::Deleted,
            ReportState::Dismissed => Self::Dismissed,
        }
    }
}

/// A report's category.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReportCategoryDto {
    /// Unsolicited or repeated content.
    Spam,
    /// Harassment, threats, hate.
    Abuse,
    /// Personal or secret data.
    Sensitive,
    /// Anything else.
    Other,
}

impl From<ReportCategory> for ReportCategoryDto {
    fn from(c: ReportCategory) -> Self {
        match c {
            ReportCategory::Spam => Self::Spam,
            ReportCategory::Abuse => Self::Abuse,
            ReportCategory::Sensitive => Self::Sensitive,
            ReportCategory::Other => Self::Other,
        }
    }
}

/// A report.
#[derive(Serialize, ToSchema)]
pub struct ReportDto {
    /// Report ID.
    #[serde(rename = "_id")]
    pub id: String,
    /// Room ID.
    #[serde(rename = "roomID")]
    pub room_id: String,
    /// The reported message's ID.
    #[serde(rename = "messageID")]
    pub message_id: String,
    /// Who reported it.
    pub reporter: String,
    /// Why.
    pub category: ReportCategoryDto,
    /// The reporter's words, or `null`.
    #[schema(required = true)]
    pub reason: Option<String>,
    /// When it was reported.
    #[serde(rename = "createdAt")]
    pub created_at: String,
    /// Where it stands.
    pub state: ReportStateDto,
    /// The deletion (audit record `_id`) that resolved it; only once `deleted`.
    #[serde(rename = "deletionID", skip_serializing_if = "Option::is_none")]
    pub deletion_id: Option<String>,
    /// Who dismissed it (a client ID, or `_platform`); only once `dismissed`.
    #[serde(rename = "dismissedBy", skip_serializing_if = "Option::is_none")]
    pub dismissed_by: Option<String>,
    /// When it was dismissed; only once `dismissed`.
    #[serde(rename = "dismissedAt", skip_serializing_if = "Option::is_none")]
    pub dismissed_at: Option<String>,
    /// The dismissal's `X-Audit-Log-Reason`; only once `dismissed` with one.
    #[serde(rename = "dismissReason", skip_serializing_if = "Option::is_none")]
    pub dismiss_reason: Option<String>,
}

impl From<Report> for ReportDto {
    fn from(r: Report) -> Self {
        let state = r.state().into();
        let (mut deletion_id, mut dismissed_by, mut dismissed_at, mut dismiss_reason) =
            (None, None, None, None);
        match r.resolution {
            None => {}
            Some(Resolution::Deleted(id)) => deletion_id = Some(id.as_str().to_owned()),
            Some(Resolution::Dismissed { by, at, reason }) => {
                dismissed_by = Some(by.as_str().to_owned());
                dismissed_at = Some(iso(at));
                dismiss_reason = reason.map(|x| x.as_str().to_owned());
            }
        }
        Self {
            id: r.id.as_str().to_owned(),
            room_id: r.room.as_str().to_owned(),
            message_id: r.message.as_str().to_owned(),
            reporter: r.reporter.as_str().to_owned(),
            category: r.category.into(),
            reason: r.reason.map(|x| x.as_str().to_owned()),
            created_at: iso(r.created_at),
            state,
            deletion_id,
            dismissed_by,
            dismissed_at,
            dismiss_reason,
        }
    }
}

/// Reports per category.
#[derive(Serialize, ToSchema)]
pub struct CategoryCountsDto {
    /// `spam` reports.
    pub spam: u64,
    /// `abuse` reports.
    pub abuse: u64,
    /// `sensitive` reports.
    pub sensitive: u64,
    /// `other` reports.
    pub other: u64,
}

/// A reported message in a queue: its reports of the state asked for.
#[derive(Serialize, ToSchema)]
pub struct ReportedMessageDto {
    /// Room ID.
    #[serde(rename = "roomID")]
    pub room_id: String,
    /// Message ID.
    #[serde(rename = "messageID")]
    pub message_id: String,
    /// Who sent it.
    pub sender: String,
    /// Its content while it is visible, else `null` (reports keep no copy).
    #[schema(value_type = Option<serde_json::Value>, required = true)]
    pub message: Option<Box<RawValue>>,
    /// How many reports (of the state asked for) it has.
    #[serde(rename = "reportCount")]
    pub report_count: u64,
    /// Those reports per category.
    pub categories: CategoryCountsDto,
    /// The oldest of those reports' time.
    #[serde(rename = "firstReportedAt")]
    pub first_reported_at: String,
    /// The newest of those reports' time.
    #[serde(rename = "lastReportedAt")]
    pub last_reported_at: String,
    /// The state asked for.
    pub state: ReportStateDto,
    /// The newest 10 of those reports, newest first.
    pub reports: Vec<ReportDto>,
    /// Pass as `before` to read the items after this one.
    pub cursor: String,
}

impl ReportedMessageDto {
    /// The wire shape of `item`, whose reports are in `state`.
    pub fn new(item: ReportedMessage, state: ReportState) -> Self {
        let cursor = item.cursor().encode();
        let count = |c| item.categories.of(c);
        Self {
            categories: CategoryCountsDto {
                spam: count(ReportCategory::Spam),
                abuse: count(ReportCategory::Abuse),
                sensitive: count(ReportCategory::Sensitive),
                other: count(ReportCategory::Other),
            },
            room_id: item.room.as_str().to_owned(),
            message_id: item.message.as_str().to_owned(),
            sender: item.sender.as_str().to_owned(),
            // Stored content is always valid JSON (it was parsed on the way in).
            message: item
                .content
                .and_then(|c| RawValue::from_string(c.as_json().to_owned()).ok()),
            report_count: item.report_count,
            first_reported_at: iso(item.first_reported_at),
            last_reported_at: iso(item.last_reported_at),
            state: state.into(),
            reports: item.reports.into_iter().map(ReportDto::from).collect(),
            cursor,
        }
    }
}

/// A page of a report queue.
#[derive(Serialize, ToSchema)]
pub struct ReportQueueDto {
    /// Most reported first, then the most recent report first.
    pub data: Vec<ReportedMessageDto>,
}

/// What a dismissal did.
#[derive(Serialize, ToSchema)]
pub struct DismissResultDto {
    /// How many open reports were dismissed.
    #[serde(rename = "dismissedCount")]
    pub dismissed_count: u64,
    /// Room ID.
    #[serde(rename = "roomID")]
    pub room_id: String,
    /// Message ID.
    #[serde(rename = "messageID")]
    pub message_id: String,
}

/// The `MESSAGE_REPORTED` event's body (docs/events.md).
#[derive(Serialize, ToSchema)]
pub struct ReportEventBodyDto {
    /// Event ID: the report's `_id`, the same on every delivery.
    pub id: String,
    /// `MESSAGE_REPORTED`.
    pub event: String,
    /// Room ID.
    #[serde(rename = "roomID")]
    pub room_id: String,
    /// The report's time.
    #[serde(rename = "createdAt")]
    pub created_at: String,
    /// The report.
    pub data: ReportEventDataDto,
}

/// The report an event announces: never the message's content.
#[derive(Serialize, ToSchema)]
pub struct ReportEventDataDto {
    /// Room ID.
    pub room: String,
    /// The reported message's ID.
    #[serde(rename = "messageID")]
    pub message_id: String,
    /// Who sent the message.
    pub sender: String,
    /// The report's ID.
    #[serde(rename = "reportID")]
    pub report_id: String,
    /// Who reported it.
    pub reporter: String,
    /// Why.
    pub category: ReportCategoryDto,
    /// The reporter's words, or `null`.
    #[schema(required = true)]
    pub reason: Option<String>,
    /// When it was reported.
    #[serde(rename = "reportedAt")]
    pub reported_at: String,
}

/// Any event's body: a deletion's or a report's.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum AnyEventBodyDto {
    /// `MESSAGE_DELETED`.
    Deleted(super::EventBodyDto),
    /// `MESSAGE_REPORTED`.
    Reported(ReportEventBodyDto),
}
