ALTER TABLE deletions DROP COLUMN report_count;
ALTER TABLE deletions DROP COLUMN report_ids;
ALTER TABLE rooms DROP COLUMN open_reports;
DROP TABLE reports;
