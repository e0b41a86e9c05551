-- Activity (000 3.5) and manual overrides, kept with each assignment.
ALTER TABLE assignments
    ADD COLUMN activity text,
    ADD COLUMN activity_reason text,
    ADD COLUMN override_tier text,
    ADD COLUMN override_reason text,
    ADD COLUMN override_by text;

ALTER TABLE tier_changes DROP CONSTRAINT tier_changes_reason_check;
ALTER TABLE tier_changes ADD CONSTRAINT tier_changes_reason_check
    CHECK (reason IN ('upgrade', 'downgrade', 'review', 'override'));
