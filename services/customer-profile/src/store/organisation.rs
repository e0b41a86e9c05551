//! The organisation directory's SQL: org units, staff, and the manager
//! assignment history.

use chrono::{DateTime, Utc};
use patron_kit::ServiceError;
use sqlx::{FromRow, PgConnection, PgPool};
use uuid::Uuid;

use patron_vocab::Change;

#[derive(Debug, Clone, FromRow)]
pub struct OrgUnitRow {
    pub id: String,
    pub parent_id: Option<String>,
    pub kind: i16,
    pub display_name: String,
    pub path: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
}

const UNIT_COLUMNS: &str = "id, parent_id, kind, display_name, path, version, created_at";

#[derive(Debug, Clone, FromRow)]
pub struct StaffRow {
    pub id: String,
    pub display_name: String,
    pub org_unit_id: String,
    pub customer_limit: Option<i32>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    /// Live customers (not deleted, not exited) they manage.
    pub managed: i64,
}

const STAFF_COLUMNS: &str =
    "s.id, s.display_name, s.org_unit_id, s.customer_limit, s.version, s.created_at,
     (SELECT count(*) FROM customers c
       WHERE c.account_manager = s.id AND c.deleted_at IS NULL AND c.exited_at IS NULL) AS managed";

/// The unit a staff member sits in; `None` when they are not in the
/// directory.
pub async fn unit_of_staff(pool: &PgPool, staff_id: &str) -> Result<Option<String>, ServiceError> {
    Ok(
        sqlx::query_scalar("SELECT org_unit_id FROM staff WHERE id = $1")
            .bind(staff_id)
            .fetch_optional(pool)
            .await?,
    )
}

/// The paths in the subtree at path `p` are those from `p` up to, not
/// including, `p` with its closing '/' raised to '0': byte order, as the
/// `text_pattern_ops` path index sorts. A range, unlike `LIKE p || '%'`
/// with `p` a column or parameter, lets that index find them under any plan.
const IN_SUBTREE: &str = "u.path ~>=~ {p} AND u.path ~<~ (left({p}, -1) || '0')";

/// The ids of the units in `unit`'s subtree, itself included: what a list
/// narrows to for a caller reaching that subtree.
pub async fn subtree_of_unit(pool: &PgPool, unit: &str) -> Result<Vec<String>, ServiceError> {
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT u.id FROM org_units home JOIN org_units u ON {}
          WHERE home.id = $1",
        IN_SUBTREE.replace("{p}", "home.path")
    )))
    .bind(unit)
    .fetch_all(pool)
    .await?)
}

/// The ids of the units from the company down to `unit` (itself included),
/// which the reach rule decides by; empty when there is no such unit.
pub async fn unit_path(conn: &mut PgConnection, unit: &str) -> Result<Vec<String>, ServiceError> {
    let path: Option<String> = sqlx::query_scalar("SELECT path FROM org_units WHERE id = $1")
        .bind(unit)
        .fetch_optional(conn)
        .await?;
    Ok(path.map_or_else(Vec::new, |p| {
        crate::domain::organisation::path_ids(&p)
            .into_iter()
            .map(str::to_owned)
            .collect()
    }))
}

pub async fn get_unit(
    conn: &mut PgConnection,
    id: &str,
) -> Result<Option<OrgUnitRow>, ServiceError> {
    Ok(sqlx::query_as::<_, OrgUnitRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {UNIT_COLUMNS} FROM org_units WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

pub async fn lock_unit(
    tx: &mut PgConnection,
    id: &str,
) -> Result<Option<OrgUnitRow>, ServiceError> {
    Ok(sqlx::query_as::<_, OrgUnitRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {UNIT_COLUMNS} FROM org_units WHERE id = $1 FOR UPDATE"
    )))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?)
}

/// A new unit; ALREADY_EXISTS when the id is taken.
pub async fn insert_unit(
    tx: &mut PgConnection,
    unit: &OrgUnitRow,
    change: Change<'_>,
) -> Result<OrgUnitRow, ServiceError> {
    sqlx::query_as::<_, OrgUnitRow>(sqlx::AssertSqlSafe(format!(
        "INSERT INTO org_units (id, parent_id, kind, display_name, path, created_at, created_by, updated_at, updated_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $6, $7)
         ON CONFLICT (id) DO NOTHING
         RETURNING {UNIT_COLUMNS}"
    )))
    .bind(&unit.id)
    .bind(&unit.parent_id)
    .bind(unit.kind)
    .bind(&unit.display_name)
    .bind(&unit.path)
    .bind(change.at)
    .bind(change.actor)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ServiceError::AlreadyExists(format!("org unit orgUnits/{} already exists", unit.id)))
}

pub async fn rename_unit(
    tx: &mut PgConnection,
    id: &str,
    display_name: &str,
    change: Change<'_>,
) -> Result<OrgUnitRow, ServiceError> {
    Ok(sqlx::query_as::<_, OrgUnitRow>(sqlx::AssertSqlSafe(format!(
        "UPDATE org_units SET display_name = $2, version = version + 1, updated_at = $3, updated_by = $4
          WHERE id = $1 RETURNING {UNIT_COLUMNS}"
    )))
    .bind(id)
    .bind(display_name)
    .bind(change.at)
    .bind(change.actor)
    .fetch_one(&mut *tx)
    .await?)
}

