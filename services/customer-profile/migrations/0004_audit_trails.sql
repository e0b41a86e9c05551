-- Append-only audit trails. The service only inserts and selects; there is
-- no API to change or remove a record.
CREATE TABLE change_audit (
    id           bigserial   PRIMARY KEY,
    customer_id  uuid        NOT NULL,
    actor        text        NOT NULL,
    changed_at   timestamptz NOT NULL,
    action       text        NOT NULL CHECK (action IN ('CREATE', 'UPDATE', 'DELETE')),
    -- [{"field": …, "before": …, "after": …, "sensitive": bool}]
    changes      jsonb       NOT NULL
);
CREATE INDEX change_audit_customer_idx ON change_audit (customer_id, id DESC);
CREATE INDEX change_audit_actor_idx ON change_audit (actor, id DESC);

CREATE TABLE access_audit (
    id           bigserial   PRIMARY KEY,
    customer_id  uuid        NOT NULL,
    actor        text        NOT NULL,
    accessed_at  timestamptz NOT NULL,
    fields       text[]      NOT NULL,
    purpose      text        NOT NULL DEFAULT '',
    method       text        NOT NULL
);
CREATE INDEX access_audit_customer_idx ON access_audit (customer_id, id DESC);
CREATE INDEX access_audit_actor_idx ON access_audit (actor, id DESC);
