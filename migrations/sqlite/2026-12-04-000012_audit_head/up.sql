-- The hash of each room's newest deletion record (docs/api.md §8.5), kept on the room's
-- row so that a deletion reads its previous record with the state it reads under the
-- room's lock and writes its own in the room update it makes anyway. NULL for rooms
-- created before this migration: their first deletion reads the head from `deletions`
-- and stores it, so nothing needs filling in here. Rooms created from now on start at
-- the chain's genesis.
ALTER TABLE rooms ADD COLUMN audit_head TEXT;
