//! Each unit's designated complaint handler (002 §9).

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use patron_kit::ServiceError;
use sqlx::{FromRow, PgConnection, PgPool};
use uuid::Uuid;

use super::complaints;

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

/// Locks `customer_ids` for the repeat look-up
/// ([`complaints::LOCK_CUSTOMERS_FOR_REPEATS`]) and finds, for each of
/// `unit_paths` (each from the company down), the handler of the nearest
/// unit on it that has one: a branch without its own handler is served by
/// the one above it. One statement for both, as an intake group needs
/// them: the locks are the left side of an outer join, so they are taken
/// whether or not any unit has a handler.
pub async fn lock_customers_and_find_nearest(
    tx: &mut PgConnection,
    customer_ids: &[Uuid],
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
    static STATEMENT: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT n.which, n.handler, n.org_unit_path
           FROM ({}) AS locks
           LEFT JOIN (
                SELECT DISTINCT ON (p.which) p.which, h.handler, s.org_unit_path
                  FROM unnest($2::int[], $3::text[], $4::int[]) AS p(which, unit, depth)
                  JOIN unit_handlers h ON h.org_unit = p.unit
                  LEFT JOIN directory_staff s ON s.staff_id = h.handler AND s.org_unit IS NOT NULL
                 ORDER BY p.which, p.depth DESC) AS n ON true",
            complaints::LOCK_CUSTOMERS_FOR_REPEATS
        )
    });
    // (which path, its handler, the handler's unit path); one row of NULLs
    // when no unit has a handler.
    type Row = (Option<i32>, Option<String>, Option<Vec<String>>);
    let rows: Vec<Row> = sqlx::query_as(STATEMENT.as_str())
        .bind(customer_ids)
        .bind(&which)
        .bind(&units)
        .bind(&depths)
        .fetch_all(&mut *tx)
        .await?;
    let mut nearest: Vec<Option<NearestHandler>> = unit_paths.iter().map(|_| None).collect();
    for row in rows {
        let (Some(i), Some(handler), unit_path) = row else {
            continue;
        };
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
