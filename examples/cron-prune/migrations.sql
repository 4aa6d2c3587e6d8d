-- Run at every start with `nimbus up --sqlite @migrations.sql`, so every
-- statement must be safe to run again.
CREATE TABLE IF NOT EXISTS events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    text       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
