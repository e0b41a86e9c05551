-- A deleted archive leaves tiering's working sets (the sweep, rankings, lists)
-- for good; the tombstone keeps a late event about it from bringing it back.
ALTER TABLE customer_facts ADD COLUMN deleted_at timestamptz;

-- A staff member removed from the directory keeps their row, without a unit,
-- with the version of the removal, so an older placement arriving late
-- grants no reach again.
ALTER TABLE directory_staff ALTER COLUMN org_unit DROP NOT NULL;
