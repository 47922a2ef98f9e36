ALTER TABLE rooms DROP KEY rooms_by_creation;
