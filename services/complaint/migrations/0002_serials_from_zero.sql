-- Intakes are numbered in groups: a group locks its month's row first,
-- making it at 0 when the month has none yet, and writes the last serial
-- it gave when it commits.
ALTER TABLE complaint_serials DROP CONSTRAINT complaint_serials_last_serial_check;
ALTER TABLE complaint_serials ADD CONSTRAINT complaint_serials_last_serial_check CHECK (last_serial >= 0);
