-- The organisation directory (001: company > region > city > branch), the
-- placement of customers in it, manager assignment and exits.

-- `path` is the chain of ids from the company down, '/company/east/sh/':
-- a unit's subtree is every unit whose path starts with its path.
CREATE TABLE org_units (
    id            text        PRIMARY KEY,
    parent_id     text        REFERENCES org_units (id),
    kind          smallint    NOT NULL CHECK (kind BETWEEN 1 AND 4),
    display_name  text        NOT NULL,
    path          text        NOT NULL UNIQUE,
    version       bigint      NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL DEFAULT now(),
    created_by    text        NOT NULL DEFAULT 'patron',
    updated_at    timestamptz NOT NULL DEFAULT now(),
    updated_by    text        NOT NULL DEFAULT 'patron',
    CHECK ((parent_id IS NULL) = (kind = 1))
);
CREATE INDEX org_units_path_idx ON org_units (path text_pattern_ops);

-- Every deployment serves one company; its root unit exists from the start.
INSERT INTO org_units (id, parent_id, kind, display_name, path)
VALUES ('company', NULL, 1, 'Company', '/company/');

-- Staff ids are the subjects of their tokens. The row is locked while a
-- customer is assigned to them, which is what keeps the limit under
-- concurrent assignments.
CREATE TABLE staff (
    id              text        PRIMARY KEY,
    display_name    text        NOT NULL,
    org_unit_id     text        NOT NULL REFERENCES org_units (id),
    -- NULL follows the policy's default limit.
    customer_limit  integer     CHECK (customer_limit > 0),
    version         bigint      NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL,
    created_by      text        NOT NULL,
    updated_at      timestamptz NOT NULL,
    updated_by      text        NOT NULL
);
CREATE INDEX staff_org_unit_idx ON staff (org_unit_id);

ALTER TABLE customers
    ADD COLUMN org_unit_id text NOT NULL DEFAULT 'company' REFERENCES org_units (id),
    ADD COLUMN exit_kind smallint CHECK (exit_kind IN (1, 2)),
    ADD COLUMN exit_reason text,
    ADD COLUMN exit_reference text,
    ADD COLUMN exited_at timestamptz,
    ADD COLUMN exited_by text;
CREATE INDEX customers_org_unit_idx ON customers (org_unit_id, id DESC) WHERE deleted_at IS NULL;

-- Every change of responsible manager, with its reason (000 3.2).
CREATE TABLE manager_assignments (
    id                bigserial   PRIMARY KEY,
    customer_id       uuid        NOT NULL REFERENCES customers (id),
    previous_manager  text        NOT NULL,
    new_manager       text        NOT NULL,
    reason            text        NOT NULL,
    assigned_by       text        NOT NULL,
    assigned_at       timestamptz NOT NULL
);
CREATE INDEX manager_assignments_customer_idx ON manager_assignments (customer_id, id DESC);
