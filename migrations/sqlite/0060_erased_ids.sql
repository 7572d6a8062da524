-- The row ids of erased subscribers, for a few minutes: a campaign that is
-- sending holds recipients fetched before the erasure, and its opt-out
-- poll must see that they are gone. An id alone identifies nobody once the
-- row and every link to it are deleted; entries older than a day are pruned.
CREATE TABLE erased_ids (
    row_id INTEGER PRIMARY KEY,
    erased_at TEXT NOT NULL
);
CREATE INDEX erased_ids_at ON erased_ids (erased_at);
