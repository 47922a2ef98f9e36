-- Deletion events, written in the deletion's transaction and drained by the dispatcher.
-- state: pending | delivered | failed | skipped (no webhook configured).
CREATE TABLE outbox (
    seq             BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    event_id        VARCHAR(128) NOT NULL,
    room_id         VARCHAR(128) NOT NULL,
    message_id      VARCHAR(128) NOT NULL,
    payload         TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    state           VARCHAR(16) NOT NULL DEFAULT 'pending',
    attempts        INT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_by      VARCHAR(64),
    claimed_until   BIGINT NOT NULL DEFAULT 0,
    finished_at     BIGINT,
    last_error      TEXT,
    UNIQUE KEY outbox_event_id (event_id),
    KEY outbox_due (state, next_attempt_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
