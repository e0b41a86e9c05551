-- Who holds the roles the policy's cadence names (the store manager, the
-- sales manager, the responsible leader, senior management...) for a unit
-- and the units below it: a task of such a role goes to the holder for the
-- customer's unit or the nearest unit above it that has one.

-- One holder per unit and role. The directory knows where staff sit, not
-- who holds which role of the cadence, so scheduling keeps it, as it keeps
-- the group leads.
CREATE TABLE role_holders (
    org_unit       text        NOT NULL,
    role           text        NOT NULL,
    holder         text        NOT NULL,
    -- Unit ids from the company down to org_unit, as the holder's
    -- placement gave them when named: who reaches the unit may change it.
    org_unit_path  text[]      NOT NULL,
    set_by         text        NOT NULL,
    set_at         timestamptz NOT NULL,
    PRIMARY KEY (org_unit, role)
);
CREATE INDEX role_holders_role_idx ON role_holders (role, org_unit);

-- The unit whose holder of the task's role it went to; NULL when it is the
-- customer's account manager's (their own rule, or nobody holds the role).
-- A change of manager moves only those.
ALTER TABLE tasks ADD COLUMN role_unit text;