/// What still belongs to a unit: (child units, staff, live customers).
pub async fn unit_contents(
    tx: &mut PgConnection,
    id: &str,
) -> Result<(i64, i64, i64), ServiceError> {
    Ok(sqlx::query_as(
        "SELECT (SELECT count(*) FROM org_units WHERE parent_id = $1),
                (SELECT count(*) FROM staff WHERE org_unit_id = $1),
                (SELECT count(*) FROM customers WHERE org_unit_id = $1)",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await?)
}

pub async fn delete_unit(tx: &mut PgConnection, id: &str) -> Result<(), ServiceError> {
    sqlx::query("DELETE FROM org_units WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Units in the subtree at `within_path` (all when `None`), in path order
/// (each after its parent), after the keyset cursor.
pub async fn list_units(
    pool: &PgPool,
    within_path: Option<&str>,
    after_path: Option<&str>,
    limit: i64,
) -> Result<Vec<OrgUnitRow>, ServiceError> {
    Ok(sqlx::query_as::<_, OrgUnitRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {UNIT_COLUMNS} FROM org_units
          WHERE ($1::text IS NULL OR path LIKE $1 || '%')
            AND ($2::text IS NULL OR path > $2)
          ORDER BY path LIMIT $3"
    )))
    .bind(within_path)
    .bind(after_path)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

pub async fn get_staff(
    conn: &mut PgConnection,
    id: &str,
) -> Result<Option<StaffRow>, ServiceError> {
    Ok(sqlx::query_as::<_, StaffRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {STAFF_COLUMNS} FROM staff s WHERE s.id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

/// Locks a staff member until the transaction ends and returns their own
/// customer limit (`Some(None)` when they follow the policy). Assignments to
/// one manager queue on this lock, so the count taken after it is current.
pub async fn lock_staff(
    tx: &mut PgConnection,
    id: &str,
) -> Result<Option<Option<i32>>, ServiceError> {
    Ok(sqlx::query_scalar::<_, Option<i32>>(
        "SELECT customer_limit FROM staff WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?)
}

/// How many live customers (not deleted, not exited) a manager has. Run it
/// after [`lock_staff`]: in READ COMMITTED each statement sees what committed
/// before it started, including assignments that held the lock before us.
pub async fn count_managed(tx: &mut PgConnection, id: &str) -> Result<i64, ServiceError> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM customers WHERE account_manager = $1 AND deleted_at IS NULL AND exited_at IS NULL",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await?)
}

/// A new staff member; ALREADY_EXISTS when the id is taken.
pub async fn insert_staff(
    tx: &mut PgConnection,
    id: &str,
    display_name: &str,
    org_unit_id: &str,
    customer_limit: Option<i32>,
    change: Change<'_>,
) -> Result<StaffRow, ServiceError> {
    let inserted = sqlx::query(
        "INSERT INTO staff (id, display_name, org_unit_id, customer_limit, created_at, created_by, updated_at, updated_by)
         VALUES ($1, $2, $3, $4, $5, $6, $5, $6) ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(display_name)
    .bind(org_unit_id)
    .bind(customer_limit)
    .bind(change.at)
    .bind(change.actor)
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(ServiceError::AlreadyExists(format!(
            "staff member staff/{id} already exists"
        )));
    }
    get_staff(tx, id)
        .await?
        .ok_or_else(|| ServiceError::internal(anyhow::anyhow!("staff {id} vanished")))
}

pub async fn update_staff(
    tx: &mut PgConnection,
    id: &str,
    display_name: &str,
    org_unit_id: &str,
    customer_limit: Option<i32>,
    change: Change<'_>,
) -> Result<StaffRow, ServiceError> {
    sqlx::query(
        "UPDATE staff SET display_name = $2, org_unit_id = $3, customer_limit = $4,
                version = version + 1, updated_at = $5, updated_by = $6
          WHERE id = $1",
    )
    .bind(id)
    .bind(display_name)
    .bind(org_unit_id)
    .bind(customer_limit)
    .bind(change.at)
    .bind(change.actor)
    .execute(&mut *tx)
    .await?;
    get_staff(tx, id)
        .await?
        .ok_or_else(|| ServiceError::internal(anyhow::anyhow!("staff {id} vanished")))
}

pub async fn delete_staff(tx: &mut PgConnection, id: &str) -> Result<(), ServiceError> {
    sqlx::query("DELETE FROM staff WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Staff of the given units (all when `None`), by id, after the cursor.
pub async fn list_staff(
    pool: &PgPool,
    units: Option<&[String]>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<StaffRow>, ServiceError> {
    Ok(sqlx::query_as::<_, StaffRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {STAFF_COLUMNS} FROM staff s
          WHERE ($1::text[] IS NULL OR s.org_unit_id = ANY($1))
            AND ($2::text IS NULL OR s.id > $2)
          ORDER BY s.id LIMIT $3"
    )))
    .bind(units)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// The unit ids of the subtree rooted at `path`.
pub async fn subtree_ids(pool: &PgPool, path: &str) -> Result<Vec<String>, ServiceError> {
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT u.id FROM org_units u WHERE {}",
        IN_SUBTREE.replace("{p}", "$1::text")
    )))
    .bind(path)
    .fetch_all(pool)
    .await?)
}

/// One change of a customer's manager, as recorded.
#[derive(Debug, Clone)]
pub struct AssignmentRecord<'a> {
    pub customer_id: Uuid,
    pub previous_manager: &'a str,
    pub new_manager: &'a str,
    pub reason: &'a str,
}

pub async fn record_assignment(
    tx: &mut PgConnection,
    record: &AssignmentRecord<'_>,
    change: Change<'_>,
) -> Result<(), ServiceError> {
    sqlx::query(
        "INSERT INTO manager_assignments (customer_id, previous_manager, new_manager, reason, assigned_by, assigned_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(record.customer_id)
    .bind(record.previous_manager)
    .bind(record.new_manager)
    .bind(record.reason)
    .bind(change.actor)
    .bind(change.at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
