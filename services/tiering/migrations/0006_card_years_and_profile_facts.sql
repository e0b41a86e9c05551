-- Card years (003 第十六、十七条): a card is valid through the end of the
-- renewal month of its year; renewed cards point at their successor, cards
-- not renewed are void after it.
ALTER TABLE cards ADD COLUMN valid_through date;
-- Cards issued before card years existed: the end of December of their issue
-- year (issue day = register_by - 30), the next year's when issued in December.
UPDATE cards
   SET valid_through = make_date(
         EXTRACT(year FROM register_by - 30)::int
           + CASE WHEN EXTRACT(month FROM register_by - 30) = 12 THEN 1 ELSE 0 END,
         12, 31);
ALTER TABLE cards ALTER COLUMN valid_through SET NOT NULL;
ALTER TABLE cards DROP CONSTRAINT cards_status_check;
ALTER TABLE cards ADD CONSTRAINT cards_status_check CHECK (status IN (1, 2, 3, 4, 5));
-- The void job looks for live cards past their year.
CREATE INDEX cards_live_valid_through_idx ON cards (valid_through) WHERE status IN (1, 2);

-- One PointsExpiring per account and expiry day.
CREATE TABLE points_expiry_warnings (
    account     uuid        NOT NULL,
    expires_on  date        NOT NULL,
    points      bigint      NOT NULL,
    warned_at   timestamptz NOT NULL,
    PRIMARY KEY (account, expires_on)
);

-- What profile says of each customer that tiering acts on: the manager (for
-- per-manager lists and managers' reach), the org unit and the units above it
-- (unit-scoped reach), the birthday (birthday discounts). Each part keeps the
-- archive version it came from, so an older event arriving late changes nothing.
CREATE TABLE customer_facts (
    customer_id      uuid        PRIMARY KEY,
    account_manager  text        NOT NULL DEFAULT '',
    manager_version  bigint      NOT NULL DEFAULT 0,
    org_unit         text        NOT NULL DEFAULT '',
    -- Unit ids from the company down to the archive's own.
    org_unit_path    text[]      NOT NULL DEFAULT '{}',
    birthday_month   smallint,
    birthday_day     smallint,
    facts_version    bigint      NOT NULL DEFAULT 0,
    updated_at       timestamptz NOT NULL
);
CREATE INDEX customer_facts_manager_idx ON customer_facts (account_manager, customer_id);
CREATE INDEX customer_facts_units_idx ON customer_facts USING gin (org_unit_path);

-- Where each staff member sits, from profile's StaffMemberPlaced: a
-- supervisor reaches the customers of their unit's subtree.
CREATE TABLE directory_staff (
    staff_id    text        PRIMARY KEY,
    org_unit    text        NOT NULL,
    version     bigint      NOT NULL,
    updated_at  timestamptz NOT NULL
);
