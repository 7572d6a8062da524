-- Campaigns and their deliveries: one row per recipient, created in the
-- same transaction as the campaign starts, so the audience is fixed then.
CREATE TABLE campaigns (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('post', 'digest')),
    subject      TEXT NOT NULL,
    -- the rendered email (JSON: subject, html, text, kind), rendered once
    prepared     TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'paused', 'done', 'cancelled', 'failed')),
    total        INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    -- set every second by the process sending the campaign: another
    -- process never runs it at the same time
    heartbeat_at TEXT,
    created_at   TEXT NOT NULL,
    started_at   TEXT,
    finished_at  TEXT
);

-- The posts a campaign carries (one for a post, several for a digest).
CREATE TABLE campaign_posts (
    campaign_id INTEGER NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    slug        TEXT NOT NULL,
    post_date   TEXT NOT NULL,
    PRIMARY KEY (campaign_id, slug)
);
CREATE INDEX campaign_posts_slug ON campaign_posts (slug);

CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY,
    campaign_id     INTEGER NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    subscriber_id   INTEGER REFERENCES subscribers (id) ON DELETE SET NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'skipped')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    message_id      TEXT,
    sent_at         TEXT,
    last_reply      TEXT
);
CREATE INDEX deliveries_queue ON deliveries (campaign_id, status, id);

-- The queue polls for addresses that left while a campaign runs.
CREATE INDEX subscribers_unsubscribed_at ON subscribers (unsubscribed_at);
