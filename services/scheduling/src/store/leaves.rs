//! Leaves and their handovers.

use chrono::{DateTime, NaiveDate, Utc};
use patron_kit::ServiceError;
use sqlx::{FromRow, PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::leave::{Direction, Handover, Leave};

#[derive(Debug, Clone, FromRow)]
pub struct LeaveRow {
    pub id: Uuid,
    pub staff_member: String,
    pub stand_in: String,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub handed_over: bool,
    pub returned: bool,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

impl LeaveRow {
    pub fn leave(&self) -> Leave {
        Leave {
            manager: self.staff_member.clone(),
            lead: self.stand_in.clone(),
            from: self.start_date,
            to: self.end_date,
        }
    }
}

#[derive(Debug, Clone, FromRow)]
pub struct HandoverRow {
    pub leave_id: Uuid,
    pub task_id: Uuid,
    pub from_staff: String,
    pub to_staff: String,
    pub direction: String,
    pub at: DateTime<Utc>,
}

impl HandoverRow {
    pub fn handover(&self) -> Handover {
        Handover {
            task: self.task_id.to_string(),
            from: self.from_staff.clone(),
            to: self.to_staff.clone(),
            at: self.at,
            direction: if self.direction == "back" {
                Direction::Back
            } else {
                Direction::ToCover
            },
        }
    }
}

const COLUMNS: &str = "id, staff_member, stand_in, start_date, end_date, handed_over, returned,
    created_by, created_at";

pub async fn insert(tx: &mut PgConnection, row: &LeaveRow) -> Result<(), ServiceError> {
    sqlx::query(
        "INSERT INTO leaves (id, staff_member, stand_in, start_date, end_date, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(row.id)
    .bind(&row.staff_member)
    .bind(&row.stand_in)
    .bind(row.start_date)
    .bind(row.end_date)
    .bind(&row.created_by)
    .bind(row.created_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Takes the leaves' lock, so two leaves checked against each other are
/// recorded one after the other.
pub async fn lock_all(tx: &mut PgConnection) -> Result<(), ServiceError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.leaves'))")
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Leaves of `staff` (or of everyone), latest first.
pub async fn list(pool: &PgPool, staff: Option<&str>) -> Result<Vec<LeaveRow>, ServiceError> {
    Ok(sqlx::query_as::<_, LeaveRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM leaves WHERE ($1::text IS NULL OR staff_member = $1)
          ORDER BY start_date DESC, id DESC LIMIT 500"
    )))
    .bind(staff)
    .fetch_all(pool)
    .await?)
}

/// Leaves that end on or after `day` (those that can still clash or cover).
pub async fn not_over(
    tx: &mut PgConnection,
    day: NaiveDate,
) -> Result<Vec<LeaveRow>, ServiceError> {
    Ok(sqlx::query_as::<_, LeaveRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM leaves WHERE end_date >= $1"
    )))
    .bind(day)
    .fetch_all(&mut *tx)
    .await?)
}

/// The leaves in force on `day` (the domain's `Leave::covers`): whose new
/// tasks go to a stand-in.
pub async fn covering(
    tx: &mut PgConnection,
    day: NaiveDate,
) -> Result<Vec<LeaveRow>, ServiceError> {
    Ok(not_over(tx, day)
        .await?
        .into_iter()
        .filter(|l| l.leave().covers(day))
        .collect())
}

/// Leaves that have started but not been handed over, or have ended but not
/// been handed back, claimed.
pub async fn claim_due(
    tx: &mut PgConnection,
    today: NaiveDate,
) -> Result<Vec<LeaveRow>, ServiceError> {
    Ok(sqlx::query_as::<_, LeaveRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM leaves
          WHERE (NOT handed_over AND start_date <= $1 AND end_date >= $1)
             OR (NOT returned AND end_date < $1)
          ORDER BY start_date, id LIMIT 50 FOR UPDATE SKIP LOCKED"
    )))
    .bind(today)
    .fetch_all(&mut *tx)
    .await?)
}

pub async fn mark(
    tx: &mut PgConnection,
    id: Uuid,
    handed_over: bool,
    returned: bool,
) -> Result<(), ServiceError> {
    sqlx::query("UPDATE leaves SET handed_over = $2, returned = $3 WHERE id = $1")
        .bind(id)
        .bind(handed_over)
        .bind(returned)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

pub async fn insert_handover(tx: &mut PgConnection, row: &HandoverRow) -> Result<(), ServiceError> {
    sqlx::query(
        "INSERT INTO handovers (leave_id, task_id, from_staff, to_staff, direction, at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(row.leave_id)
    .bind(row.task_id)
    .bind(&row.from_staff)
    .bind(&row.to_staff)
    .bind(&row.direction)
    .bind(row.at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The handovers of `leaves`, in order.
pub async fn handovers<'c, E: sqlx::PgExecutor<'c>>(
    conn: E,
    leaves: &[Uuid],
) -> Result<Vec<HandoverRow>, ServiceError> {
    Ok(sqlx::query_as::<_, HandoverRow>(
        "SELECT leave_id, task_id, from_staff, to_staff, direction, at FROM handovers
          WHERE leave_id = ANY($1) ORDER BY at, task_id",
    )
    .bind(leaves)
    .fetch_all(conn)
    .await?)
}
