-- The customer archive. The columns are what the archive is found and
-- guarded by; `profile` holds the full record in proto3 JSON, so new facts in
-- the contract need no migration and stay queryable with jsonb operators.
CREATE SEQUENCE archive_number_seq;

CREATE TABLE customers (
    id               uuid        PRIMARY KEY,
    archive_number   text        NOT NULL,
    kind             smallint    NOT NULL CHECK (kind IN (1, 2)),
    display_name     text        NOT NULL,
    -- Normalised phone numbers (mobile, office, home) for exact look-up.
    phone_numbers    text[]      NOT NULL DEFAULT '{}',
    account_manager  text        NOT NULL DEFAULT '',
    profile          jsonb       NOT NULL,
    version          bigint      NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL,
    created_by       text        NOT NULL,
    updated_at       timestamptz NOT NULL,
    updated_by       text        NOT NULL,
    -- Deleted archives are kept (the archive is a company record) but hidden;
    -- their archive numbers are never reused.
    deleted_at       timestamptz,
    deleted_by       text,
    CONSTRAINT customers_archive_number_key UNIQUE (archive_number)
);

CREATE INDEX customers_live_idx ON customers (id DESC) WHERE deleted_at IS NULL;
CREATE INDEX customers_phone_numbers_idx ON customers USING gin (phone_numbers);
CREATE INDEX customers_display_name_idx ON customers (lower(display_name) text_pattern_ops);
CREATE INDEX customers_account_manager_idx ON customers (account_manager, id DESC) WHERE deleted_at IS NULL;

-- Request ids of creates already applied (AIP-155).
CREATE TABLE idempotency_keys (
    scope        text        NOT NULL,
    request_id   uuid        NOT NULL,
    fingerprint  bytea       NOT NULL,
    resource_id  uuid        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, request_id)
);
