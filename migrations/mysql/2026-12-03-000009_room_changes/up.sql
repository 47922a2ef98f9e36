-- Room-change records: one per committed change of a room (its creation included), written
-- in the change's transaction; append-only, no foreign key (records outlive rooms).
-- `changes` is the JSON object of the changed fields, each {"from": ..., "to": ...}
-- (member lists can be long: MEDIUMTEXT).
CREATE TABLE room_changes (
    seq        BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    id         VARCHAR(128) NOT NULL,
    room_id    VARCHAR(128) NOT NULL,
    changed_by VARCHAR(128) NOT NULL,
    changed_at BIGINT NOT NULL,
    changes    MEDIUMTEXT NOT NULL,
    reason     TEXT,
    UNIQUE KEY room_changes_id (id),
    -- GET /rooms/{roomID}/changes: one room's records, newest first.
    KEY room_changes_by_room (room_id, seq DESC)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Who set the room's own retention and when: the room change that set it (NULL without a
-- retention of its own, or when it was set before room changes were recorded).
ALTER TABLE rooms
    ADD COLUMN retention_set_by VARCHAR(128) NULL,
    ADD COLUMN retention_set_at BIGINT NULL;
-- A retention deletion's retention and who set it (`_default` for the deployment's default).
ALTER TABLE deletions
    ADD COLUMN retention_days INTEGER NULL,
    ADD COLUMN retention_set_by VARCHAR(128) NULL,
    ADD COLUMN retention_set_at BIGINT NULL;
