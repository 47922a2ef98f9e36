ALTER TABLE rooms DROP COLUMN visible_count;
