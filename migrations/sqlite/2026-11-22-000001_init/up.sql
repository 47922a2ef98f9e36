-- Roomwarden schema, embedded SQLite. Times are Unix milliseconds (BIGINT).
CREATE TABLE settings (
    name  TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

CREATE TABLE clients (
    id                TEXT PRIMARY KEY NOT NULL,
    nickname          TEXT,
    avatar_url        TEXT,
    is_platform_admin BOOLEAN NOT NULL DEFAULT 0,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);

-- Tokens are stored only as their SHA-256 hash.
CREATE TABLE tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    client_id  TEXT NOT NULL REFERENCES clients (id),
    expires_at BIGINT NOT NULL,
    revoked    BOOLEAN NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE INDEX tokens_by_client ON tokens (client_id);

-- cleared_through_seq: messages of this room with seq <= it are deleted (invisible to
-- every read); purged_through_seq: rows up to it are physically gone. write_version is
-- bumped by every write to the room's messages so that those writes serialize on the row.
CREATE TABLE rooms (
    id                  TEXT PRIMARY KEY NOT NULL,
    name                TEXT,
    room_type           TEXT NOT NULL,
    owner               TEXT REFERENCES clients (id),
    webhook             TEXT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    cleared_through_seq BIGINT NOT NULL DEFAULT 0,
    purged_through_seq  BIGINT NOT NULL DEFAULT 0,
    write_version       BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE room_members (
    room_id    TEXT NOT NULL REFERENCES rooms (id),
    client_id  TEXT NOT NULL REFERENCES clients (id),
    is_manager BOOLEAN NOT NULL DEFAULT 0,
    joined_at  BIGINT NOT NULL,
    PRIMARY KEY (room_id, client_id)
);
CREATE INDEX room_members_by_client ON room_members (client_id);

CREATE TABLE messages (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    id           TEXT NOT NULL UNIQUE,
    room_id      TEXT NOT NULL REFERENCES rooms (id),
    sender       TEXT NOT NULL REFERENCES clients (id),
    message_type TEXT NOT NULL,
    body         TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX messages_by_room ON messages (room_id, seq);

-- Append-only audit log; no message content, no foreign key (records outlive rooms).
CREATE TABLE deletions (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    id            TEXT NOT NULL UNIQUE,
    room_id       TEXT NOT NULL,
    message_id    TEXT NOT NULL,
    deleted_count BIGINT NOT NULL,
    deleted_by    TEXT NOT NULL,
    deleted_at    BIGINT NOT NULL,
    reason        TEXT
);
CREATE INDEX deletions_by_room ON deletions (room_id, seq);
