ALTER TABLE messages DROP KEY messages_by_time;
