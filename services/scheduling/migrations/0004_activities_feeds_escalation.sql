-- Activities (symposiums and reward activities, 000 3.9 and 002 §3) with
-- their invitations and attendance; each unit's group lead, to whom overdue
-- tasks are escalated; and each manager's secret calendar feed link.

-- An overdue task is escalated to the group lead of the manager's unit (or
-- of the nearest unit above it that has one): who, when, through which unit.
ALTER TABLE tasks
    ADD COLUMN escalated_to    text,
    ADD COLUMN escalated_at    timestamptz,
    ADD COLUMN escalation_unit text;
CREATE INDEX tasks_escalated_idx ON tasks (escalated_to) WHERE state = 'open' AND escalated_to IS NOT NULL;

-- Each unit's group lead (组主任, 000 3.16). The directory knows where staff
-- sit, not who leads a unit, so scheduling keeps it.
CREATE TABLE group_leads (
    org_unit  text        PRIMARY KEY,
    lead      text        NOT NULL,
    set_by    text        NOT NULL,
    set_at    timestamptz NOT NULL
);

CREATE TABLE activities (
    id             uuid        PRIMARY KEY,
    title          text        NOT NULL,
    kind           text        NOT NULL CHECK (kind IN ('symposium', 'reward')),
    -- The organising unit and its path (unit ids from the company down).
    org_unit       text        NOT NULL,
    org_unit_path  text[]      NOT NULL,
    starts_at      timestamptz NOT NULL,
    ends_at        timestamptz,
    location       text        NOT NULL DEFAULT '',
    description    text        NOT NULL DEFAULT '',
    created_by     text        NOT NULL,
    created_at     timestamptz NOT NULL,
    version        bigint      NOT NULL DEFAULT 1,
    CHECK (ends_at IS NULL OR ends_at >= starts_at)
);
CREATE INDEX activities_starts_idx ON activities (starts_at, id);

-- One row per customer invited to an activity; the state is 'invited' until
-- attendance is recorded ('attended' or 'absent').
CREATE TABLE activity_invitations (
    activity_id  uuid        NOT NULL REFERENCES activities (id),
    customer_id  uuid        NOT NULL,
    state        text        NOT NULL DEFAULT 'invited'
                             CHECK (state IN ('invited', 'attended', 'absent')),
    invited_by   text        NOT NULL,
    invited_at   timestamptz NOT NULL,
    recorded_by  text,
    recorded_at  timestamptz,
    version      bigint      NOT NULL DEFAULT 1,
    PRIMARY KEY (activity_id, customer_id)
);
CREATE INDEX activity_invitations_customer_idx ON activity_invitations (customer_id);

-- A manager's calendar feed: only a hash of the secret in its URL is kept,
-- so the URL is shown once, when the link is made. At most one live link per
-- staff member; a revoked one stays, marked, for the record.
CREATE TABLE calendar_feeds (
    id            uuid        PRIMARY KEY,
    staff_member  text        NOT NULL,
    secret_sha256 bytea       NOT NULL UNIQUE,
    created_by    text        NOT NULL,
    created_at    timestamptz NOT NULL,
    revoked_by    text,
    revoked_at    timestamptz
);
CREATE UNIQUE INDEX calendar_feeds_live_idx ON calendar_feeds (staff_member) WHERE revoked_at IS NULL;
