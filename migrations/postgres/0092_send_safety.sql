-- Send-time safety (issue 27): the rate a run settled at after the server
-- asked it to slow down, and why the circuit breaker paused a campaign
-- (`campaigns resume --force` clears it).
ALTER TABLE campaigns ADD COLUMN settled_rate double precision;
ALTER TABLE campaigns ADD COLUMN throttled text;
ALTER TABLE campaigns ADD COLUMN breaker text;
-- The canary: how many recipients it went to (set once: NULL, no canary
-- yet), and when its wait ends. The rest of the audience waits with
-- next_attempt_at at the hold mark (src/store/safety.rs) until released.
ALTER TABLE campaigns ADD COLUMN canary_size bigint;
ALTER TABLE campaigns ADD COLUMN canary_until timestamptz;
