-- One amount of money is at most 10^15 minor units in size (ten trillion
-- yuan), the bound of patron_kit::money::MAX_AMOUNT_MINOR: sums of many such
-- amounts stay inside bigint, so a summary can always be computed. NOT VALID
-- keeps start-up from failing on a row stored before the bound; every row
-- written from now on is checked (VALIDATE CONSTRAINT once old rows are mended).
ALTER TABLE transactions
    ADD CONSTRAINT transactions_amount_minor_bounded
    CHECK (amount_minor <= 1000000000000000) NOT VALID;
