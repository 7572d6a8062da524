-- The IDN rekey (0050) left a row under its old Unicode key where the
-- ASCII form of the same mailbox was stored too: two rows for one person,
-- each mailed, an opt-out or erasure of one not reaching the other. The
-- store now merges such a row into the ASCII one (src/store/idn.rs), once:
-- this marks the merge as due where such rows exist. The merged row's
-- unsubscribe links keep working: its selector and verifier are kept here,
-- naming the row it was merged into (and erased with it).
CREATE TABLE subscriber_aliases (
    selector       TEXT PRIMARY KEY,
    unsub_verifier TEXT NOT NULL,
    subscriber_id  INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE
);
CREATE INDEX subscriber_aliases_subscriber ON subscriber_aliases (subscriber_id);
INSERT INTO idn_rekey_due (due)
SELECT 1 WHERE EXISTS (SELECT 1 FROM subscribers WHERE email_key GLOB '*@*[^ -~]*');
