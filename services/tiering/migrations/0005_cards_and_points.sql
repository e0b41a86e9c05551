-- Membership cards and the points ledger (003 第七、十一、十六至二十条).

-- A card's points live in its account; a replacement for a lost card keeps
-- the account, so the points follow, while cards of different accounts never
-- pool.
CREATE TABLE cards (
    number         text        PRIMARY KEY,
    account        uuid        NOT NULL,
    customer_id    uuid        NOT NULL,
    status         smallint    NOT NULL CHECK (status IN (1, 2, 3)),
    issued_at      timestamptz NOT NULL,
    register_by    date        NOT NULL,
    registered_at  timestamptz,
    replaced_by    text
);
CREATE UNIQUE INDEX cards_one_live_per_customer ON cards (customer_id) WHERE status IN (1, 2);
CREATE SEQUENCE card_number_seq;

-- Points earned together, with what is left of them and their last day.
CREATE TABLE point_lots (
    id          bigserial PRIMARY KEY,
    account     uuid      NOT NULL,
    earned_on   date      NOT NULL,
    expires_on  date      NOT NULL,
    points      bigint    NOT NULL CHECK (points > 0),
    remaining   bigint    NOT NULL CHECK (remaining >= 0 AND remaining <= points)
);
CREATE INDEX point_lots_available_idx ON point_lots (account, expires_on, id) WHERE remaining > 0;
CREATE INDEX point_lots_expiring_idx ON point_lots (expires_on) WHERE remaining > 0;

-- The ledger: every change of a balance, with a reason code. The balance is
-- the sum of an account's entries. (account, reason, reference) is unique, so
-- an award per transaction and a redemption per request id apply once.
CREATE TABLE point_entries (
    id             bigserial   PRIMARY KEY,
    account        uuid        NOT NULL,
    card_number    text        NOT NULL,
    points         bigint      NOT NULL,
    reason         text        NOT NULL CHECK (reason IN ('earned', 'redeemed', 'expired', 'reversed', 'adjusted')),
    reference      text        NOT NULL,
    -- What it was for, in words (the reward redeemed, say).
    note           text        NOT NULL DEFAULT '',
    balance_after  bigint      NOT NULL CHECK (balance_after >= 0),
    created_at     timestamptz NOT NULL,
    actor          text        NOT NULL,
    UNIQUE (account, reason, reference)
);
CREATE INDEX point_entries_account_idx ON point_entries (account, id DESC);
