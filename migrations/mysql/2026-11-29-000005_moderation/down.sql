ALTER TABLE messages DROP KEY messages_by_room_time, DROP KEY messages_by_sender;
DROP TABLE erasures;
ALTER TABLE deletions DROP COLUMN message_ids, DROP COLUMN filter;
ALTER TABLE rooms DROP COLUMN retention_days;
