-- no-transaction
-- Scheduled sends: a campaign can wait as 'scheduled' until `scheduled_at`,
-- when the worker starts it (once: a conditional UPDATE from 'scheduled').
-- SQLite cannot change a CHECK constraint in place, so the table is rebuilt
-- the documented way (foreign keys off while the old table is dropped, so
-- nothing cascades to deliveries, posts or bounces).
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE campaigns_new (
    id                INTEGER PRIMARY KEY,
    kind              TEXT NOT NULL CHECK (kind IN ('post', 'digest')),
    subject           TEXT NOT NULL,
    prepared          TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('scheduled', 'queued', 'sending', 'paused', 'done', 'cancelled', 'failed')),
    total             INTEGER NOT NULL DEFAULT 0,
    last_error        TEXT,
    heartbeat_at      TEXT,
    created_at        TEXT NOT NULL,
    started_at        TEXT,
    finished_at       TEXT,
    claim_host        TEXT,
    claim_pid         INTEGER,
    claim_id          TEXT,
    unreachable_tries INTEGER NOT NULL DEFAULT 0,
    retry_at          TEXT,
    -- when a 'scheduled' campaign starts (NULL: sent at once)
    scheduled_at      TEXT
);
INSERT INTO campaigns_new (id, kind, subject, prepared, status, total, last_error, heartbeat_at,
    created_at, started_at, finished_at, claim_host, claim_pid, claim_id, unreachable_tries, retry_at)
SELECT id, kind, subject, prepared, status, total, last_error, heartbeat_at,
    created_at, started_at, finished_at, claim_host, claim_pid, claim_id, unreachable_tries, retry_at
FROM campaigns;
DROP TABLE campaigns;
ALTER TABLE campaigns_new RENAME TO campaigns;
CREATE INDEX campaigns_scheduled ON campaigns (status, scheduled_at);
COMMIT;
PRAGMA foreign_keys = ON;
