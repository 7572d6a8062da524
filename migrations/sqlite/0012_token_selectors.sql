-- Tokens are "{selector}.{verifier}": a random 72-bit selector (18 hex
-- digits) finds the row, so links no longer reveal row ids (and with them
-- the size of the list). Links already sent in the old "{id in hex}" form
-- keep working. One selector serves the confirmation and the unsubscribe
-- token; the verifiers differ.
ALTER TABLE subscribers ADD COLUMN selector TEXT;
UPDATE subscribers SET selector = lower(hex(randomblob(9))) WHERE selector IS NULL;
CREATE UNIQUE INDEX subscribers_selector ON subscribers (selector);
-- Rows inserted without a selector (by any code path) get one at once.
CREATE TRIGGER subscribers_selector_default AFTER INSERT ON subscribers
WHEN NEW.selector IS NULL
BEGIN
    UPDATE subscribers SET selector = lower(hex(randomblob(9))) WHERE id = NEW.id;
END;

-- A name given with a web subscription is kept here, tied to the pending
-- confirmation of the row that subscription created, and becomes the
-- subscriber's name only when that confirmation is used.
ALTER TABLE subscribers ADD COLUMN confirm_name TEXT;
