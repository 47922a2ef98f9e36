ALTER TABLE rooms DROP COLUMN audit_head;
