-- Signed provider webhooks seen recently: a signature (Mailgun's token,
-- SNS's MessageId, SendGrid's signed timestamp and body) is used once.
-- `digest` is the SHA-256 of what was applied under it: the same request
-- again changes nothing, the same nonce with another body is refused.
-- Rows older than the freshness window (twice five minutes) are deleted as
-- new ones arrive.
CREATE TABLE webhook_nonces (
    provider TEXT NOT NULL,
    nonce    TEXT NOT NULL,
    digest   TEXT NOT NULL,
    seen_at  TEXT NOT NULL,
    PRIMARY KEY (provider, nonce)
);
CREATE INDEX webhook_nonces_seen ON webhook_nonces (seen_at);
