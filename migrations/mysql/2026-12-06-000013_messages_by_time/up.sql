-- A clear by content across rooms (docs/api.md §7.9) reads the messages of a time window
-- of at most 7 days, in every room: this index makes that a range read instead of a scan
-- of the whole table. InnoDB keeps the primary key (seq) in each entry, so entries are in
-- (created_at, seq) order, the order the search pages in.
ALTER TABLE messages ADD KEY messages_by_time (created_at);
