ALTER TABLE deletions DROP COLUMN report_ids, DROP COLUMN report_count;
ALTER TABLE rooms DROP COLUMN open_reports;
DROP TABLE reports;
