-- A clear by content across rooms (docs/api.md §7.9) reads the messages of a time window
-- of at most 7 days, in every room: this index makes that a range read instead of a scan
-- of the whole table. Entries are in (created_at, seq) order, the order the search pages in.
CREATE INDEX messages_by_time ON messages (created_at);
