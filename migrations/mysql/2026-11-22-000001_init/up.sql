-- Roomwarden schema, MySQL/MariaDB. Times are Unix milliseconds (BIGINT).
-- IDs use a binary collation: "Room" and "room" are different IDs, as on SQLite.
CREATE TABLE settings (
    name  VARCHAR(64) NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE clients (
    id                VARCHAR(128) NOT NULL PRIMARY KEY,
    nickname          VARCHAR(1024),
    avatar_url        TEXT,
    is_platform_admin BOOLEAN NOT NULL DEFAULT FALSE,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Tokens are stored only as their SHA-256 hash.
CREATE TABLE tokens (
    token_hash CHAR(64) NOT NULL PRIMARY KEY,
    client_id  VARCHAR(128) NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    KEY tokens_by_client (client_id),
    CONSTRAINT tokens_client_fk FOREIGN KEY (client_id) REFERENCES clients (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- cleared_through_seq: messages of this room with seq <= it are deleted (invisible to
-- every read); purged_through_seq: rows up to it are physically gone. write_version is
-- bumped by every write to the room's messages so that those writes serialize on the row.
CREATE TABLE rooms (
    id                  VARCHAR(128) NOT NULL PRIMARY KEY,
    name                VARCHAR(1024),
    room_type           VARCHAR(16) NOT NULL,
    owner               VARCHAR(128),
    webhook             TEXT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    cleared_through_seq BIGINT NOT NULL DEFAULT 0,
    purged_through_seq  BIGINT NOT NULL DEFAULT 0,
    write_version       BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT rooms_owner_fk FOREIGN KEY (owner) REFERENCES clients (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE room_members (
    room_id    VARCHAR(128) NOT NULL,
    client_id  VARCHAR(128) NOT NULL,
    is_manager BOOLEAN NOT NULL DEFAULT FALSE,
    joined_at  BIGINT NOT NULL,
    PRIMARY KEY (room_id, client_id),
    KEY room_members_by_client (client_id),
    CONSTRAINT room_members_room_fk FOREIGN KEY (room_id) REFERENCES rooms (id),
    CONSTRAINT room_members_client_fk FOREIGN KEY (client_id) REFERENCES clients (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE messages (
    seq          BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    id           VARCHAR(128) NOT NULL,
    room_id      VARCHAR(128) NOT NULL,
    sender       VARCHAR(128) NOT NULL,
    message_type VARCHAR(256) NOT NULL,
    body         MEDIUMTEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    UNIQUE KEY messages_id (id),
    KEY messages_by_room (room_id, seq),
    CONSTRAINT messages_room_fk FOREIGN KEY (room_id) REFERENCES rooms (id),
    CONSTRAINT messages_sender_fk FOREIGN KEY (sender) REFERENCES clients (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Append-only audit log; no message content, no foreign key (records outlive rooms).
CREATE TABLE deletions (
    seq           BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    id            VARCHAR(128) NOT NULL,
    room_id       VARCHAR(128) NOT NULL,
    message_id    VARCHAR(128) NOT NULL,
    deleted_count BIGINT NOT NULL,
    deleted_by    VARCHAR(128) NOT NULL,
    deleted_at    BIGINT NOT NULL,
    reason        TEXT,
    UNIQUE KEY deletions_id (id),
    KEY deletions_by_room (room_id, seq)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
