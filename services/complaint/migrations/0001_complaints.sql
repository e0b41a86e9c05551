-- Complaints, their timeline and stages, the monthly serials that number
-- them, the units' designated handlers and the policy in force.

-- The last serial given in each month (the company's zone), e.g. '2026-11'.
-- Intake takes the next one in its own transaction: concurrent intakes on
-- any number of replicas queue on the month's row, a failed intake rolls its
-- serial back, so serials are gap-free and unique.
CREATE TABLE complaint_serials (
    month        text    PRIMARY KEY,
    last_serial  bigint  NOT NULL CHECK (last_serial > 0)
);

CREATE TABLE complaints (
    id                      uuid        PRIMARY KEY,
    number                  text        NOT NULL UNIQUE,
    customer_id             uuid        NOT NULL,
    channel                 text        NOT NULL,
    order_number            text        NOT NULL DEFAULT '',
    item                    text        NOT NULL DEFAULT '',
    quantity_milli          bigint,
    quantity_unit           text        NOT NULL DEFAULT '',
    quantity_undetermined   boolean     NOT NULL DEFAULT false,
    delivery_date           date,
    demand                  text        NOT NULL,
    reason                  text        NOT NULL DEFAULT '',
    description             text        NOT NULL,
    attachments             jsonb       NOT NULL DEFAULT '[]',
    -- What was known of the customer at intake: deadlines follow the tier,
    -- reach follows the unit path and the manager.
    tier                    text        NOT NULL DEFAULT '',
    org_unit                text        NOT NULL DEFAULT '',
    org_unit_path           text[]      NOT NULL DEFAULT '{}',
    account_manager         text        NOT NULL DEFAULT '',
    customer_exited         boolean     NOT NULL DEFAULT false,
    handler                 text        NOT NULL DEFAULT '',
    handler_unit_path       text[]      NOT NULL DEFAULT '{}',
    repeat_of               uuid        REFERENCES complaints (id),
    state                   text        NOT NULL,
    investigation           jsonb,
    resolution              jsonb,
    loss_minor              bigint      CHECK (loss_minor BETWEEN 0 AND 1000000000000000),
    loss_currency           text,
    root_cause              text,
    not_valid_reason        text        NOT NULL DEFAULT '',
    -- The current stage's clock (domain::deadlines::StageClock).
    stage_started_at        timestamptz NOT NULL,
    stage_worked_secs       bigint      NOT NULL DEFAULT 0,
    stage_running_since     timestamptz,
    stage_paused_secs       bigint      NOT NULL DEFAULT 0,
    paused_reason           text        NOT NULL DEFAULT '',
    paused_since            timestamptz,
    paused_secs             bigint      NOT NULL DEFAULT 0,
    due_at                  timestamptz,
    warned                  boolean     NOT NULL DEFAULT false,
    escalation_level        integer     NOT NULL DEFAULT 0,
    -- When the deadline job next looks at it; NULL when there is nothing
    -- to look at (finished, or paused).
    next_alarm_at           timestamptz,
    overdue                 boolean     NOT NULL DEFAULT false,
    reopen_count            integer     NOT NULL DEFAULT 0,
    received_at             timestamptz NOT NULL,
    closed_at               timestamptz,
    survey_score            smallint    CHECK (survey_score BETWEEN 1 AND 5),
    survey_comment          text,
    survey_by               text,
    survey_at               timestamptz,
    version                 bigint      NOT NULL,
    updated_at              timestamptz NOT NULL
);
CREATE INDEX complaints_customer_idx ON complaints (customer_id, received_at DESC);
CREATE INDEX complaints_received_idx ON complaints (received_at DESC, id DESC);
CREATE INDEX complaints_closed_idx ON complaints (closed_at) WHERE closed_at IS NOT NULL;
CREATE INDEX complaints_alarm_idx ON complaints (next_alarm_at) WHERE next_alarm_at IS NOT NULL;
CREATE INDEX complaints_unit_path_idx ON complaints USING gin (org_unit_path);

-- Every step, oldest first.
CREATE TABLE complaint_timeline (
    complaint_id  uuid        NOT NULL REFERENCES complaints (id),
    seq           integer     NOT NULL,
    kind          text        NOT NULL,
    from_state    text,
    to_state      text,
    actor         text        NOT NULL,
    at            timestamptz NOT NULL,
    note          text        NOT NULL DEFAULT '',
    PRIMARY KEY (complaint_id, seq)
);

-- Each finished stage: how long it took in working time, how long it stood
-- paused, and whether it met its deadline (the figures per stage).
CREATE TABLE complaint_stages (
    complaint_id  uuid        NOT NULL REFERENCES complaints (id),
    seq           integer     NOT NULL,
    stage         text        NOT NULL,
    started_at    timestamptz NOT NULL,
    ended_at      timestamptz NOT NULL,
    worked_secs   bigint      NOT NULL,
    paused_secs   bigint      NOT NULL,
    on_time       boolean     NOT NULL,
    PRIMARY KEY (complaint_id, seq)
);
CREATE INDEX complaint_stages_ended_idx ON complaint_stages (ended_at);

-- The staff member who receives each unit's new complaints (002 §9).
CREATE TABLE unit_handlers (
    org_unit  text        PRIMARY KEY,
    handler   text        NOT NULL,
    set_by    text        NOT NULL,
    set_at    timestamptz NOT NULL
);
