-- The daily sweep walks the primary key with a cursor per replica instead of
-- reading an index on decided_at: an index on a column that every day's
-- decision changes kept every rewrite of a customer's row from being HOT (a
-- new entry in each of the table's indexes per customer per day). The fill
-- factor leaves each page room for its rows' next versions.
DROP INDEX assignments_decided_idx;
ALTER TABLE assignments SET (fillfactor = 70);

-- Days on which the sweep found no one left to decide: later rounds of the
-- day, and the backlog metric, need not look through every assignment.
CREATE TABLE sweep_days (
    day          date        PRIMARY KEY,
    finished_at  timestamptz NOT NULL
);
