-- The imported readers not yet welcomed (or marked welcomed), which every
-- import looks for afterwards (`Store::imported_unwelcomed`): without this
-- index that look read every active row (a third of a second at a million
-- rows). Only unwelcomed imported rows are in it, so it stays small.
-- (PostgreSQL marks an import's rows after it, so they would all go in and
-- out again: it has no such index.)
CREATE INDEX subscribers_unwelcomed ON subscribers (status, id)
    WHERE welcomed_at IS NULL AND source = 'import';
