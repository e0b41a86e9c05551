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
