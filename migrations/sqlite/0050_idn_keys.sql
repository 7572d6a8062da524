-- Addresses with a Unicode domain are now kept (email and email_key) in
-- the domain's ASCII (punycode) form, so that `jörg@bücher.example` and
-- `jörg@xn--bcher-kva.example` are one identity. SQL cannot compute
-- punycode: this marks the rewrite as due, and the store does it in Rust
-- right after migrating (src/store/idn.rs), once. Suppression hashes of
-- such addresses cannot be rewritten (only the hash is kept): lookups try
-- the old Unicode key as well.
CREATE TABLE idn_rekey_due (due INTEGER NOT NULL);
INSERT INTO idn_rekey_due (due) SELECT 1 WHERE EXISTS (SELECT 1 FROM subscribers);
