-- Customers the daily sweep could not decide on a day (say, figures that
-- cannot be summed): set aside for that day and reported, so one customer
-- never stops the sweep for everyone. Tried again the next day.
CREATE TABLE sweep_set_aside (
    customer_id   uuid        NOT NULL,
    day           date        NOT NULL,
    error         text        NOT NULL,
    set_aside_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, day)
);
