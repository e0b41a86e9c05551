-- The daily sweep finds customers not evaluated since the start of the day.
CREATE INDEX assignments_decided_idx ON assignments (decided_at);
