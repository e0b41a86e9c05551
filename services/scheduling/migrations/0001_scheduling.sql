-- Tasks generated from the policy, contacts logged, leaves and their
-- handovers, large projects. Customers, their tiers and the policy in force
-- are the kit's directory projection (`patron_kit::directory`).

-- One row per planned contact. A generated task is unique per customer,
-- rule and due day, so two replicas planning the same customer create it
-- once (the second insert does nothing).
CREATE TABLE tasks (
    id             uuid        PRIMARY KEY,
    customer_id    uuid        NOT NULL,
    kind           text        NOT NULL,
    rule_key       text        NOT NULL,
    rule           text        NOT NULL,
    role           text        NOT NULL DEFAULT '',
    channel        text        NOT NULL,
    tier           text        NOT NULL DEFAULT '',
    assignee       text        NOT NULL DEFAULT '',
    -- The assignee before a leave handed the task over; NULL otherwise.
    handed_over_from text,
    due_date       date        NOT NULL,
    planned_date   date        NOT NULL,
    state          text        NOT NULL DEFAULT 'open',
    snooze_reason  text        NOT NULL DEFAULT '',
    contact_log_id uuid,
    done_on        date,
    -- The last day the contact is on time (a snooze past it makes it late).
    latest_date    date        NOT NULL,
    -- TaskOverdue was published for it.
    overdue_announced boolean  NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL,
    version        bigint      NOT NULL DEFAULT 1,
    UNIQUE (customer_id, rule_key, planned_date)
);
CREATE INDEX tasks_assignee_due_idx ON tasks (assignee, due_date) WHERE state = 'open';
CREATE INDEX tasks_customer_idx ON tasks (customer_id, due_date);
CREATE INDEX tasks_due_idx ON tasks (due_date);

-- Every contact, with or without a task; the cadence counts from the last.
CREATE TABLE contact_logs (
    id            uuid        PRIMARY KEY,
    customer_id   uuid        NOT NULL,
    task_id       uuid        REFERENCES tasks (id),
    channel       text        NOT NULL,
    contact_time  timestamptz NOT NULL,
    summary       text        NOT NULL DEFAULT '',
    staff_member  text        NOT NULL,
    created_at    timestamptz NOT NULL
);
CREATE INDEX contact_logs_customer_idx ON contact_logs (customer_id, contact_time DESC);

-- When each customer was last planned for, so the generation job knows
-- whom to plan next and replicas share the work (FOR UPDATE SKIP LOCKED).
CREATE TABLE planning (
    customer_id   uuid        PRIMARY KEY,
    planned_until date        NOT NULL,
    planned_at    timestamptz NOT NULL,
    -- The day the service first heard of the customer: new-customer
    -- follow-up runs from it.
    first_seen    date        NOT NULL
);
CREATE INDEX planning_until_idx ON planning (planned_until);

CREATE TABLE leaves (
    id            uuid        PRIMARY KEY,
    staff_member  text        NOT NULL,
    stand_in      text        NOT NULL,
    start_date    date        NOT NULL,
    end_date      date        NOT NULL CHECK (end_date >= start_date),
    handed_over   boolean     NOT NULL DEFAULT false,
    returned      boolean     NOT NULL DEFAULT false,
    created_by    text        NOT NULL,
    created_at    timestamptz NOT NULL
);
CREATE INDEX leaves_staff_idx ON leaves (staff_member, start_date);

CREATE TABLE handovers (
    leave_id    uuid        NOT NULL REFERENCES leaves (id),
    task_id     uuid        NOT NULL REFERENCES tasks (id),
    from_staff  text        NOT NULL,
    to_staff    text        NOT NULL,
    direction   text        NOT NULL,
    at          timestamptz NOT NULL
);
CREATE INDEX handovers_leave_idx ON handovers (leave_id, at);

CREATE TABLE projects (
    id            uuid        PRIMARY KEY,
    customer_id   uuid        NOT NULL,
    title         text        NOT NULL,
    amount_minor  bigint      NOT NULL CHECK (amount_minor BETWEEN 0 AND 1000000000000000),
    currency      text        NOT NULL,
    signed        boolean     NOT NULL DEFAULT false,
    owner_role    text        NOT NULL,
    owner_history jsonb       NOT NULL DEFAULT '[]',
    version       bigint      NOT NULL DEFAULT 1,
    updated_at    timestamptz NOT NULL
);
CREATE INDEX tasks_overdue_idx ON tasks (due_date) WHERE state = 'open' AND NOT overdue_announced;
