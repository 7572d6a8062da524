-- Send-time safety (issue 27): the rate a run settled at after the server
-- asked it to slow down, and why the circuit breaker paused a campaign
-- (`campaigns resume --force` clears it).
ALTER TABLE campaigns ADD COLUMN settled_rate double precision;
ALTER TABLE campaigns ADD COLUMN throttled text;
ALTER TABLE campaigns ADD COLUMN breaker text;
