-- Room-change records: one per committed change of a room (its creation included), written
-- in the change's transaction; append-only, no foreign key (records outlive rooms).
-- `changes` is the JSON object of the changed fields, each {"from": ..., "to": ...}.
CREATE TABLE room_changes (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    id         TEXT NOT NULL UNIQUE,
    room_id    TEXT NOT NULL,
    changed_by TEXT NOT NULL,
    changed_at BIGINT NOT NULL,
    changes    TEXT NOT NULL,
    reason     TEXT
);
-- GET /rooms/{roomID}/changes: one room's records, newest first.
CREATE INDEX room_changes_by_room ON room_changes (room_id, seq DESC);
-- Who set the room's own retention and when: the room change that set it (NULL without a
-- retention of its own, or when it was set before room changes were recorded).
ALTER TABLE rooms ADD COLUMN retention_set_by TEXT;
ALTER TABLE rooms ADD COLUMN retention_set_at BIGINT;
-- A retention deletion's retention and who set it (`_default` for the deployment's default).
ALTER TABLE deletions ADD COLUMN retention_days INTEGER;
ALTER TABLE deletions ADD COLUMN retention_set_by TEXT;
ALTER TABLE deletions ADD COLUMN retention_set_at BIGINT;
