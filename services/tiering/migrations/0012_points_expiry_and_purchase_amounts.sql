-- The last day an entry's points count: for points added, their lot's last
-- day; for an expiry, the last day the lapsed points were valid. Entries
-- that take points from several lots (redemptions, refunds) have none.
ALTER TABLE point_entries ADD COLUMN expires_on date;

-- Expiries recorded before the column name their first lot
-- ("before 2026-01-01 from lot 7"): that lot's last day.
UPDATE point_entries e
   SET expires_on = l.expires_on
  FROM point_lots l
 WHERE e.reason = 'expired'
   AND e.reference ~ 'from lot [0-9]+$'
   AND l.id = substring(e.reference FROM 'from lot ([0-9]+)$')::bigint;

-- What each purchase paid and what refunds naming it took back (003: "one
-- purchase of 1,000 actually paid"), so the day's largest purchase counts a
-- purchase after its refunds. Keyed by the transaction's name, so a purchase
-- applied twice is one row. Purchases recorded before this table are not in
-- it, and the days they fell on keep their largest as recorded.
CREATE TABLE purchase_amounts (
    transaction     text   PRIMARY KEY,
    customer_id     uuid   NOT NULL,
    day             date   NOT NULL,
    paid_minor      bigint NOT NULL CHECK (paid_minor >= 0),
    refunded_minor  bigint NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0 AND refunded_minor <= paid_minor)
);
CREATE INDEX purchase_amounts_customer_day_idx ON purchase_amounts (customer_id, day);
