-- The imported readers made active but not yet welcomed (or marked
-- welcomed), which every import looks for afterwards
-- (`Store::imported_unwelcomed`): without this index that look read every
-- active row (a third of a second at a million rows). Only those rows are
-- in it (an import marks the rows it inserts active as welcomed at once),
-- so it stays small. `status` leads so that the planner prefers it to
-- `subscribers_status`. (PostgreSQL marks an import's rows after it, so
-- they would all go in and out again: it has no such index.)
CREATE INDEX subscribers_unwelcomed ON subscribers (status, id)
    WHERE status = 'active' AND source = 'import' AND welcomed_at IS NULL;
