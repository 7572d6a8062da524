-- The worker's memory: posts it has seen published, digest periods it has
-- handled (one idempotency key per period), and small facts.
CREATE TABLE seen_posts (
    slug     TEXT PRIMARY KEY,
    seen_at  TEXT NOT NULL,
    -- the post campaign this post started, if `[publish] mode` mails posts
    campaign_id INTEGER REFERENCES campaigns (id) ON DELETE SET NULL
);

CREATE TABLE digest_runs (
    -- the scheduled time of the period, UTC
    period      TEXT PRIMARY KEY,
    campaign_id INTEGER REFERENCES campaigns (id) ON DELETE SET NULL,
    handled_at  TEXT NOT NULL
);

CREATE TABLE worker_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
