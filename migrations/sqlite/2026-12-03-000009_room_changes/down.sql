ALTER TABLE deletions DROP COLUMN retention_set_at;
ALTER TABLE deletions DROP COLUMN retention_set_by;
ALTER TABLE deletions DROP COLUMN retention_days;
ALTER TABLE rooms DROP COLUMN retention_set_at;
ALTER TABLE rooms DROP COLUMN retention_set_by;
DROP INDEX room_changes_by_room;
DROP TABLE room_changes;
