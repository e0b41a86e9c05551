//! The projection's SQL: each customer's placement and facts, and where
//! each staff member sits, in the service's own schema. Every part keeps the
//! version it came from, so a late, older event changes nothing; deletions,
//! exits and staff removals stay as marks for that.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::ServiceError;
use patron_vocab::Reach;

/// What profile said of a customer.
#[derive(Debug, Clone, Default, PartialEq, Eq, FromRow)]
pub struct CustomerFacts {
    pub account_manager: String,
    pub org_unit: String,
    /// Unit ids from the company down to the archive's own.
    pub org_unit_path: Vec<String>,
    pub birthday_month: Option<i16>,
    pub birthday_day: Option<i16>,
    /// The person's year of birth (from the birthday, or estimated from an
    /// approximate age), when known.
    #[sqlx(default)]
    pub birth_year: Option<i32>,
    /// When the customer prefers to be contacted, in their own words; empty
    /// when they did not say.
    #[sqlx(default)]
    pub preferred_contact_time: String,
    /// Profile deleted the archive: nothing is done for it any more.
    #[sqlx(default)]
    pub deleted: bool,
    /// The customer left (CustomerExited); the archive is kept.
    #[sqlx(default)]
    pub exited: bool,
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
                                     org_unit_path, birth_year, preferred_contact_time)
         VALUES ($1, $2, $6, $3, $4, $5, $6, $7, $8, $9, $10)
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
           birth_year = CASE WHEN customer_facts.facts_version < $6
                             THEN EXCLUDED.birth_year ELSE customer_facts.birth_year END,
           preferred_contact_time = CASE WHEN customer_facts.facts_version < $6
                                         THEN EXCLUDED.preferred_contact_time
                                         ELSE customer_facts.preferred_contact_time END,
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
    .bind(facts.birth_year)
    .bind(&facts.preferred_contact_time)
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

