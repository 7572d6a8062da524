-- The unsubscribe links of rows merged into another (SQLite's IDN merge,
-- migration 0086 there; a database copied from SQLite brings them along).
CREATE TABLE subscriber_aliases (
    selector       TEXT PRIMARY KEY,
    unsub_verifier TEXT NOT NULL,
    subscriber_id  BIGINT NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE
);
CREATE INDEX subscriber_aliases_subscriber ON subscriber_aliases (subscriber_id);
