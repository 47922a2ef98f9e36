DROP INDEX messages_by_room_time;
DROP INDEX messages_by_sender;
DROP TABLE erasures;
ALTER TABLE deletions DROP COLUMN message_ids;
ALTER TABLE deletions DROP COLUMN filter;
ALTER TABLE rooms DROP COLUMN retention_days;
