-- Tier policies, per-customer figures, standings and assignments.

-- Every version of every policy, as the preset text it was read from (the
-- engine re-reads it; parsing is deterministic and checked on the way in).
CREATE TABLE policies (
    id          text        NOT NULL,
    version     integer     NOT NULL,
    title       text        NOT NULL,
    source      text        NOT NULL,
    preset      text        NOT NULL,
    -- Sections for other services, kept as they came.
    sections    jsonb       NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL,
    created_by  text        NOT NULL,
    PRIMARY KEY (id, version)
);

-- The one policy version customers are tiered by (one row at most).
CREATE TABLE active_policy (
    singleton    boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    policy_id    text        NOT NULL,
    version      integer     NOT NULL,
    activated_at timestamptz NOT NULL,
    activated_by text        NOT NULL,
    FOREIGN KEY (policy_id, version) REFERENCES policies (id, version)
);

-- Per customer and day (in the company's zone): what was bought. Windows
-- are sums over days, so an event updates one row and an evaluation reads a
-- year of rows at most, never the whole history of transactions.
CREATE TABLE daily_figures (
    customer_id   uuid    NOT NULL,
    day           date    NOT NULL,
    spend_minor   bigint  NOT NULL DEFAULT 0,
    purchases     integer NOT NULL DEFAULT 0,
    largest_minor bigint  NOT NULL DEFAULT 0,
    volume_milli  bigint  NOT NULL DEFAULT 0,
    PRIMARY KEY (customer_id, day)
);

-- Facts the company sets rather than measures.
CREATE TABLE standings (
    customer_id     uuid        PRIMARY KEY,
    credit_rank     integer,
    arrears_minor   bigint      NOT NULL DEFAULT 0,
    bad_records     integer     NOT NULL DEFAULT 0,
    region          text        NOT NULL DEFAULT '',
    designated_tier text        NOT NULL DEFAULT '',
    updated_at      timestamptz NOT NULL,
    updated_by      text        NOT NULL
);

-- Each customer's tier in effect, and why.
CREATE TABLE assignments (
    customer_id     uuid        PRIMARY KEY,
    tier            text,
    pending_tier    text,
    policy_id       text        NOT NULL,
    policy_version  integer     NOT NULL,
    explanation     text        NOT NULL,
    checks          jsonb       NOT NULL DEFAULT '[]',
    decided_at      timestamptz NOT NULL,
    next_review_at  timestamptz NOT NULL,
    version         bigint      NOT NULL DEFAULT 1
);
CREATE INDEX assignments_review_idx ON assignments (next_review_at);

CREATE TABLE tier_changes (
    id              bigserial   PRIMARY KEY,
    customer_id     uuid        NOT NULL,
    from_tier       text,
    to_tier         text,
    reason          text        NOT NULL CHECK (reason IN ('upgrade', 'downgrade', 'review')),
    explanation     text        NOT NULL,
    policy_id       text        NOT NULL,
    policy_version  integer     NOT NULL,
    changed_at      timestamptz NOT NULL,
    actor           text        NOT NULL
);
CREATE INDEX tier_changes_customer_idx ON tier_changes (customer_id, id DESC);
