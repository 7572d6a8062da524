-- Bounces and complaints: one row per event (a synchronous rejection, a
-- returned message's recipient, a provider webhook event). No address is
-- kept here: rows belong to a subscriber and go with them when erased.
CREATE TABLE bounces (
    id            INTEGER PRIMARY KEY,
    -- what made the row, so that processing the same event twice is a no-op
    event_key     TEXT NOT NULL UNIQUE,
    subscriber_id INTEGER REFERENCES subscribers (id) ON DELETE CASCADE,
    campaign_id   INTEGER REFERENCES campaigns (id) ON DELETE SET NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('hard', 'soft', 'complaint', 'none')),
    -- a refusal of the sender or content (5.7.x): counts against the
    -- campaign, never against the subscriber
    blocked       INTEGER NOT NULL DEFAULT 0,
    status        TEXT,
    reason        TEXT NOT NULL,
    diagnostic    TEXT,
    source        TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE INDEX bounces_subscriber ON bounces (subscriber_id, kind, created_at);
CREATE INDEX bounces_campaign ON bounces (campaign_id, kind);
CREATE INDEX bounces_created ON bounces (created_at);

-- VERP: a returned message names its delivery by the random part of the
-- Message-ID it carried.
CREATE INDEX deliveries_message_id ON deliveries (message_id);

-- Soft bounces before this time no longer count (set by `subscribers reactivate`).
ALTER TABLE subscribers ADD COLUMN bounces_reset_at TEXT;
