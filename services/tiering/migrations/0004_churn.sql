-- Churn early warning and churned customers (000 3.13, 002 §7, 004 §10).
ALTER TABLE assignments ADD COLUMN churn_reasons text[] NOT NULL DEFAULT '{}';
CREATE INDEX assignments_churn_idx ON assignments (customer_id) WHERE churn_reasons <> '{}';

-- Customers who left, from profile's CustomerExited, for the reasons report.
CREATE TABLE churned_customers (
    customer_id  uuid        PRIMARY KEY,
    kind         smallint    NOT NULL,
    reason       text        NOT NULL,
    tier         text,
    exited_at    timestamptz NOT NULL
);
CREATE INDEX churned_customers_exited_idx ON churned_customers (exited_at);
