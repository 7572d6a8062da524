-- Subscribers added through the admin API have the source 'api' (issue
-- 27). SQLite cannot alter a CHECK constraint: the table's stored
-- definition is edited in place, the way SQLite's documentation describes
-- for changes that leave the stored rows as they are (a CHECK that allows
-- more). The CREATE TABLE below changes the schema version, so every
-- connection reads the new definition.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
SET sql = replace(sql, 'CHECK (source IN (''cli'', ''import'', ''web''))',
                       'CHECK (source IN (''cli'', ''import'', ''web'', ''api''))')
WHERE type = 'table' AND name = 'subscribers';
PRAGMA writable_schema = OFF;

-- Test sends (`send --to`, `POST /api/v1/campaigns/{id}/test`): the email
-- as its "View in browser" page shows it, under the SHA-256 of a random
-- token that its links carry, so that those links work for an address
-- that is not on the list (and say it was a test). Rows older than 30
-- days are deleted as new ones arrive.
CREATE TABLE test_sends (
    token_hash TEXT PRIMARY KEY,
    email      TEXT NOT NULL,
    subject    TEXT NOT NULL,
    html       TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX test_sends_created ON test_sends (created_at);
