-- Idempotency keys (docs/api.md §11): one record per (caller, key), in flight from its
-- claim (state 'running', leased until lease_until) until its answer is stored ('done').
-- caller is a client ID, or '/platform' for the API key. fingerprint is the SHA-256 (hex)
-- of method, path, query and body. content_room/content_message name the message whose
-- content the stored body embeds; deleting it replaces body by redacted_body.
CREATE TABLE idempotency_keys (
    caller          VARCHAR(128) NOT NULL,
    idem_key        VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    fingerprint     CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    claim_id        CHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    state           VARCHAR(16) NOT NULL,
    status          INT,
    content_type    VARCHAR(255),
    body            LONGBLOB,
    content_room    VARCHAR(128),
    content_message VARCHAR(128),
    redacted_body   LONGBLOB,
    created_at      BIGINT NOT NULL,
    lease_until     BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    PRIMARY KEY (caller, idem_key),
    KEY idempotency_keys_expiry (expires_at),
    KEY idempotency_keys_content (content_room, content_message)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
