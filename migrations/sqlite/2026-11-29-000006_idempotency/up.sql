-- Idempotency keys (docs/api.md §11): one record per (caller, key), in flight from its
-- claim (state 'running', leased until lease_until) until its answer is stored ('done').
-- caller is a client ID, or '/platform' for the API key. fingerprint is the SHA-256 (hex)
-- of method, path, query and body. content_room/content_message name the message whose
-- content the stored body embeds; deleting it replaces body by redacted_body.
CREATE TABLE idempotency_keys (
    caller          TEXT NOT NULL,
    idem_key        TEXT NOT NULL,
    fingerprint     TEXT NOT NULL,
    claim_id        TEXT NOT NULL,
    state           TEXT NOT NULL,
    status          INTEGER,
    content_type    TEXT,
    body            BLOB,
    content_room    TEXT,
    content_message TEXT,
    redacted_body   BLOB,
    created_at      BIGINT NOT NULL,
    lease_until     BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    PRIMARY KEY (caller, idem_key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
CREATE INDEX idempotency_keys_content ON idempotency_keys (content_room, content_message);
