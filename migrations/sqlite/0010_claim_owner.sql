-- Claims on a campaign name their owner: the host, the process id and a
-- random id of the run. Heartbeat, release and outcome writes check the
-- random id, so a process that lost its claim cannot write over the next
-- owner's work; a claim whose process died on this host is taken over at
-- once instead of after the lease.
ALTER TABLE campaigns ADD COLUMN claim_host TEXT;
ALTER TABLE campaigns ADD COLUMN claim_pid INTEGER;
ALTER TABLE campaigns ADD COLUMN claim_id TEXT;

-- A campaign paused because the server was unreachable is retried by the
-- worker: `unreachable_tries` so far, the next at `retry_at`. NULL for
-- campaigns paused by `campaigns pause`.
ALTER TABLE campaigns ADD COLUMN unreachable_tries INTEGER NOT NULL DEFAULT 0;
ALTER TABLE campaigns ADD COLUMN retry_at TEXT;
