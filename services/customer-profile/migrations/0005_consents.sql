-- Consents, kept as a history: the newest record per channel and purpose is
-- the one in force; earlier ones show when the customer changed their mind.
CREATE TABLE consents (
    id           bigserial   PRIMARY KEY,
    customer_id  uuid        NOT NULL REFERENCES customers (id),
    channel      smallint    NOT NULL,
    purpose      smallint    NOT NULL,
    status       smallint    NOT NULL,
    source       text        NOT NULL DEFAULT '',
    recorded_at  timestamptz NOT NULL,
    recorded_by  text        NOT NULL
);
CREATE INDEX consents_current_idx ON consents (customer_id, channel, purpose, id DESC);
