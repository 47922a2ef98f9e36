-- Moderation tools (docs/api.md §7): retention per room, the filter and message IDs
-- of an audit record, and pending erasures.
ALTER TABLE rooms ADD COLUMN retention_days INTEGER;
ALTER TABLE deletions ADD COLUMN filter TEXT, ADD COLUMN message_ids TEXT;

-- A large filtered deletion not yet physically removed: the room's messages with
-- above_seq < seq <= through_seq, from `sender` ('' for every sender), sent strictly
-- between after_ms and before_ms, are invisible to every read. The purger removes them
-- in bounded batches, moving above_seq up as it goes, and drops the row when done.
CREATE TABLE erasures (
    seq         BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    deletion_id VARCHAR(128) NOT NULL,
    room_id     VARCHAR(128) NOT NULL,
    sender      VARCHAR(128) NOT NULL,
    above_seq   BIGINT NOT NULL,
    through_seq BIGINT NOT NULL,
    after_ms    BIGINT NOT NULL,
    before_ms   BIGINT NOT NULL,
    KEY erasures_by_room (room_id, through_seq)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- A sender's rooms (user purge) and a room's time window (time filters, retention).
ALTER TABLE messages
    ADD KEY messages_by_sender (sender, room_id, seq),
    ADD KEY messages_by_room_time (room_id, created_at);
