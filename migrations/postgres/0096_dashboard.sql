-- Click counts that track nobody (issue 31): one row per link of a
-- campaign's HTML part, numbered from 1 in the order the links first
-- appear, with a counter. No address, no IP, no time of a click.
CREATE TABLE campaign_links (
    campaign_id bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    link        bigint NOT NULL,
    url         text NOT NULL,
    clicks      bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, link)
);

-- The dashboard: delivery counts and the delivery timeline of a finished
-- campaign, computed once (they no longer change) and kept with the
-- finished_at they were computed for.
CREATE TABLE campaign_counts (
    campaign_id bigint PRIMARY KEY REFERENCES campaigns (id) ON DELETE CASCADE,
    finished_at timestamptz NOT NULL,
    sent        bigint NOT NULL,
    failed      bigint NOT NULL,
    pending     bigint NOT NULL,
    skipped     bigint NOT NULL,
    -- JSON: [[minute, messages sent], ...]
    timeline    text NOT NULL
);

-- Growth per week (confirmations), and the campaign an unsubscribe came
-- after (a reader's deliveries by time, the campaign in the index so that
-- the look-up reads no table row).
CREATE INDEX subscribers_confirmed_at ON subscribers (confirmed_at);
CREATE INDEX deliveries_subscriber_sent ON deliveries (subscriber_id, sent_at, campaign_id);
