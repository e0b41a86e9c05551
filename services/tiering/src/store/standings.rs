//! Standings: credit rank, arrears, bad records, region and designated tier.

use std::collections::HashMap;

use patron_kit::ServiceError;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use patron_vocab::Change;

#[derive(Debug, Clone, Default, FromRow)]
pub struct StandingRow {
    pub credit_rank: Option<i32>,
    pub arrears_minor: i64,
    pub bad_records: i32,
    pub region: String,
    pub designated_tier: String,
}

pub async fn put_standing(
    tx: &mut PgConnection,
    customer_id: Uuid,
    s: &StandingRow,
    change: Change<'_>,
) -> Result<(), ServiceError> {
    sqlx::query(
        "INSERT INTO standings (customer_id, credit_rank, arrears_minor, bad_records, region, designated_tier, updated_at, updated_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (customer_id) DO UPDATE
            SET credit_rank = $2, arrears_minor = $3, bad_records = $4, region = $5,
                designated_tier = $6, updated_at = $7, updated_by = $8",
    )
    .bind(customer_id)
    .bind(s.credit_rank)
    .bind(s.arrears_minor)
    .bind(s.bad_records)
    .bind(&s.region)
    .bind(&s.designated_tier)
    .bind(change.at)
    .bind(change.actor)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The standings of many customers.
pub async fn standings_of(
    conn: &mut PgConnection,
    customers: &[Uuid],
) -> Result<HashMap<Uuid, StandingRow>, ServiceError> {
    let rows: Vec<Keyed<StandingRow>> = sqlx::query_as(
        "SELECT customer_id, credit_rank, arrears_minor, bad_records, region, designated_tier
           FROM standings WHERE customer_id = ANY($1)",
    )
    .bind(customers)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|k| (k.customer_id, k.row)).collect())
}

/// A row with the customer it belongs to.
#[derive(FromRow)]
struct Keyed<T> {
    customer_id: Uuid,
    #[sqlx(flatten)]
    row: T,
}
