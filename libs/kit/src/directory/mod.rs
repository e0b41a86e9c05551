//! What every service other than profile knows of the organisation and of
//! where customers sit: a projection of profile's events kept in the
//! service's own schema (each customer's manager, unit and unit path,
//! birthday, year of birth, preferred contact time, exited and deleted marks; each staff member's unit and that
//! unit's path), and the one rule of who reaches which customer.
//!
//! - [`install`] creates the tables, as [`crate::events::install`] creates
//!   the outbox: after the service's migrations, idempotently.
//! - [`apply`] reads profile's events and writes them into the tables, in
//!   the consumer's transaction.
//! - [`store`] answers from the tables: a customer's facts, a staff member's
//!   placement, a manager's customers, a caller's reach, and the reach rule
//!   as SQL for lists ([`store::Visibility`]).
//! - [`cached`] keeps a caller's unit and units' paths in the process for a
//!   stated bound ([`cached::FRESHNESS`]), so a reach costs no round trip:
//!   [`ReachCache::reach_of`] answers as [`store::reach_of`] does.
//! - the rule itself, with no I/O, is `patron_vocab::reach` (re-exported
//!   here as [`Reach`]); profile decides by it from
//!   its own directory.

pub mod announced;
pub mod apply;
pub mod cached;
pub mod store;

use sqlx::PgPool;

pub use apply::{ProfileFact, apply_event};
pub use cached::ReachCache;
pub use patron_vocab::reach::{self, Reach};
pub use store::{CustomerFacts, StaffPlacement, Visibility};

/// The projection's tables. Tiering created the first two by its own
/// migrations (0006, 0007) before the kit kept them: same names and shape,
/// so its databases keep working; what came later is added here.
pub const TABLES: &str = "
-- Each customer as profile's events describe them. Each part keeps the
-- archive version it came from, so an older event arriving late changes nothing.
CREATE TABLE IF NOT EXISTS customer_facts (
    customer_id      uuid        PRIMARY KEY,
    account_manager  text        NOT NULL DEFAULT '',
    manager_version  bigint      NOT NULL DEFAULT 0,
    org_unit         text        NOT NULL DEFAULT '',
    -- Unit ids from the company down to the archive's own.
    org_unit_path    text[]      NOT NULL DEFAULT '{}',
    birthday_month   smallint,
    birthday_day     smallint,
    facts_version    bigint      NOT NULL DEFAULT 0,
    updated_at       timestamptz NOT NULL,
    deleted_at       timestamptz
);
ALTER TABLE customer_facts ADD COLUMN IF NOT EXISTS deleted_at timestamptz;
ALTER TABLE customer_facts ADD COLUMN IF NOT EXISTS exited_at timestamptz;
ALTER TABLE customer_facts ADD COLUMN IF NOT EXISTS exit_version bigint NOT NULL DEFAULT 0;
-- What several services act on besides placement: the person's year of
-- birth (an age decides a contact window) and when they prefer to be
-- contacted, in their own words.
ALTER TABLE customer_facts ADD COLUMN IF NOT EXISTS birth_year integer;
ALTER TABLE customer_facts ADD COLUMN IF NOT EXISTS preferred_contact_time text NOT NULL DEFAULT '';
CREATE INDEX IF NOT EXISTS customer_facts_manager_idx ON customer_facts (account_manager, customer_id);
CREATE INDEX IF NOT EXISTS customer_facts_units_idx ON customer_facts USING gin (org_unit_path);
-- Where each staff member sits; a removed one keeps the row without a unit,
-- with the removal's version, so an older placement grants no reach again.
CREATE TABLE IF NOT EXISTS directory_staff (
    staff_id    text        PRIMARY KEY,
    org_unit    text,
    version     bigint      NOT NULL,
    updated_at  timestamptz NOT NULL
);
-- Unit ids from the company down to the staff member's unit.
ALTER TABLE directory_staff ADD COLUMN IF NOT EXISTS org_unit_path text[] NOT NULL DEFAULT '{}';
-- Each customer's tier as tiering announced it (TierChanged), for services
-- other than tiering; an older announcement arriving late changes nothing.
CREATE TABLE IF NOT EXISTS customer_tiers (
    customer_id  uuid        PRIMARY KEY,
    tier         text        NOT NULL,
    changed_at   timestamptz NOT NULL
);
-- The tier policy in force as tiering announced it (PolicyActivated): the
-- whole preset, of which each service reads its own section.
CREATE TABLE IF NOT EXISTS announced_policy (
    singleton     boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    policy_id     text        NOT NULL,
    version       integer     NOT NULL,
    preset        text        NOT NULL,
    activated_at  timestamptz NOT NULL
);
-- Counts the activations kept (a service plans under one and re-plans
-- when a later one is kept).
ALTER TABLE announced_policy ADD COLUMN IF NOT EXISTS activation bigint NOT NULL DEFAULT 1;";

/// Creates the projection's tables if missing. Replicas starting together
/// take turns: concurrent `CREATE TABLE IF NOT EXISTS` can collide.
pub async fn install(pool: &PgPool) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.directory-install'))")
        .execute(&mut *tx)
        .await?;
    sqlx::raw_sql(TABLES).execute(&mut *tx).await?;
    tx.commit().await
}
