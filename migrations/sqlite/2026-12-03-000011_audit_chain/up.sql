-- The verifiable audit log: each record's link in its room's chain (docs/api.md §8.5).
-- NULL only for records written before this migration; the server
-- fills those in at start-up, in batches, before it serves (`DieselStore::chain_backfill`).
ALTER TABLE deletions ADD COLUMN hash TEXT;
ALTER TABLE room_changes ADD COLUMN hash TEXT;
