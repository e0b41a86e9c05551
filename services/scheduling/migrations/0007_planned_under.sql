-- The activation of the tier policy each customer was last planned under
-- (`announced_policy.activation`; 0 for the configured preset). When tiering
-- activates another policy, every customer planned under an earlier one is
-- due again, so the cadence follows the policy in force without one
-- transaction touching every row; the index lets each pass find them
-- (normally none) at once.
ALTER TABLE planning ADD COLUMN planned_under bigint NOT NULL DEFAULT 0;
CREATE INDEX planning_under_idx ON planning (planned_under, customer_id);

-- A task is planned once per rule and day, but a cancelled one no longer
-- counts: a customer re-planned back to an earlier cadence (a tier there and
-- back, a policy changed and restored, a rule's channel changed) gets the
-- task again instead of finding the cancelled one in its way.
ALTER TABLE tasks DROP CONSTRAINT tasks_customer_id_rule_key_planned_date_key;
CREATE UNIQUE INDEX tasks_planned_once_idx ON tasks (customer_id, rule_key, planned_date)
    WHERE state <> 'cancelled';
