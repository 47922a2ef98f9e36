//! [`ReportStore`] in memory, and the resolution of reports by a deletion.

use super::{MemoryStore, State};
use crate::ids::{DeletionId, MessageId, RoomId};
use crate::model::ResolvedReports;
use crate::ports::{ReportStore, StoreResult};
use crate::report::{
    CategoryCounts, DismissOutcome, Dismissal, NewReport, QUEUE_REPORTS, QueueQuery, Report,
    ReportOutcome, ReportedMessage, Resolution,
};
use std::collections::{BTreeMap, HashSet};

impl State {
    /// Marks the open reports of the `gone` messages of `room` deleted by `deletion`.
    pub(super) fn resolve_reports(
        &mut self,
        room: &RoomId,
        gone: &HashSet<MessageId>,
        deletion: &DeletionId,
    ) -> ResolvedReports {
        let mut resolved = ResolvedReports::default();
        for report in &mut self.reports {
            if report.resolution.is_none() && report.room == *room && gone.contains(&report.message)
            {
                report.resolution = Some(Resolution::Deleted(deletion.clone()));
                resolved.count += 1;
                if resolved.ids.len() < ResolvedReports::MAX_IDS {
                    resolved.ids.push(report.id.clone());
                }
            }
        }
        resolved
    }
}

impl ReportStore for MemoryStore {
    fn file_report(&self, new: &NewReport) -> StoreResult<ReportOutcome> {
        let mut state = self.lock();
        let Some(stored) = state.rooms.get(&new.room) else {
            return Ok(ReportOutcome::RoomNotFound);
        };
        if !stored.members.contains(&new.reporter) {
            return Ok(ReportOutcome::NotMember);
        }
        let Some(seq) = state.visible(&new.room, &new.message) else {
            return Ok(ReportOutcome::MessageNotFound);
        };
        let open = state.reports.iter().find(|r| {
            r.resolution.is_none() && r.message == new.message && r.reporter == new.reporter
        });
        if let Some(open) = open {
            return Ok(ReportOutcome::Existing(open.clone()));
        }
        let since = new.created_at - new.limit.window;
        let recent: Vec<_> = state
            .reports
            .iter()
            .filter(|r| r.reporter == new.reporter && r.created_at > since)
            .map(|r| r.created_at)
            .collect();
        if recent.len() >= usize::try_from(new.limit.max).unwrap_or(usize::MAX) {
            let oldest = recent.into_iter().min().unwrap_or(new.created_at);
            return Ok(ReportOutcome::Limited { oldest });
        }
        let report = Report {
            id: new.id.clone(),
            room: new.room.clone(),
            message: new.message.clone(),
            sender: state.messages[&seq].sender.clone(),
            reporter: new.reporter.clone(),
            category: new.category,
            reason: new.reason.clone(),
            created_at: new.created_at,
            resolution: None,
        };
        state.report_seqs.insert(report.id.clone(), seq);
        state.reports.push(report.clone());
        Ok(ReportOutcome::Created(report))
    }

    fn list_reported(&self, query: &QueueQuery) -> StoreResult<Vec<ReportedMessage>> {
        let state = self.lock();
        let mut groups: BTreeMap<(RoomId, MessageId), Vec<&Report>> = BTreeMap::new();
        for report in state.reports.iter().filter(|r| {
            r.state() == query.state && query.room.as_ref().is_none_or(|room| r.room == *room)
        }) {
            groups
                .entry((report.room.clone(), report.message.clone()))
                .or_default()
                .push(report);
        }
        let mut items: Vec<ReportedMessage> = groups
            .into_iter()
            .map(|((room, message), reports)| {
                let mut categories = CategoryCounts::default();
                for r in &reports {
                    categories.add(r.category);
                }
                // The reported row, not whatever the ID names now.
                let reported = reports
                    .iter()
                    .filter_map(|r| state.report_seqs.get(&r.id).copied())
                    .max();
                let content = state
                    .visible(&room, &message)
                    .filter(|seq| Some(*seq) == reported)
                    .map(|seq| state.messages[&seq].content.clone());
                let mut newest: Vec<Report> = reports.iter().map(|r| (*r).clone()).collect();
                // Newest first; of one time, the later filed first.
                newest.reverse();
                newest.sort_by_key(|r| std::cmp::Reverse(r.created_at));
                newest.truncate(QUEUE_REPORTS);
                ReportedMessage {
                    sender: reports[0].sender.clone(),
                    content,
                    report_count: u64::try_from(reports.len()).unwrap_or(u64::MAX),
                    categories,
                    first_reported_at: reports
                        .iter()
                        .map(|r| r.created_at)
                        .min()
                        .unwrap_or_default(),
                    last_reported_at: reports
                        .iter()
                        .map(|r| r.created_at)
                        .max()
                        .unwrap_or_default(),
                    reports: newest,
                    room,
                    message,
                }
            })
            .collect();
        let key = |m: &ReportedMessage| {
            (
                std::cmp::Reverse(m.report_count),
                std::cmp::Reverse(m.last_reported_at.timestamp_millis()),
                m.room.clone(),
                m.message.clone(),
            )
        };
        items.sort_by_key(key);
        if let Some(cursor) = &query.before {
            let after = (
                std::cmp::Reverse(cursor.report_count),
                std::cmp::Reverse(cursor.last_reported_ms),
                cursor.room.clone(),
                cursor.message.clone(),
            );
            items.retain(|m| key(m) > after);
        }
        items.truncate(usize::try_from(query.limit).unwrap_or(usize::MAX));
        Ok(items)
    }

    fn dismiss_reports(&self, dismissal: &Dismissal) -> StoreResult<DismissOutcome> {
        let mut state = self.lock();
        let Some(stored) = state.rooms.get(&dismissal.room) else {
            return Ok(DismissOutcome::RoomNotFound);
        };
        if !stored.snapshot().can_moderate(&dismissal.actor) {
            return Ok(DismissOutcome::PermissionDenied);
        }
        let mut count = 0;
        for report in &mut state.reports {
            if report.resolution.is_none()
                && report.room == dismissal.room
                && report.message == dismissal.message
            {
                report.resolution = Some(Resolution::Dismissed {
                    by: dismissal.actor.recorded(),
                    at: dismissal.at,
                    reason: dismissal.reason.clone(),
                });
                count += 1;
            }
        }
        Ok(if count == 0 {
            DismissOutcome::NoOpenReport
        } else {
            DismissOutcome::Dismissed(count)
        })
    }
}
