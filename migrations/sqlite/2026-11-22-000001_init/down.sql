DROP TABLE deletions;
DROP TABLE messages;
DROP TABLE room_members;
DROP TABLE rooms;
DROP TABLE tokens;
DROP TABLE clients;
DROP TABLE settings;
