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

/// For each of `unit_paths` (each from the company down), the handler of
/// the nearest unit on it that has one: a branch without its own handler is
/// served by the one above it. One statement for all the paths.
pub async fn nearest_on_paths(
    tx: &mut PgConnection,
    unit_paths: &[&[String]],
) -> Result<Vec<Option<NearestHandler>>, ServiceError> {
    // The paths travel flattened: (which path, unit, depth on it).
    let (mut which, mut units, mut depths) = (Vec::new(), Vec::new(), Vec::new());
    for (i, path) in unit_paths.iter().enumerate() {
        for (depth, unit) in path.iter().enumerate() {
            which.push(i as i32);
            units.push(unit.as_str());
            depths.push(depth as i32);
        }
    }
    let rows: Vec<(i32, String, Option<Vec<String>>)> = sqlx::query_as(
        "SELECT DISTINCT ON (p.which) p.which, h.handler, s.org_unit_path
           FROM unnest($1::int[], $2::text[], $3::int[]) AS p(which, unit, depth)
           JOIN unit_handlers h ON h.org_unit = p.unit
           LEFT JOIN directory_staff s ON s.staff_id = h.handler AND s.org_unit IS NOT NULL
          ORDER BY p.which, p.depth DESC",
    )
    .bind(&which)
    .bind(&units)
    .bind(&depths)
    .fetch_all(&mut *tx)
    .await?;
    let mut nearest: Vec<Option<NearestHandler>> = unit_paths.iter().map(|_| None).collect();
    for (i, handler, unit_path) in rows {
        if let Some(slot) = usize::try_from(i).ok().and_then(|i| nearest.get_mut(i)) {
            *slot = Some(NearestHandler {
                handler,
                unit_path: unit_path.filter(|path| !path.is_empty()),
            });
        }
    }
    Ok(nearest)
}

/// The handler nearest a unit, and where the directory places them.
pub struct NearestHandler {
    pub handler: String,
    /// The handler's own unit path; `None` while the directory has not
    /// placed them.
    pub unit_path: Option<Vec<String>>,
}
