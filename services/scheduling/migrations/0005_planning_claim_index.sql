-- The generation job claims the customers due longest first
-- (ORDER BY planned_until, customer_id ... FOR UPDATE SKIP LOCKED): with
-- both columns in the index each claim reads only the rows it takes,
-- instead of sorting every due row again for each batch.
DROP INDEX IF EXISTS planning_until_idx;
CREATE INDEX planning_due_idx ON planning (planned_until, customer_id);
