-- One amount of money is at most 10^15 minor units in size (ten trillion
-- yuan), the bound of patron_kit::money::MAX_AMOUNT_MINOR, here as in
-- profile. A day's largest purchase and a customer's arrears are single
-- amounts (a day's spend is a sum, checked where it is added). NOT VALID
-- keeps start-up from failing on a row stored before the bound.
ALTER TABLE daily_figures
    ADD CONSTRAINT daily_figures_largest_minor_bounded
    CHECK (largest_minor BETWEEN 0 AND 1000000000000000) NOT VALID;
ALTER TABLE standings
    ADD CONSTRAINT standings_arrears_minor_bounded
    CHECK (arrears_minor BETWEEN 0 AND 1000000000000000) NOT VALID;