/// Marks the customer exited (CustomerExited) as of `version`, at
/// `exited_at`: a mark no later event lifts (profile has no way back from
/// an exit), kept from the first exit seen.
pub async fn mark_exited(
    tx: &mut PgConnection,
    customer_id: Uuid,
    version: i64,
    exited_at: DateTime<Utc>,
    at: DateTime<Utc>,
) -> Result<(), ServiceError> {
    sqlx::query(
        "INSERT INTO customer_facts (customer_id, updated_at, exited_at, exit_version)
         VALUES ($1, $4, $3, $2)
         ON CONFLICT (customer_id) DO UPDATE SET
           exit_version = GREATEST(customer_facts.exit_version, $2),
           exited_at = COALESCE(customer_facts.exited_at, $3),
           updated_at = $4",
    )
    .bind(customer_id)
    .bind(version)
    .bind(exited_at)
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

/// What is known of a customer; empty facts when profile has said nothing yet.
pub async fn customer(
    conn: &mut PgConnection,
    customer_id: Uuid,
) -> Result<CustomerFacts, ServiceError> {
    Ok(known_customer(conn, customer_id).await?.unwrap_or_default())
}

/// A customer's facts, or `None` when no event about them has arrived yet
/// (a service that must not refuse a real customer then asks profile).
pub async fn known_customer(
    conn: &mut PgConnection,
    customer_id: Uuid,
) -> Result<Option<CustomerFacts>, ServiceError> {
    Ok(sqlx::query_as::<_, CustomerFacts>(
        "SELECT account_manager, org_unit, org_unit_path, birthday_month, birthday_day,
                birth_year, preferred_contact_time,
                deleted_at IS NOT NULL AS deleted, exited_at IS NOT NULL AS exited
           FROM customer_facts WHERE customer_id = $1",
    )
    .bind(customer_id)
    .fetch_optional(conn)
    .await?)
}

/// What profile said of a customer and the tier tiering announced (empty
/// when none), in one round trip; the facts are `None` when profile's events
/// have not told of the customer yet.
pub async fn known_customer_and_tier(
    conn: &mut PgConnection,
    customer_id: Uuid,
) -> Result<(Option<CustomerFacts>, String), ServiceError> {
    #[derive(FromRow)]
    struct Row {
        known: bool,
        tier: Option<String>,
        #[sqlx(flatten)]
        facts: CustomerFacts,
    }
    let row = sqlx::query_as::<_, Row>(
        "SELECT f.customer_id IS NOT NULL AS known, t.tier,
                coalesce(f.account_manager, '') AS account_manager,
                coalesce(f.org_unit, '') AS org_unit,
                coalesce(f.org_unit_path, '{}') AS org_unit_path,
                f.birthday_month, f.birthday_day, f.birth_year,
                coalesce(f.preferred_contact_time, '') AS preferred_contact_time,
                coalesce(f.deleted_at IS NOT NULL, false) AS deleted,
                coalesce(f.exited_at IS NOT NULL, false) AS exited
           FROM (VALUES ($1::uuid)) AS k(id)
           LEFT JOIN customer_facts f ON f.customer_id = k.id
           LEFT JOIN customer_tiers t ON t.customer_id = k.id",
    )
    .bind(customer_id)
    .fetch_one(conn)
    .await?;
    Ok((row.known.then_some(row.facts), row.tier.unwrap_or_default()))
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

/// Those of `customers` who left the programme or whose archives were
/// deleted: nobody to decide anything about any more.
pub async fn gone_among(
    conn: &mut PgConnection,
    customers: &[Uuid],
) -> Result<Vec<Uuid>, ServiceError> {
    Ok(sqlx::query_scalar(
        "SELECT customer_id FROM customer_facts
          WHERE customer_id = ANY($1) AND (deleted_at IS NOT NULL OR exited_at IS NOT NULL)",
    )
    .bind(customers)
    .fetch_all(conn)
    .await?)
}

/// The customers `manager` manages who are neither deleted nor exited, in
/// id order.
pub async fn live_customers_managed_by(
    conn: &mut PgConnection,
    manager: &str,
) -> Result<Vec<Uuid>, ServiceError> {
    Ok(sqlx::query_scalar(
        "SELECT customer_id FROM customer_facts
          WHERE account_manager = $1 AND account_manager <> ''
            AND deleted_at IS NULL AND exited_at IS NULL
          ORDER BY customer_id",
    )
    .bind(manager)
    .fetch_all(conn)
    .await?)
}

/// Where a staff member sits as of `version`, with the unit's path (unit ids
/// from the company down to it); `None` when they left, kept as a tombstone
/// with its version, so an older placement arriving late is ignored rather
/// than granting reach again.
pub async fn put_staff(
    tx: &mut PgConnection,
    staff_id: &str,
    unit: Option<&str>,
    unit_path: &[String],
    version: i64,
    at: DateTime<Utc>,
) -> Result<(), ServiceError> {
    sqlx::query(
        "INSERT INTO directory_staff (staff_id, org_unit, org_unit_path, version, updated_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (staff_id) DO UPDATE SET
           org_unit = EXCLUDED.org_unit, org_unit_path = EXCLUDED.org_unit_path,
           version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
         WHERE directory_staff.version < EXCLUDED.version",
    )
    .bind(staff_id)
    .bind(unit)
    .bind(unit_path)
    .bind(version)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Where a staff member sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffPlacement {
    pub unit: String,
    /// Unit ids from the company down to `unit`; empty when the placement
    /// came from a publisher that did not send it yet.
    pub unit_path: Vec<String>,
}

/// Where a staff member sits, when the directory knows them.
pub async fn staff_placement(
    conn: &mut PgConnection,
    staff_id: &str,
) -> Result<Option<StaffPlacement>, ServiceError> {
    let row: Option<(Option<String>, Vec<String>)> =
        sqlx::query_as("SELECT org_unit, org_unit_path FROM directory_staff WHERE staff_id = $1")
            .bind(staff_id)
            .fetch_optional(conn)
            .await?;
    Ok(row.and_then(|(unit, unit_path)| {
        Some(StaffPlacement {
            unit: unit?,
            unit_path,
        })
    }))
}

/// The unit id a staff member sits in, when the directory knows them.
pub async fn staff_unit(
    conn: &mut PgConnection,
    staff_id: &str,
) -> Result<Option<String>, ServiceError> {
    Ok(staff_placement(conn, staff_id).await?.map(|p| p.unit))
}

/// A caller's reach from their roles and where the projection says they
/// sit; reads the directory only when a role needs it.
pub async fn reach_of(conn: &mut PgConnection, caller: &Caller) -> Result<Reach, ServiceError> {
    let unit = if Reach::needs_directory(&caller.roles) {
        staff_unit(conn, &caller.subject).await?
    } else {
        None
    };
    Ok(Reach::of(&caller.roles, &caller.subject, unit))
}

/// Which customers a list may show: those the caller reaches, narrowed to
/// one manager's when asked. [`condition`](Self::condition) is the reach
/// rule in SQL over the projection.
#[derive(Debug, Clone, Default)]
pub struct Visibility {
    /// Only this manager's customers.
    pub manager_asked: Option<String>,
    /// The caller reaches the whole company.
    pub company: bool,
    /// Customers whose unit path holds this unit.
    pub unit: Option<String>,
    /// Customers this staff member manages.
    pub managed_by: Option<String>,
}

impl Visibility {
    /// What `reach` shows, narrowed to `manager_asked` when not blank.
    pub fn new(reach: Reach, manager_asked: &str) -> Self {
        let manager_asked = Some(manager_asked.trim())
            .filter(|m| !m.is_empty())
            .map(str::to_owned);
        match reach {
            Reach::Company => Self {
                manager_asked,
                company: true,
                ..Self::default()
            },
            Reach::Limited { unit, manager } => Self {
                manager_asked,
                company: false,
                unit,
                managed_by: manager,
            },
        }
    }

    /// The SQL condition on the outer query's `customer_id`, reading its
    /// four values from the query parameters starting at `$first` (bound by
    /// [`bind`](Self::bind)).
    pub fn condition(first: usize) -> String {
        let (asked, company, unit, managed_by) = (first, first + 1, first + 2, first + 3);
        format!(
            "(${asked}::text IS NULL OR customer_id IN
                (SELECT f.customer_id FROM customer_facts f WHERE f.account_manager = ${asked}))
             AND (${company}::boolean OR customer_id IN
                (SELECT f.customer_id FROM customer_facts f
                  WHERE f.org_unit_path @> ARRAY[${unit}::text]
                     OR (f.account_manager <> '' AND f.account_manager = ${managed_by}::text)))"
        )
    }

    /// Binds the four values of [`condition`](Self::condition), in order.
    pub fn bind<'q, O>(
        &'q self,
        query: sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments> {
        query
            .bind(&self.manager_asked)
            .bind(self.company)
            .bind(&self.unit)
            .bind(&self.managed_by)
    }
}
