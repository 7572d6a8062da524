-- Subscribers added through the admin API have the source 'api' (issue 27).
ALTER TABLE subscribers DROP CONSTRAINT subscribers_source_check;
ALTER TABLE subscribers ADD CONSTRAINT subscribers_source_check
    CHECK (source IN ('cli', 'import', 'web', 'api'));

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
    created_at timestamptz NOT NULL
);
CREATE INDEX test_sends_created ON test_sends (created_at);
