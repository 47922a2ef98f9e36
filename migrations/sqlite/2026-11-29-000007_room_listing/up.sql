-- GET /rooms: newest first by creation, with a (created_at, id) cursor.
CREATE INDEX rooms_by_creation ON rooms (created_at, id);
