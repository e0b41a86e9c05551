//! What profile's events say that tiering authorises and acts by: each
//! customer's account manager, org unit (with the units above it) and
//! birthday, and the unit each staff member sits in; whether the archive was
//! deleted. Each part is guarded by the version it came from, so a late,
//! older event changes nothing; deletions and staff removals stay as
//! tombstones for that.

use chrono::{DateTime, Utc};
use patron_kit::ServiceError;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

#[derive(Debug, Clone, Default, FromRow)]
pub struct CustomerFacts {
    pub account_manager: String,
    pub org_unit: String,
    /// Unit ids from the company down to the archive's own.
    pub org_unit_path: Vec<String>,
    pub birthday_month: Option<i16>,
    pub birthday_day: Option<i16>,
    /// Profile deleted the archive: tiering acts on it no more.
    #[sqlx(default)]
    pub deleted: bool,
}

impl CustomerFacts {
    /// (month, day), when known.
    pub fn birthday(&self) -> Option<(u32, u32)> {
        Some((
            u32::try_from(self.birthday_month?).ok()?,
            u32::try_from(self.birthday_day?).ok()?,
        ))
    }
}

/// The archive as of `version` (CustomerCreated, CustomerUpdated).
pub async fn put_archive(
    tx: &mut PgConnection,
    customer_id: Uuid,
    facts: &CustomerFacts,
    version: i64,
    at: DateTime<Utc>,
) -> Result<(), ServiceError> {
    sqlx::query(
        "INSERT INTO customer_facts (customer_id, account_manager, manager_version, org_unit,
                                     birthday_month, birthday_day, facts_version, updated_at,
                                     org_unit_path)
         VALUES ($1, $2, $6, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (customer_id) DO UPDATE SET
           account_manager = CASE WHEN customer_facts.manager_version < $6
                                  THEN EXCLUDED.account_manager ELSE customer_facts.account_manager END,
           manager_version = GREATEST(customer_facts.manager_version, $6),
           org_unit = CASE WHEN customer_facts.facts_version < $6
                           THEN EXCLUDED.org_unit ELSE customer_facts.org_unit END,
           org_unit_path = CASE WHEN customer_facts.facts_version < $6
                                THEN EXCLUDED.org_unit_path ELSE customer_facts.org_unit_path END,
           birthday_month = CASE WHEN customer_facts.facts_version < $6
                                 THEN EXCLUDED.birthday_month ELSE customer_facts.birthday_month END,
           birthday_day = CASE WHEN customer_facts.facts_version < $6
                               THEN EXCLUDED.birthday_day ELSE customer_facts.birthday_day END,
           facts_version = GREATEST(customer_facts.facts_version, $6),
           updated_at = $7",
    )
    .bind(customer_id)
    .bind(&facts.account_manager)
    .bind(&facts.org_unit)
    .bind(facts.birthday_month)
    .bind(facts.birthday_day)
    .bind(version)
    .bind(at)
    .bind(&facts.org_unit_path)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The manager as of `version` (ManagerReassigned).
pub async fn put_manager(
    tx: &mut PgConnection,
    customer_id: Uuid,
    account_manager: &str,
    version: i64,
    at: DateTime<Utc>,
) -> Result<(), ServiceError> {
    sqlx::query(
        "INSERT INTO customer_facts (customer_id, account_manager, manager_version, updated_at)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (customer_id) DO UPDATE SET
           account_manager = EXCLUDED.account_manager,
           manager_version = EXCLUDED.manager_version,
           updated_at = EXCLUDED.updated_at
         WHERE customer_facts.manager_version < EXCLUDED.manager_version",
    )
    .bind(customer_id)
    .bind(account_manager)
    .bind(version)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Marks the archive deleted (CustomerDeleted): a tombstone no later event
/// lifts, and as of `version` no older archive event changes the facts.
pub async fn mark_deleted(
    tx: &mut PgConnection,
    customer_id: Uuid,
    version: i64,
    at: DateTime<Utc>,
) -> Result<(), ServiceError> {
    sqlx::query(
        "INSERT INTO customer_facts (customer_id, manager_version, facts_version, updated_at, deleted_at)
         VALUES ($1, $2, $2, $3, $3)
         ON CONFLICT (customer_id) DO UPDATE SET
           manager_version = GREATEST(customer_facts.manager_version, $2),
           facts_version = GREATEST(customer_facts.facts_version, $2),
           updated_at = $3,
           deleted_at = COALESCE(customer_facts.deleted_at, $3)",
    )
    .bind(customer_id)
    .bind(version)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Those of `customers` whose archives were deleted.
pub async fn deleted_among(
    conn: &mut PgConnection,
    customers: &[Uuid],
) -> Result<Vec<Uuid>, ServiceError> {
    Ok(sqlx::query_scalar(
        "SELECT customer_id FROM customer_facts
          WHERE customer_id = ANY($1) AND deleted_at IS NOT NULL",
    )
    .bind(customers)
    .fetch_all(conn)
    .await?)
}

/// What is known of a customer; empty facts when profile has said nothing yet.
pub async fn get(
    conn: &mut PgConnection,
    customer_id: Uuid,
) -> Result<CustomerFacts, ServiceError> {
    Ok(sqlx::query_as::<_, CustomerFacts>(
        "SELECT account_manager, org_unit, org_unit_path, birthday_month, birthday_day,
                deleted_at IS NOT NULL AS deleted
           FROM customer_facts WHERE customer_id = $1",
    )
    .bind(customer_id)
    .fetch_optional(conn)
    .await?
    .unwrap_or_default())
}

/// Where a staff member sits as of `version`; `None` when they left, kept
/// as a tombstone with its version, so an older placement arriving late is
/// ignored rather than granting reach again.
pub async fn put_staff(
    tx: &mut PgConnection,
    staff_id: &str,
    unit: Option<&str>,
    version: i64,
    at: DateTime<Utc>,
) -> Result<(), ServiceError> {
    sqlx::query(
        "INSERT INTO directory_staff (staff_id, org_unit, version, updated_at)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (staff_id) DO UPDATE SET
           org_unit = EXCLUDED.org_unit, version = EXCLUDED.version,
           updated_at = EXCLUDED.updated_at
         WHERE directory_staff.version < EXCLUDED.version",
    )
    .bind(staff_id)
    .bind(unit)
    .bind(version)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The unit id a staff member sits in, when the directory knows them.
pub async fn staff_unit(
    conn: &mut PgConnection,
    staff_id: &str,
) -> Result<Option<String>, ServiceError> {
    let unit: Option<Option<String>> =
        sqlx::query_scalar("SELECT org_unit FROM directory_staff WHERE staff_id = $1")
            .bind(staff_id)
            .fetch_optional(conn)
            .await?;
    Ok(unit.flatten())
}
