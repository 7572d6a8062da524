-- For readers: the welcome email goes out once per person (`welcomed_at`
-- is set atomically by the one send that claims it); each reader's own
-- frequency ('each', 'digest', 'both'; NULL: the `[publish] mode` default)
-- and topics (a JSON array of tags; NULL or empty: every post).
ALTER TABLE subscribers ADD COLUMN welcomed_at TEXT;
ALTER TABLE subscribers ADD COLUMN frequency TEXT CHECK (frequency IN ('each', 'digest', 'both'));
ALTER TABLE subscribers ADD COLUMN topics TEXT;
-- Readers confirmed before welcome emails existed are not welcomed late.
UPDATE subscribers SET welcomed_at = COALESCE(confirmed_at, created_at) WHERE status <> 'pending';

-- A digest is sent once per distinct selection of posts (readers' topics):
-- the campaign of the whole digest is the archived one; the others name it.
ALTER TABLE campaigns ADD COLUMN variant_of INTEGER REFERENCES campaigns (id) ON DELETE SET NULL;
-- The archive's and the feed's summary of an issue: the post's summary,
-- or the titles of a digest's posts.
ALTER TABLE campaigns ADD COLUMN summary TEXT;
