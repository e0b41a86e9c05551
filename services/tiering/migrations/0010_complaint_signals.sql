-- Complaints and satisfaction scores per customer, from complaint's events
-- (topic complaint.complaints), for the churn early warning. Keyed by the
-- complaint's name, so an event applied twice changes nothing.
CREATE TABLE complaints_received (
    complaint    text        PRIMARY KEY,
    customer_id  uuid        NOT NULL,
    received_at  timestamptz NOT NULL
);
CREATE INDEX complaints_received_customer_idx ON complaints_received (customer_id, received_at);

-- One survey score per complaint: the latest recorded (a reopened complaint
-- may be surveyed again).
CREATE TABLE complaint_scores (
    complaint    text        PRIMARY KEY,
    customer_id  uuid        NOT NULL,
    score        smallint    NOT NULL CHECK (score BETWEEN 1 AND 5),
    recorded_at  timestamptz NOT NULL
);
CREATE INDEX complaint_scores_customer_idx ON complaint_scores (customer_id, recorded_at);
