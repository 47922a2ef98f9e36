ALTER TABLE deletions
    DROP COLUMN retention_set_at,
    DROP COLUMN retention_set_by,
    DROP COLUMN retention_days;
ALTER TABLE rooms
    DROP COLUMN retention_set_at,
    DROP COLUMN retention_set_by;
DROP TABLE room_changes;
