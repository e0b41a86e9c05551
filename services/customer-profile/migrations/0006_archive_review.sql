-- Archive review (003: every archive revisited at least once a year).
ALTER TABLE customers ADD COLUMN last_reviewed_at timestamptz;
CREATE INDEX customers_review_due_idx ON customers ((COALESCE(last_reviewed_at, created_at)), id)
    WHERE deleted_at IS NULL;
