-- Send-time safety (issue 27): the rate a run settled at after the server
-- asked it to slow down, and why the circuit breaker paused a campaign
-- (`campaigns resume --force` clears it).
ALTER TABLE campaigns ADD COLUMN settled_rate REAL;
ALTER TABLE campaigns ADD COLUMN throttled TEXT;
ALTER TABLE campaigns ADD COLUMN breaker TEXT;
-- The canary: how many recipients it went to (set once: NULL, no canary
-- yet), and when its wait ends. The rest of the audience waits with
-- next_attempt_at at the hold mark (src/store/safety.rs) until released.
ALTER TABLE campaigns ADD COLUMN canary_size INTEGER;
ALTER TABLE campaigns ADD COLUMN canary_until TEXT;
