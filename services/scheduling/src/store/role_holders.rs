//! Who holds which role of the cadence for which unit, and the open tasks
//! a change of holder moves.

use chrono::{DateTime, NaiveDate, Utc};
use patron_kit::ServiceError;
use sqlx::{FromRow, PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::domain::role_holders::Holders;

#[derive(Debug, Clone, FromRow)]
pub struct RoleHolderRow {
    pub org_unit: String,
    pub role: String,
    pub holder: String,
    /// Unit ids from the company down to `org_unit`.
    pub org_unit_path: Vec<String>,
    pub set_by: String,
    pub set_at: DateTime<Utc>,
}

const COLUMNS: &str = "org_unit, role, holder, org_unit_path, set_by, set_at";

/// Takes the holders' lock until the transaction ends: exclusive to change
/// them, shared to plan tasks by them. A generation batch thus never plans
/// by holders that change before it commits, and a change sees every task
/// planned before it.
pub async fn lock(tx: &mut PgConnection, exclusive: bool) -> Result<(), ServiceError> {
    let query = if exclusive {
        "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.role-holders'))"
    } else {
        "SELECT pg_advisory_xact_lock_shared(hashtext(current_schema() || '.role-holders'))"
    };
    sqlx::query(query).execute(&mut *tx).await?;
    Ok(())
}

/// The unit's holder of `role`, locked.
pub async fn lock_one(
    tx: &mut PgConnection,
    unit: &str,
    role: &str,
) -> Result<Option<RoleHolderRow>, ServiceError> {
    Ok(
        sqlx::query_as::<_, RoleHolderRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM role_holders WHERE org_unit = $1 AND role = $2 FOR UPDATE"
        )))
        .bind(unit)
        .bind(role)
        .fetch_optional(tx)
        .await?,
    )
}

/// Names (or renames) the unit's holder of the row's role.
pub async fn put(tx: &mut PgConnection, row: &RoleHolderRow) -> Result<(), ServiceError> {
    sqlx::query(
        "INSERT INTO role_holders (org_unit, role, holder, org_unit_path, set_by, set_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (org_unit, role) DO UPDATE
            SET holder = $3, org_unit_path = $4, set_by = $5, set_at = $6",
    )
    .bind(&row.org_unit)
    .bind(&row.role)
    .bind(&row.holder)
    .bind(&row.org_unit_path)
    .bind(&row.set_by)
    .bind(row.set_at)
    .execute(tx)
    .await?;
    Ok(())
}

pub async fn delete(tx: &mut PgConnection, unit: &str, role: &str) -> Result<(), ServiceError> {
    sqlx::query("DELETE FROM role_holders WHERE org_unit = $1 AND role = $2")
        .bind(unit)
        .bind(role)
        .execute(tx)
        .await?;
    Ok(())
}

/// Which holders a list shows.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub org_unit: Option<String>,
    pub role: Option<String>,
}

/// A page of holders by unit, then role, after the (unit, role) given.
pub async fn list(
    pool: &PgPool,
    filter: &ListFilter,
    after: Option<(String, String)>,
    limit: i64,
) -> Result<Vec<RoleHolderRow>, ServiceError> {
    let mut q = QueryBuilder::<Postgres>::new("SELECT ");
    q.push(COLUMNS).push(" FROM role_holders WHERE true");
    if let Some(unit) = &filter.org_unit {
        q.push(" AND org_unit = ").push_bind(unit.clone());
    }
    if let Some(role) = &filter.role {
        q.push(" AND role = ").push_bind(role.clone());
    }
    if let Some((unit, role)) = after {
        q.push(" AND (org_unit, role) > (")
            .push_bind(unit)
            .push(", ")
            .push_bind(role)
            .push(")");
    }
    q.push(" ORDER BY org_unit, role LIMIT ").push_bind(limit);
    Ok(q.build_query_as::<RoleHolderRow>().fetch_all(pool).await?)
}

/// Every role's holders on `units`, in one statement.
pub async fn of_units(conn: &mut PgConnection, units: &[String]) -> Result<Holders, ServiceError> {
    let rows: Vec<(String, String, String)> =
        sqlx::query_as("SELECT org_unit, role, holder FROM role_holders WHERE org_unit = ANY($1)")
            .bind(units)
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().collect())
}

/// The open tasks of `role` planned by the cadence, due from `from` on,
/// for customers placed in `unit` or below it; by id.
pub async fn open_tasks_under(
    tx: &mut PgConnection,
    unit: &str,
    role: &str,
    from: NaiveDate,
) -> Result<Vec<Uuid>, ServiceError> {
    Ok(sqlx::query_scalar(
        "SELECT t.id FROM tasks t JOIN customer_facts f ON f.customer_id = t.customer_id
          WHERE f.org_unit_path @> ARRAY[$1]::text[] AND t.role = $2 AND t.state = 'open'
            AND t.kind IN ('cadence', 'new_customer') AND t.due_date >= $3
          ORDER BY t.id",
    )
    .bind(unit)
    .bind(role)
    .bind(from)
    .fetch_all(tx)
    .await?)
}

/// An open task of a role, with where its customer sits and who manages
/// them.
#[derive(Debug, Clone, FromRow)]
pub struct RoleTask {
    pub id: Uuid,
    pub rule: String,
    pub assignee: String,
    pub handed_over_from: Option<String>,
    pub org_unit_path: Vec<String>,
    pub account_manager: String,
}

/// Those of the tasks still open, locked, by id.
pub async fn lock_tasks(
    tx: &mut PgConnection,
    ids: &[Uuid],
) -> Result<Vec<RoleTask>, ServiceError> {
    Ok(sqlx::query_as::<_, RoleTask>(
        "SELECT t.id, t.rule, t.assignee, t.handed_over_from, f.org_unit_path, f.account_manager
           FROM tasks t JOIN customer_facts f ON f.customer_id = t.customer_id
          WHERE t.id = ANY($1) AND t.state = 'open'
          ORDER BY t.id
          FOR UPDATE OF t",
    )
    .bind(ids)
    .fetch_all(tx)
    .await?)
}

/// Where a task goes, and its words saying so.
#[derive(Debug, Clone)]
pub struct TaskMove {
    pub id: Uuid,
    pub assignee: String,
    pub handed_over_from: Option<String>,
    pub role_unit: Option<String>,
    pub rule: String,
}

/// Moves the tasks, in one statement.
pub async fn move_tasks(tx: &mut PgConnection, moves: &[TaskMove]) -> Result<(), ServiceError> {
    if moves.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE tasks t SET assignee = m.assignee, handed_over_from = m.handed_over_from,
                            role_unit = m.role_unit, rule = m.rule, version = t.version + 1
           FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[])
                AS m(id, assignee, handed_over_from, role_unit, rule)
          WHERE t.id = m.id",
    )
    .bind(moves.iter().map(|m| m.id).collect::<Vec<_>>())
    .bind(moves.iter().map(|m| m.assignee.clone()).collect::<Vec<_>>())
    .bind(
        moves
            .iter()
            .map(|m| m.handed_over_from.clone())
            .collect::<Vec<_>>(),
    )
    .bind(
        moves
            .iter()
            .map(|m| m.role_unit.clone())
            .collect::<Vec<_>>(),
    )
    .bind(moves.iter().map(|m| m.rule.clone()).collect::<Vec<_>>())
    .execute(tx)
    .await?;
    Ok(())
}
