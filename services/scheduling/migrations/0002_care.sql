-- Care (关怀): what care knows of each customer beyond the kit's projection,
-- what each care task is for, and the family events recorded.
--
-- A care task is a row of `tasks` of kind 'care' whose rule key names the
-- occasion and whose (`care:<occasion>[:<relation>:<name>]`), and whose
-- planned_date is the occasion's own day (the birthday, the festival, the
-- family event), while due_date is when the manager acts. The tasks' unique
-- (customer, rule key, planned day) so makes each occasion's task once per
-- customer and date, however often the customer is planned and whatever the
-- lead days were when it was made.

-- The dates only scheduling follows, from profile's CustomerCreated and
-- CustomerUpdated (the birthday, the year of birth and the stated contact
-- time are the kit's `customer_facts`). `version` is the archive's: an older
-- event arriving late changes nothing.
CREATE TABLE care_facts (
    customer_id    uuid        PRIMARY KEY,
    wedding_month  smallint    CHECK (wedding_month BETWEEN 1 AND 12),
    wedding_day    smallint    CHECK (wedding_day BETWEEN 1 AND 31),
    -- [{"name": "...", "relation": "...", "month": 9, "day": 20}, ...]
    family_dates   jsonb       NOT NULL DEFAULT '[]',
    version        bigint      NOT NULL,
    updated_at     timestamptz NOT NULL
);

-- A family event recorded against a customer (000 4.4), with the care task
-- it created at once.
CREATE TABLE family_events (
    id            uuid        PRIMARY KEY,
    customer_id   uuid        NOT NULL,
    kind          text        NOT NULL,
    person_name   text        NOT NULL DEFAULT '',
    relation      text        NOT NULL DEFAULT '',
    event_date    date        NOT NULL,
    note          text        NOT NULL DEFAULT '',
    task_id       uuid        NOT NULL REFERENCES tasks (id),
    recorded_by   text        NOT NULL,
    created_at    timestamptz NOT NULL
);
CREATE INDEX family_events_customer_idx ON family_events (customer_id, event_date);

-- What each care task is for: the occasion, whose, its day, the gift the
-- policy suggested for the customer's tier. `withdrawn` marks a task the
-- archive no longer backs (a birthday corrected): cancelled by planning, and
-- opened again if the date comes back.
CREATE TABLE care_tasks (
    task_id        uuid        PRIMARY KEY REFERENCES tasks (id),
    occasion       text        NOT NULL,
    person_name    text        NOT NULL DEFAULT '',
    relation       text        NOT NULL DEFAULT '',
    occasion_date  date        NOT NULL,
    gift           text        NOT NULL DEFAULT '',
    -- The family event that brought it (its row names this task, so it is
    -- written after it).
    family_event_id uuid,
    withdrawn      boolean     NOT NULL DEFAULT false
);
