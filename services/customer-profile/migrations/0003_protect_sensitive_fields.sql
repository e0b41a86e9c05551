-- Sensitive facts (ID card, phones, address, financial facts) move out of the
-- readable record into `sensitive`, sealed with the service's key ring; exact
-- look-ups use keyed blind indexes instead of plaintext. Rows written before
-- this migration are sealed by the service at start-up (their plaintext is
-- still in `profile` until then).
ALTER TABLE customers
    ADD COLUMN sensitive      bytea,
    ADD COLUMN phone_index    text[] NOT NULL DEFAULT '{}',
    ADD COLUMN id_card_index  text;

DROP INDEX customers_phone_numbers_idx;
ALTER TABLE customers DROP COLUMN phone_numbers;

CREATE INDEX customers_phone_index_idx ON customers USING gin (phone_index);
CREATE INDEX customers_id_card_index_idx ON customers (id_card_index) WHERE id_card_index IS NOT NULL;
