//! `DELETE /admin/messages`: a spam wave cleared by content across rooms (ext,
//! docs/api.md §7.9).

use super::deletion::{committed, dry_run_value, reason};
use crate::auth::Platform;
use crate::credentials::Caller;
use crate::dto::ContentClearResultDto;
use crate::envelope::{ApiError, ok};
use crate::idempotency::CarriesSecret;
use crate::metrics::DeletionKind;
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use roomwarden_domain::error::DomainError;
use roomwarden_domain::filter::{Bound, Contains};
use roomwarden_domain::ids::RoomId;
use roomwarden_domain::model::AuditReason;
use roomwarden_domain::usecases::content::{self, ClearByContent};

/// Removes, from every room or the listed ones, the messages of a window of at most 7 days
/// whose text contains one of the strings (API key; ext, docs/api.md §7.9).
#[utoipa::path(
    delete,
    path = "/admin/messages",
    tag = "Deletion",
    params(
        ("contains" = Vec<String>, Query, explode = true, description = "Messages whose text contains this string, ignoring case (Unicode simple case folding): a string message, or any string value inside a JSON message; repeatable, 1 to 5 (any of them), each 3 to 200 characters"),
        ("after" = String, Query, description = "Only messages sent strictly after this ISO 8601 time or Unix milliseconds; at most 7 days before `before`"),
        ("before" = Option<String>, Query, description = "Only messages sent strictly before this ISO 8601 time or Unix milliseconds (default: the time of the request)"),
        ("roomID" = Option<Vec<String>>, Query, explode = true, description = "Only in these rooms; repeatable, up to 100"),
        ("X-Audit-Log-Reason" = Option<String>, Header, description = "Why (percent-encoded UTF-8, at most 512 characters)"),
        ("dryRun" = Option<bool>, Query, description = "`true` counts without deleting, with a `sample` of up to 5 matching messages"),
    ),
    responses(
        (status = 200, description = "Matching messages deleted successfully / Dry run: nothing deleted", body = ContentClearResultDto),
    ),
)]
pub async fn clear_by_content(
    _: Platform,
    caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let reason = reason(&req);
    let (clear, dry_run) = state
        .run_as(caller, move |actor, ports| {
            let (command, dry_run) = content_query(&query, reason?, ports.clock.now())?;
            let clear = content::clear_by_content(ports, actor, command, dry_run)?;
            Ok((clear, dry_run))
        })
        .await?;
    if dry_run {
        // The sample carries messages' content: never stored under an idempotency key.
        return Ok(CarriesSecret::mark(ok(
            "Dry run: nothing deleted",
            ContentClearResultDto::new(&clear, true),
        )));
    }
    for deletion in &clear.deletions {
        committed(&state, deletion, DeletionKind::Content);
    }
    Ok(ok(
        "Matching messages deleted successfully",
        ContentClearResultDto::new(&clear, false),
    ))
}

/// Parses `contains` (repeatable), `after`, `before` (times only), `roomID` (repeatable)
/// and `dryRun`; any other parameter is refused.
fn content_query(
    pairs: &[(String, String)],
    reason: Option<AuditReason>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(ClearByContent, bool), DomainError> {
    let (mut contains, mut rooms) = (Vec::new(), Vec::new());
    let (mut before, mut after, mut dry_run) = (None, None, None);
    for (name, value) in pairs {
        let twice = || DomainError::InvalidParameter(format!("{name} may be given only once"));
        match name.as_str() {
            "contains" => contains.push(value.clone()),
            "before" if before.is_none() => before = Some(Bound::parse_time("before", value)?),
            "after" if after.is_none() => after = Some(Bound::parse_time("after", value)?),
            "roomID" => rooms.push(RoomId::parse(value)?),
            "dryRun" if dry_run.is_none() => dry_run = Some(dry_run_value(value)?),
            "before" | "after" | "dryRun" => return Err(twice()),
            other => {
                return Err(DomainError::InvalidParameter(format!(
                    "unknown query parameter {other:?}; expected contains, after, before, \
                     roomID or dryRun"
                )));
            }
        }
    }
    let command = ClearByContent::new(Contains::new(contains)?, after, before, rooms, reason, now)?;
    Ok((command, dry_run.unwrap_or(false)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_query_is_checked_before_anything_runs() {
        let now = chrono::DateTime::from_timestamp_millis(8 * 86_400_000).expect("valid");
        let ok = |list: &[(&str, &str)]| content_query(&pairs(list), None, now);
        assert!(ok(&[("contains", "spam"), ("after", "86400000")]).is_ok());
        for bad in [
            &[("after", "86400000")][..],
            &[("contains", "spam")],
            &[("contains", "sp"), ("after", "86400000")],
            &[("contains", "spam"), ("after", "0")],
            &[("contains", "spam"), ("after", "86400000"), ("sender", "a")],
            &[
                ("contains", "spam"),
                ("after", "86400000"),
                ("after", "86400001"),
            ],
            &[("contains", "spam"), ("after", "m-1")],
        ] {
            assert!(
                matches!(ok(bad), Err(DomainError::InvalidParameter(_))),
                "{bad:?}"
            );
        }
        let (command, dry) = ok(&[
            ("contains", "spam"),
            ("after", "86400000"),
            ("dryRun", "true"),
        ])
        .expect("ok");
        assert!(dry);
        assert_eq!(command.filter.contains.strings(), ["spam"]);
    }
}
