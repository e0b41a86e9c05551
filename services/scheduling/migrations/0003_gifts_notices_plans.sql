-- Gifts and relationship expenses (客情费, 001), priority notices of a policy
-- or price change (000 3.11), managers' service plans and the reviews of
-- their work logs (002 §1).

-- A gift or relationship expense: requested with a budget, approved (or
-- refused) by a supervisor within their authority, then spent. Each step
-- is also a row of gift_expense_steps, with who and when.
CREATE TABLE gift_expenses (
    id              uuid        PRIMARY KEY,
    customer_id     uuid        NOT NULL,
    purpose         text        NOT NULL,
    currency        text        NOT NULL,
    budget_minor    bigint      NOT NULL CHECK (budget_minor BETWEEN 1 AND 1000000000000000),
    approved_minor  bigint      CHECK (approved_minor BETWEEN 1 AND 1000000000000000),
    spent_minor     bigint      CHECK (spent_minor BETWEEN 0 AND 1000000000000000),
    state           text        NOT NULL DEFAULT 'requested',
    requested_by    text        NOT NULL,
    -- The unit the requester sat in when asking: the monthly report's unit.
    requester_unit  text        NOT NULL DEFAULT '',
    requested_at    timestamptz NOT NULL,
    -- When it was approved or refused, and spent: the report counts each
    -- step in the month it was taken.
    decided_at      timestamptz,
    spent_at        timestamptz,
    version         bigint      NOT NULL DEFAULT 1
);
CREATE INDEX gift_expenses_requested_idx ON gift_expenses (requested_at DESC, id DESC);
CREATE INDEX gift_expenses_decided_idx ON gift_expenses (decided_at) WHERE decided_at IS NOT NULL;
CREATE INDEX gift_expenses_spent_idx ON gift_expenses (spent_at) WHERE spent_at IS NOT NULL;
CREATE INDEX gift_expenses_customer_idx ON gift_expenses (customer_id);

CREATE TABLE gift_expense_steps (
    gift_expense_id uuid        NOT NULL REFERENCES gift_expenses (id),
    seq             integer     NOT NULL,
    action          text        NOT NULL,
    actor           text        NOT NULL,
    at              timestamptz NOT NULL,
    note            text        NOT NULL DEFAULT '',
    amount_minor    bigint,
    PRIMARY KEY (gift_expense_id, seq)
);

-- A priority notice; its tasks are rows of `tasks` (kind 'notice', rule key
-- 'notice:<id>'), created in one statement, highest tier first.
CREATE TABLE priority_notices (
    id            uuid        PRIMARY KEY,
    title         text        NOT NULL,
    body          text        NOT NULL,
    -- The tiers asked for; empty for every tier.
    tiers         text[]      NOT NULL DEFAULT '{}',
    channel       text        NOT NULL,
    due_date      date        NOT NULL,
    issued_by     text        NOT NULL,
    issued_at     timestamptz NOT NULL,
    -- Tasks created per tier, highest tier first (two arrays of one length).
    counted_tiers text[]      NOT NULL DEFAULT '{}',
    tier_tasks    bigint[]    NOT NULL DEFAULT '{}'
);

-- A manager's plan for a year, month or week; one per manager and period.
CREATE TABLE service_plans (
    id            uuid        PRIMARY KEY,
    staff_member  text        NOT NULL,
    period        text        NOT NULL,
    period_start  date        NOT NULL,
    period_end    date        NOT NULL CHECK (period_end >= period_start),
    body          text        NOT NULL DEFAULT '',
    items         text[]      NOT NULL DEFAULT '{}',
    state         text        NOT NULL DEFAULT 'draft',
    created_at    timestamptz NOT NULL,
    version       bigint      NOT NULL DEFAULT 1,
    UNIQUE (staff_member, period, period_start)
);
CREATE INDEX service_plans_list_idx ON service_plans (period_start DESC, id DESC);

CREATE TABLE service_plan_steps (
    service_plan_id uuid        NOT NULL REFERENCES service_plans (id),
    seq             integer     NOT NULL,
    action          text        NOT NULL,
    actor           text        NOT NULL,
    at              timestamptz NOT NULL,
    note            text        NOT NULL DEFAULT '',
    PRIMARY KEY (service_plan_id, seq)
);

-- A supervisor's review of a manager's contact log (their work log) for a
-- period. A period signed off is closed; a returned one may be reviewed again.
CREATE TABLE work_log_reviews (
    id            uuid        PRIMARY KEY,
    staff_member  text        NOT NULL,
    period        text        NOT NULL,
    period_start  date        NOT NULL,
    period_end    date        NOT NULL CHECK (period_end >= period_start),
    decision      text        NOT NULL,
    note          text        NOT NULL DEFAULT '',
    reviewer      text        NOT NULL,
    reviewed_at   timestamptz NOT NULL,
    contact_count bigint      NOT NULL
);
CREATE INDEX work_log_reviews_staff_idx ON work_log_reviews (staff_member, period, period_start);
CREATE INDEX work_log_reviews_list_idx ON work_log_reviews (reviewed_at DESC, id DESC);
CREATE UNIQUE INDEX work_log_reviews_one_sign_off_idx
    ON work_log_reviews (staff_member, period, period_start) WHERE decision = 'signed_off';

-- The work log of a manager for a period.
CREATE INDEX contact_logs_staff_idx ON contact_logs (staff_member, contact_time DESC);
