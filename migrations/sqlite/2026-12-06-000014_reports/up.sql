-- Reports of messages (docs/api.md §7.10). A report keeps the message's ID, `seq`, sender
-- and time, never its content, so that every deletion can find the open reports of what it
-- removes with the predicate it removes by (IDs, a `seq` range, a time window, senders).
-- state: open | deleted (deletion_id set) | dismissed (dismissed_by, dismissed_at set).
CREATE TABLE reports (
    seq                INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    id                 TEXT NOT NULL UNIQUE,
    room_id            TEXT NOT NULL,
    message_id         TEXT NOT NULL,
    message_seq        BIGINT NOT NULL,
    sender             TEXT NOT NULL,
    message_created_at BIGINT NOT NULL,
    reporter           TEXT NOT NULL,
    category           TEXT NOT NULL,
    reason             TEXT,
    created_at         BIGINT NOT NULL,
    state              TEXT NOT NULL DEFAULT 'open',
    deletion_id        TEXT,
    dismissed_by       TEXT,
    dismissed_at       BIGINT,
    dismiss_reason     TEXT
);
-- The queues group by message within a state (of a room, or of every room).
CREATE INDEX reports_queue ON reports (state, room_id, message_id);
-- A deletion resolves the open reports of a room's `seq` range or listed rows.
CREATE INDEX reports_by_seq ON reports (room_id, state, message_seq);
-- The reporter's rate: reports made in the last minute.
CREATE INDEX reports_by_reporter ON reports (reporter, created_at);

-- How many open reports the room has, kept under the room's lock by reporting, dismissing
-- and deleting: a deletion in a room without one reads no report.
ALTER TABLE rooms ADD COLUMN open_reports BIGINT NOT NULL DEFAULT 0;

-- The reports a deletion resolved: their count, and the IDs of the first 100 (a JSON array).
ALTER TABLE deletions ADD COLUMN report_ids TEXT;
ALTER TABLE deletions ADD COLUMN report_count BIGINT NOT NULL DEFAULT 0;
