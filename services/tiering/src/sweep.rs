//! The daily sweep: every customer is re-evaluated once a day, so rolling
//! windows that move past old purchases take effect without new events,
//! and customers whose periodic review is due get it (downgrades apply
//! then). Replicas share the work: each batch claims its rows with
//! `FOR UPDATE SKIP LOCKED`, and a replica that dies mid-batch releases its
//! claim when its transaction ends, for another to pick up. Holding those
//! rows, it only tries the customers' locks, never waits for them (the lock
//! order is in `store`). Points of past
//! years expire in the same loop (003: points last until 31 December), with
//! warnings ahead of it, and cards not renewed become void.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use patron_kit::ServiceError;
use patron_kit::clock;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::engine::{Engine, Occasion};
use crate::store;

/// The actor sweep changes are recorded under.
pub const ACTOR: &str = "review";

/// The start of the company's day, as an instant.
fn start_of_today(engine: &Engine) -> DateTime<Utc> {
    let today = clock::today(engine.clock.as_ref(), engine.zone);
    today
        .and_hms_opt(0, 0, 0)
        .and_then(|t| engine.zone.from_local_datetime(&t).earliest())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| engine.clock.now())
}

/// Re-evaluates one batch: customers tiered before today, then customers
/// with figures but no tier yet (a policy was activated after their
/// purchases). Returns how many were evaluated.
pub async fn run_batch(pool: &PgPool, engine: &Engine, batch: i64) -> Result<usize, ServiceError> {
    let mut tx = pool.begin().await?;
    let Some(active) = engine.active(&mut tx).await? else {
        return Ok(0);
    };
    let now = engine.clock.now();
    let claimed: Vec<(Uuid, DateTime<Utc>)> = sqlx::query_as(
        "SELECT customer_id, next_review_at FROM assignments
          WHERE decided_at < $1
          ORDER BY decided_at
          LIMIT $2
          FOR UPDATE SKIP LOCKED",
    )
    .bind(start_of_today(engine))
    .bind(batch)
    .fetch_all(&mut *tx)
    .await?;
    let mut candidates: Vec<Uuid> = claimed.iter().map(|(c, _)| *c).collect();
    if (claimed.len() as i64) < batch {
        let untiered: Vec<Uuid> = sqlx::query_scalar(
            "SELECT DISTINCT d.customer_id FROM daily_figures d
              WHERE NOT EXISTS (SELECT 1 FROM assignments a WHERE a.customer_id = d.customer_id)
              LIMIT $1",
        )
        .bind(batch - claimed.len() as i64)
        .fetch_all(&mut *tx)
        .await?;
        candidates.extend(untiered);
    }
    // The claimed rows are locked already, so the customers' locks are only
    // tried (see the lock order in `store`): a customer an event or a call
    // is deciding right now is left for the next batch. Under its lock, a
    // customer someone decided today meanwhile is done.
    let free = store::try_lock_customers(&mut tx, &candidates).await?;
    let free: std::collections::HashSet<Uuid> = sqlx::query_scalar::<_, Uuid>(
        "SELECT c.id FROM unnest($1::uuid[]) AS c(id)
          WHERE NOT EXISTS (SELECT 1 FROM assignments a
                             WHERE a.customer_id = c.id AND a.decided_at >= $2)",
    )
    .bind(&free)
    .bind(start_of_today(engine))
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();
    let review_at: std::collections::HashMap<Uuid, DateTime<Utc>> = claimed.into_iter().collect();
    let due: Vec<(Uuid, Occasion)> = candidates
        .iter()
        .filter(|c| free.contains(c))
        .map(|customer| {
            let occasion = if review_at.get(customer).is_some_and(|at| *at <= now) {
                Occasion::Review
            } else {
                Occasion::Figures
            };
            (*customer, occasion)
        })
        .collect();
    let evaluated = engine
        .reevaluate_many(&mut tx, &active, &due, ACTOR)
        .await?
        .len();
    tx.commit().await?;
    Ok(evaluated)
}

/// Runs batches until nothing is left, then waits `pause`, until `shutdown`.
pub fn spawn(
    pool: PgPool,
    engine: Engine,
    batch: i64,
    pause: Duration,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !shutdown.is_cancelled() {
            if let Err(e) = crate::points::daily_upkeep(&pool, &engine).await {
                tracing::warn!(error = %e, "points and cards upkeep failed; retrying later");
            }
            let idle = match run_batch(&pool, &engine, batch).await {
                Ok(0) => true,
                Ok(n) => {
                    tracing::debug!(customers = n, "daily sweep batch");
                    false
                }
                Err(e) => {
                    tracing::warn!(error = %e, "daily sweep batch failed; retrying later");
                    true
                }
            };
            if idle {
                tokio::select! {
                    _ = shutdown.cancelled() => {}
                    _ = tokio::time::sleep(pause) => {}
                }
            }
        }
    })
}
