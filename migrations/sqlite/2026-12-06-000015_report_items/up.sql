-- The report queues' items (docs/api.md §7.10): one row per state and reported message,
-- what a queue page shows of it (its count, first and newest report time, counts per
-- category, the reported row's `seq` and sender), rewritten from `reports` by every write
-- that changes that message's reports of that state (filing, dismissing, deleting), under
-- the room's lock. A queue page is then an index read in the queue's order (count, newest
-- report, IDs) instead of grouping every report of the state.
CREATE TABLE report_items (
    state       TEXT NOT NULL,
    room_id     TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    sender      TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    n           BIGINT NOT NULL,
    first_at    BIGINT NOT NULL,
    last_at     BIGINT NOT NULL,
    n_spam      BIGINT NOT NULL,
    n_abuse     BIGINT NOT NULL,
    n_sensitive BIGINT NOT NULL,
    n_other     BIGINT NOT NULL,
    PRIMARY KEY (state, room_id, message_id)
);
-- The platform's queue of a state, in its order.
CREATE INDEX report_items_queue ON report_items (state, n DESC, last_at DESC, room_id, message_id);
-- A room's queue of a state, in its order.
CREATE INDEX report_items_room ON report_items (room_id, state, n DESC, last_at DESC, message_id);

INSERT INTO report_items (state, room_id, message_id, sender, seq, n, first_at, last_at,
                          n_spam, n_abuse, n_sensitive, n_other)
SELECT state, room_id, message_id, MIN(sender), MAX(message_seq), COUNT(*), MIN(created_at),
    MAX(created_at),
    COUNT(CASE WHEN category = 'spam' THEN 1 END),
    COUNT(CASE WHEN category = 'abuse' THEN 1 END),
    COUNT(CASE WHEN category = 'sensitive' THEN 1 END),
    COUNT(CASE WHEN category = 'other' THEN 1 END)
FROM reports GROUP BY state, room_id, message_id;
