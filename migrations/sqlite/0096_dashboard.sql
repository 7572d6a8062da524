-- Click counts that track nobody (issue 31): one row per link of a
-- campaign's HTML part, numbered from 1 in the order the links first
-- appear, with a counter. No address, no IP, no time of a click.
CREATE TABLE campaign_links (
    campaign_id INTEGER NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    link        INTEGER NOT NULL,
    url         TEXT NOT NULL,
    clicks      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, link)
);

-- The dashboard: delivery counts and the delivery timeline of a finished
-- campaign, computed once (they no longer change) and kept with the
-- finished_at they were computed for.
CREATE TABLE campaign_counts (
    campaign_id INTEGER PRIMARY KEY REFERENCES campaigns (id) ON DELETE CASCADE,
    finished_at TEXT NOT NULL,
    sent        INTEGER NOT NULL,
    failed      INTEGER NOT NULL,
    pending     INTEGER NOT NULL,
    skipped     INTEGER NOT NULL,
    -- JSON: [[minute, messages sent], ...]
    timeline    TEXT NOT NULL
);

-- Growth per week (confirmations), and the campaign an unsubscribe came
-- after (a reader's deliveries by time, the campaign in the index so that
-- the look-up reads no table row).
CREATE INDEX subscribers_confirmed_at ON subscribers (confirmed_at);
CREATE INDEX deliveries_subscriber_sent ON deliveries (subscriber_id, sent_at, campaign_id);
