-- How many of the room's messages are visible, kept exact by every write transaction
-- (send +1, delete -1, clear = 0), so that `totalCount` and a clear's `deletedCount` are
-- one row read instead of a count over the room.
ALTER TABLE rooms ADD COLUMN visible_count BIGINT NOT NULL DEFAULT 0;
UPDATE rooms SET visible_count = (
    SELECT COUNT(*) FROM messages
    WHERE messages.room_id = rooms.id AND messages.seq > rooms.cleared_through_seq
);
