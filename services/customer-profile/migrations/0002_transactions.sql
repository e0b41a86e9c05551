-- Transaction records. `external_id` is the source system's id: recording
-- the same one twice is one transaction (retries, re-imports).
CREATE TABLE transactions (
    id              uuid        PRIMARY KEY,
    customer_id     uuid        NOT NULL REFERENCES customers (id),
    external_id     text        NOT NULL,
    kind            smallint    NOT NULL CHECK (kind IN (1, 2)),
    occurred_at     timestamptz NOT NULL,
    product         text        NOT NULL,
    quantity_milli  bigint      NOT NULL CHECK (quantity_milli >= 0),
    unit            text        NOT NULL DEFAULT '',
    amount_minor    bigint      NOT NULL CHECK (amount_minor >= 0),
    currency        char(3)     NOT NULL,
    payment_method  smallint    NOT NULL DEFAULT 0,
    channel         text        NOT NULL DEFAULT '',
    order_number    text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    created_by      text        NOT NULL,
    CONSTRAINT transactions_external_id_key UNIQUE (external_id)
);

CREATE INDEX transactions_customer_time_idx ON transactions (customer_id, occurred_at DESC, id DESC);
