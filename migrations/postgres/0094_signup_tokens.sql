-- Sign-up tokens used (issue 27): a signed, time-stamped token of the
-- subscribe form proceeds once; its nonce is remembered until the token
-- would have expired anyway (a day), then deleted as new ones arrive.
CREATE TABLE signup_tokens (
    nonce   TEXT PRIMARY KEY,
    used_at timestamptz NOT NULL
);
CREATE INDEX signup_tokens_used ON signup_tokens (used_at);
