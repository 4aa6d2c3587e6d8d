-- Run at every start with `nimbus up --sqlite @migrations.sql`, so every
-- statement must be safe to run again.
CREATE TABLE IF NOT EXISTS todos (
    id    INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT    NOT NULL,
    done  INTEGER NOT NULL DEFAULT 0 CHECK (done IN (0, 1))
);
