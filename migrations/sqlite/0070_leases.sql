-- Per-row leases: several processes (workers on several hosts, a
-- foreground `gazette send`) share one campaign's queue. A process leases
-- a batch of pending deliveries (`lease_owner` = its random run id, until
-- `lease_until`); only the lease holder's outcome is recorded; a lease
-- that expires (its holder died or stalled) lets another process take the
-- rows. Only leased rows are in the partial index, so renewing and
-- releasing a process's leases stays cheap on a large queue.
ALTER TABLE deliveries ADD COLUMN lease_owner TEXT;
ALTER TABLE deliveries ADD COLUMN lease_until TEXT;
CREATE INDEX deliveries_leased ON deliveries (lease_owner) WHERE lease_owner IS NOT NULL;

-- The processes that send: a heartbeat each, so that `gazette status`
-- lists the live ones, `smtp.rate` is shared among them, and the leases
-- of a process that died on this host are released at once.
CREATE TABLE senders (
    id           TEXT PRIMARY KEY,
    host         TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    role         TEXT NOT NULL,
    campaign_id  INTEGER,
    started_at   TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL
);
