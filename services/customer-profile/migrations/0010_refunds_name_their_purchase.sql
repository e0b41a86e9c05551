-- A refund may name the purchase it takes back (003: "one purchase of 1,000
-- actually paid"), so what a purchase counts for is what it paid less its
-- refunds. Only refunds name one; the purchase is the same customer's.
ALTER TABLE transactions
    ADD COLUMN refunds_id uuid REFERENCES transactions (id),
    ADD CONSTRAINT transactions_only_refunds_name_a_purchase
        CHECK (refunds_id IS NULL OR kind = 2);

CREATE INDEX transactions_refunds_idx ON transactions (refunds_id) WHERE refunds_id IS NOT NULL;
