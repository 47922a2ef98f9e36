ALTER TABLE room_changes DROP COLUMN hash;
ALTER TABLE deletions DROP COLUMN hash;
