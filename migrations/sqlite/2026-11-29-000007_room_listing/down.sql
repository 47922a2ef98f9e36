DROP INDEX rooms_by_creation;
