-- Reports of messages (docs/api.md §7.10). A report keeps the message's ID, `seq`, sender
-- and time, never its content, so that every deletion can find the open reports of what it
-- removes with the predicate it removes by (IDs, a `seq` range, a time window, senders).
-- state: open | deleted (deletion_id set) | dismissed (dismissed_by, dismissed_at set).
CREATE TABLE reports (
    seq                BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    id                 VARCHAR(128) NOT NULL,
    room_id            VARCHAR(128) NOT NULL,
    message_id         VARCHAR(128) NOT NULL,
    message_seq        BIGINT NOT NULL,
    sender             VARCHAR(128) NOT NULL,
    message_created_at BIGINT NOT NULL,
    reporter           VARCHAR(128) NOT NULL,
    category           VARCHAR(16) NOT NULL,
    reason             TEXT,
    created_at         BIGINT NOT NULL,
    state              VARCHAR(16) NOT NULL DEFAULT 'open',
    deletion_id        VARCHAR(128),
    dismissed_by       VARCHAR(128),
    dismissed_at       BIGINT,
    dismiss_reason     TEXT,
    UNIQUE KEY reports_id (id),
    -- The queues group by message within a state (of a room, or of every room).
    KEY reports_queue (state, room_id, message_id),
    -- A deletion resolves the open reports of a room's `seq` range or listed rows.
    KEY reports_by_seq (room_id, state, message_seq),
    -- The reporter's rate: reports made in the last minute.
    KEY reports_by_reporter (reporter, created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- How many open reports the room has, kept under the room's lock by reporting, dismissing
-- and deleting: a deletion in a room without one reads no report.
ALTER TABLE rooms ADD COLUMN open_reports BIGINT NOT NULL DEFAULT 0;

-- The reports a deletion resolved: their count, and the IDs of the first 100 (a JSON array).
ALTER TABLE deletions ADD COLUMN report_ids TEXT, ADD COLUMN report_count BIGINT NOT NULL DEFAULT 0;
