//! Each unit's group lead, and the escalation of overdue tasks to them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use patron_kit::ServiceError;
use sqlx::{FromRow, PgConnection, PgPool};
use uuid::Uuid;

#[derive(Debug, Clone, FromRow)]
pub struct GroupLeadRow {
    pub org_unit: String,
    pub lead: String,
    pub set_by: String,
    pub set_at: DateTime<Utc>,
}

/// Names (or renames) a unit's lead.
pub async fn set(pool: &PgPool, row: &GroupLeadRow) -> Result<(), ServiceError> {
    sqlx::query(
        "INSERT INTO group_leads (org_unit, lead, set_by, set_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (org_unit) DO UPDATE SET lead = $2, set_by = $3, set_at = $4",
    )
    .bind(&row.org_unit)
    .bind(&row.lead)
    .bind(&row.set_by)
    .bind(row.set_at)
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn list(pool: &PgPool) -> Result<Vec<GroupLeadRow>, ServiceError> {
    Ok(
        sqlx::query_as("SELECT org_unit, lead, set_by, set_at FROM group_leads ORDER BY org_unit")
            .fetch_all(pool)
            .await?,
    )
}

/// The leads of those of `units` that have one, by unit.
pub async fn of_units(
    conn: &mut PgConnection,
    units: &[String],
) -> Result<BTreeMap<String, String>, ServiceError> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT org_unit, lead FROM group_leads WHERE org_unit = ANY($1)")
            .bind(units)
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().collect())
}

/// Records on a task that it went to `lead` (the lead of `unit`).
pub async fn record_escalation(
    tx: &mut PgConnection,
    task_id: Uuid,
    lead: &str,
    unit: &str,
    at: DateTime<Utc>,
) -> Result<(), ServiceError> {
    sqlx::query(
        "UPDATE tasks SET escalated_to = $2, escalation_unit = $3, escalated_at = $4,
                          version = version + 1
          WHERE id = $1",
    )
    .bind(task_id)
    .bind(lead)
    .bind(unit)
    .bind(at)
    .execute(tx)
    .await?;
    Ok(())
}
