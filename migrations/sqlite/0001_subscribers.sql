-- Subscribers and the suppression list.
CREATE TABLE subscribers (
    id               INTEGER PRIMARY KEY,
    email            TEXT NOT NULL,
    -- lowercase address: uniqueness is case-insensitive
    email_key        TEXT NOT NULL UNIQUE,
    name             TEXT,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'active', 'unsubscribed', 'bounced', 'complained')),
    source           TEXT NOT NULL CHECK (source IN ('cli', 'import', 'web')),
    attributes       TEXT NOT NULL DEFAULT '{}',
    created_at       TEXT NOT NULL,
    confirmed_at     TEXT,
    unsubscribed_at  TEXT,
    -- Tokens are "{id in hex}.{verifier}": the id finds the row, the
    -- 128-bit random verifier is compared in constant time.
    -- Unsubscribe verifier (it goes into every email, so it is kept):
    unsub_verifier   TEXT NOT NULL,
    -- double opt-in: only a SHA-256 hash of the verifier is kept
    confirm_hash     TEXT,
    confirm_expires_at TEXT,
    confirm_sent_at  TEXT
);

CREATE INDEX subscribers_status ON subscribers (status, id);

-- Addresses whose personal data was erased: only a hash of the address is
-- kept, so that an import cannot make them active again.
CREATE TABLE suppressions (
    email_hash TEXT PRIMARY KEY,
    reason     TEXT NOT NULL,
    created_at TEXT NOT NULL
);
