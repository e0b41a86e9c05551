//! Each unit's designated complaint handler (002 §9).

use chrono::{DateTime, Utc};
use patron_kit::ServiceError;
use sqlx::{FromRow, PgConnection, PgPool};

#[derive(Debug, Clone, FromRow)]
pub struct UnitHandlerRow {
    pub org_unit: String,
    pub handler: String,
    pub set_by: String,
    pub set_at: DateTime<Utc>,
}

/// Names (or renames) a unit's handler.
pub async fn set(pool: &PgPool, row: &UnitHandlerRow) -> Result<(), ServiceError> {
    sqlx::query(
        "INSERT INTO unit_handlers (org_unit, handler, set_by, set_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (org_unit) DO UPDATE SET handler = $2, set_by = $3, set_at = $4",
    )
    .bind(&row.org_unit)
    .bind(&row.handler)
    .bind(&row.set_by)
    .bind(row.set_at)
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn list(pool: &PgPool) -> Result<Vec<UnitHandlerRow>, ServiceError> {
    Ok(sqlx::query_as(
        "SELECT org_unit, handler, set_by, set_at FROM unit_handlers ORDER BY org_unit",
    )
    .fetch_all(pool)
    .await?)
}

/// The handler of the nearest unit on `unit_path` (from the company down)
/// that has one: a branch without its own handler is served by the one
/// above it.
pub async fn nearest(
    tx: &mut PgConnection,
    unit_path: &[String],
) -> Result<Option<NearestHandler>, ServiceError> {
    let row: Option<(String, Option<Vec<String>>)> = sqlx::query_as(
        "SELECT h.handler, s.org_unit_path FROM unit_handlers h
           JOIN unnest($1::text[]) WITH ORDINALITY AS p(unit, depth) ON p.unit = h.org_unit
           LEFT JOIN directory_staff s ON s.staff_id = h.handler AND s.org_unit IS NOT NULL
          ORDER BY p.depth DESC LIMIT 1",
    )
    .bind(unit_path)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(row.map(|(handler, unit_path)| NearestHandler {
        handler,
        unit_path: unit_path.filter(|path| !path.is_empty()),
    }))
}

/// The handler nearest a unit, and where the directory places them.
pub struct NearestHandler {
    pub handler: String,
    /// The handler's own unit path; `None` while the directory has not
    /// placed them.
    pub unit_path: Option<Vec<String>>,
}
