-- Deletion events, written in the deletion's transaction and drained by the dispatcher.
-- state: pending | delivered | failed | skipped (no webhook configured).
CREATE TABLE outbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    event_id        TEXT NOT NULL UNIQUE,
    room_id         TEXT NOT NULL,
    message_id      TEXT NOT NULL,
    payload         TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_by      TEXT,
    claimed_until   BIGINT NOT NULL DEFAULT 0,
    finished_at     BIGINT,
    last_error      TEXT
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
