-- GET /rooms: newest first by creation, with a (created_at, id) cursor.
ALTER TABLE rooms ADD KEY rooms_by_creation (created_at, id);
