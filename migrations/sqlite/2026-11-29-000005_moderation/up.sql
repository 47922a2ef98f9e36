-- Moderation tools (docs/api.md §7): retention per room, the filter and message IDs
-- of an audit record, and pending erasures.
ALTER TABLE rooms ADD COLUMN retention_days INTEGER;
ALTER TABLE deletions ADD COLUMN filter TEXT;
ALTER TABLE deletions ADD COLUMN message_ids TEXT;

-- A large filtered deletion not yet physically removed: the room's messages with
-- above_seq < seq <= through_seq, from `sender` ('' for every sender), sent strictly
-- between after_ms and before_ms, are invisible to every read. The purger removes them
-- in bounded batches, moving above_seq up as it goes, and drops the row when done.
CREATE TABLE erasures (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    deletion_id TEXT NOT NULL,
    room_id     TEXT NOT NULL,
    sender      TEXT NOT NULL,
    above_seq   BIGINT NOT NULL,
    through_seq BIGINT NOT NULL,
    after_ms    BIGINT NOT NULL,
    before_ms   BIGINT NOT NULL
);
CREATE INDEX erasures_by_room ON erasures (room_id, through_seq);

-- A sender's rooms (user purge) and a room's time window (time filters, retention).
CREATE INDEX messages_by_sender ON messages (sender, room_id, seq);
CREATE INDEX messages_by_room_time ON messages (room_id, created_at);
