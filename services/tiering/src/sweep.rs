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

use chrono::{DateTime, NaiveDate, Utc};
use futures::future::BoxFuture;
use patron_kit::ServiceError;
use patron_kit::clock;
use patron_kit::metrics::{self, DueWork};
use patron_vocab::calendar;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::engine::{Engine, Occasion};
use crate::store;

/// The actor sweep changes are recorded under.
pub const ACTOR: &str = "review";

/// The company's day a round of the sweep works in, read from the clock
/// once, so that every statement of the round agrees on it however late in
/// the day it runs (midnight may pass between two statements).
#[derive(Debug, Clone, Copy)]
struct SweepDay {
    today: NaiveDate,
    /// The start of `today` in the company's zone, as an instant.
    start: DateTime<Utc>,
}

impl SweepDay {
    fn now(engine: &Engine) -> Self {
        let today = clock::today(engine.clock.as_ref(), engine.zone);
        let start =
            calendar::start_of_day(today, &engine.zone).unwrap_or_else(|| engine.clock.now());
        Self { today, start }
    }
}

/// The sweep's backlog for the metrics: customers tiered before today and
/// not yet evaluated today (those set aside today apart), due since the day
/// began.
pub struct SweepBacklog {
    pub engine: Engine,
}

impl DueWork for SweepBacklog {
    fn job(&self) -> &'static str {
        "tiering_sweep"
    }

    fn due<'a>(&'a self, pool: &'a PgPool) -> BoxFuture<'a, anyhow::Result<metrics::Due>> {
        Box::pin(async move {
            let SweepDay { today, start } = SweepDay::now(&self.engine);
            // Counted only while the day's sweep is unfinished: with no index
            // on `decided_at` the count reads every assignment.
            let items: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT CASE WHEN EXISTS (SELECT 1 FROM sweep_days WHERE day = $2) THEN 0
                             ELSE (SELECT count(*) FROM assignments a WHERE {DUE_TODAY}) END"
            )))
            .bind(start)
            .bind(today)
            .fetch_one(pool)
            .await?;
            let oldest = if items > 0 {
                (self.engine.clock.now() - start)
                    .to_std()
                    .unwrap_or_default()
            } else {
                Duration::ZERO
            };
            Ok(metrics::Due { items, oldest })
        })
    }
}

/// Who the sweep still has to decide today (`a` an assignment; `$1` the
/// start of today, `$2` today): tiered before today, not set aside today,
/// still a member (those who left are never decided again, and would
/// otherwise be claimed batch after batch).
const DUE_TODAY: &str = "a.decided_at < $1
    AND NOT EXISTS (SELECT 1 FROM sweep_set_aside s WHERE s.customer_id = a.customer_id AND s.day = $2)
    AND NOT EXISTS (SELECT 1 FROM customer_facts f
                     WHERE f.customer_id = a.customer_id AND f.exited_at IS NOT NULL)";

/// Where one replica is in the day's sweep. It walks the customers in id
/// order, each batch claimed after the last one it claimed, so the claim
/// reads the primary key: an index on `decided_at`, which every decision
/// changes, would keep each daily rewrite of a customer's row from being
/// HOT. Two replicas leapfrog each other (each skips the rows the other
/// holds); a pass ends back at the start, which finds whoever was skipped
/// (a customer busy elsewhere, a batch that failed), and the day is marked
/// finished when nobody is left.
#[derive(Debug, Default)]
pub struct SweepCursor {
    after: Option<Uuid>,
    /// The day this replica knows the sweep finished.
    finished: Option<NaiveDate>,
}

/// Re-evaluates one batch: customers tiered before today, then customers
/// with figures but no tier yet (a policy was activated after their
/// purchases). Returns how many were evaluated. When the batch fails for a
/// reason that is not the infrastructure's, its customers are decided one by
/// one and any that still fails is set aside for the day ([`set_aside`]),
/// so the rest move on.
pub async fn run_batch(
    pool: &PgPool,
    engine: &Engine,
    batch: i64,
    cursor: &mut SweepCursor,
) -> Result<usize, ServiceError> {
    let mut tx = pool.begin().await?;
    let Some(active) = engine.active(&mut tx).await? else {
        return Ok(0);
    };
    let day = SweepDay::now(engine);
    let candidates = claim(&mut tx, engine, day, batch, cursor).await?;
    if candidates.is_empty() {
        tx.commit().await?;
        return Ok(0);
    }
    match decide(&mut tx, engine, day, &active, &candidates).await {
        Ok(evaluated) => {
            tx.commit().await?;
            Ok(evaluated)
        }
        Err(e) if retryable(&e) => Err(e),
        Err(e) => {
            tx.rollback().await?;
            tracing::warn!(error = %e, customers = candidates.len(), "a sweep batch failed; deciding its customers one by one");
            one_by_one(pool, engine, day, &candidates).await
        }
    }
}

/// Errors worth trying the same work again for: the database away, a
/// deadlock or serialization failure.
fn retryable(error: &ServiceError) -> bool {
    matches!(
        error,
        ServiceError::Unavailable(_) | ServiceError::Aborted(_)
    )
}

/// A customer due, with when their periodic review falls (none when they
/// have no tier yet).
type Due = (Uuid, Option<DateTime<Utc>>);

/// Which assignments a claim looks at.
#[derive(Clone, Copy)]
enum Range {
    /// From the first customer.
    FromStart,
    /// After this customer, in id order.
    After(Uuid),
    /// This customer alone.
    Only(Uuid),
}

impl Range {
    /// The condition on `customer_id` (`$3`); one statement per kind, so no
    /// generic plan has to serve a catch-all and scan from the start.
    fn condition(self) -> (&'static str, Option<Uuid>) {
        match self {
            Range::FromStart => ("$3::uuid IS NULL", None),
            Range::After(id) => ("a.customer_id > $3", Some(id)),
            Range::Only(id) => ("a.customer_id = $3", Some(id)),
        }
    }
}

/// Claims up to `batch` customers due today, continuing the replica's walk
/// (back at the start when it reaches the end), then customers with figures
/// but no tier yet.
async fn claim(
    tx: &mut PgConnection,
    engine: &Engine,
    day: SweepDay,
    batch: i64,
    cursor: &mut SweepCursor,
) -> Result<Vec<Due>, ServiceError> {
    let today = day.today;
    let mut tiered = Vec::new();
    if cursor.after.is_none() && cursor.finished != Some(today) && finished_on(tx, today).await? {
        cursor.finished = Some(today);
    }
    if cursor.finished != Some(today) {
        if let Some(after) = cursor.after {
            tiered = claim_tiered(tx, day, batch, Range::After(after)).await?;
        }
        if tiered.is_empty() {
            tiered = claim_tiered(tx, day, batch, Range::FromStart).await?;
            if tiered.is_empty() && !anyone_due(tx, day).await? {
                finish(tx, engine, today).await?;
                cursor.finished = Some(today);
            }
        }
        cursor.after = tiered.last().map(|(c, _)| *c);
    }
    let mut due: Vec<Due> = tiered.into_iter().map(|(c, at)| (c, Some(at))).collect();
    if (due.len() as i64) < batch {
        let untiered = claim_untiered(tx, today, batch - due.len() as i64, None).await?;
        due.extend(untiered.into_iter().map(|c| (c, None)));
    }
    Ok(due)
}

/// The customer `only` alone, when still due.
async fn claim_one(
    tx: &mut PgConnection,
    day: SweepDay,
    only: Uuid,
) -> Result<Vec<Due>, ServiceError> {
    let tiered = claim_tiered(tx, day, 1, Range::Only(only)).await?;
    if let Some((customer, review_at)) = tiered.first() {
        return Ok(vec![(*customer, Some(*review_at))]);
    }
    let untiered = claim_untiered(tx, day.today, 1, Some(only)).await?;
    Ok(untiered.into_iter().map(|c| (c, None)).collect())
}

/// Locks up to `batch` tiered customers due today in `range`, in id order,
/// passing over those someone else holds.
async fn claim_tiered(
    tx: &mut PgConnection,
    day: SweepDay,
    batch: i64,
    range: Range,
) -> Result<Vec<(Uuid, DateTime<Utc>)>, ServiceError> {
    let (condition, id) = range.condition();
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT a.customer_id, a.next_review_at FROM assignments a
          WHERE {condition} AND {DUE_TODAY}
          ORDER BY a.customer_id
          LIMIT $4
          FOR UPDATE SKIP LOCKED"
    )))
    .bind(day.start)
    .bind(day.today)
    .bind(id)
    .bind(batch)
    .fetch_all(&mut *tx)
    .await?)
}

/// Whether anyone is still due today, those held by others included (read,
/// not locked).
async fn anyone_due(tx: &mut PgConnection, day: SweepDay) -> Result<bool, ServiceError> {
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT EXISTS (SELECT 1 FROM assignments a WHERE {DUE_TODAY})"
    )))
    .bind(day.start)
    .bind(day.today)
    .fetch_one(&mut *tx)
    .await?)
}

async fn finished_on(tx: &mut PgConnection, day: NaiveDate) -> Result<bool, ServiceError> {
    Ok(
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM sweep_days WHERE day = $1)")
            .bind(day)
            .fetch_one(&mut *tx)
            .await?,
    )
}

async fn finish(
    tx: &mut PgConnection,
    engine: &Engine,
    day: NaiveDate,
) -> Result<(), ServiceError> {
    sqlx::query("INSERT INTO sweep_days (day, finished_at) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(day)
        .bind(engine.clock.now())
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Customers with figures but no tier yet (a policy was activated after
/// their purchases), not set aside today and still members.
async fn claim_untiered(
    tx: &mut PgConnection,
    today: NaiveDate,
    limit: i64,
    only: Option<Uuid>,
) -> Result<Vec<Uuid>, ServiceError> {
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT d.customer_id FROM daily_figures d
          WHERE NOT EXISTS (SELECT 1 FROM assignments a WHERE a.customer_id = d.customer_id)
            AND ($2::uuid IS NULL OR d.customer_id = $2)
            AND NOT EXISTS (SELECT 1 FROM sweep_set_aside s
                             WHERE s.customer_id = d.customer_id AND s.day = $3)
            AND NOT EXISTS (SELECT 1 FROM customer_facts f
                             WHERE f.customer_id = d.customer_id AND f.exited_at IS NOT NULL)
          LIMIT $1",
    )
    .bind(limit)
    .bind(only)
    .bind(today)
    .fetch_all(&mut *tx)
    .await?)
}

/// Decides the claimed customers in the caller's transaction.
async fn decide(
    tx: &mut PgConnection,
    engine: &Engine,
    day: SweepDay,
    active: &(
        store::PolicyRow,
        std::sync::Arc<crate::domain::policy::Policy>,
    ),
    candidates: &[Due],
) -> Result<usize, ServiceError> {
    let now = engine.clock.now();
    let ids: Vec<Uuid> = candidates.iter().map(|(c, _)| *c).collect();
    // The claimed rows are locked already, so the customers' locks are only
    // tried (see the lock order in `store`): a customer an event or a call
    // is deciding right now is left for the next batch. Under its lock, a
    // customer someone decided today meanwhile is done.
    let free = store::try_lock_customers(&mut *tx, &ids).await?;
    // A look-up by key per customer, written so that no plan can turn it
    // into a join: planned while the statistics said nobody was decided
    // today, `NOT EXISTS` became a hash of every row decided today, rebuilt
    // for each batch and growing as the sweep went (a 1,000,000-customer
    // sweep took 490 s instead of 140).
    let free: std::collections::HashSet<Uuid> = sqlx::query_scalar::<_, Uuid>(
        "SELECT c.id FROM unnest($1::uuid[]) AS c(id)
          WHERE coalesce((SELECT a.decided_at < $2 FROM assignments a
                           WHERE a.customer_id = c.id), true)",
    )
    .bind(&free)
    .bind(day.start)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();
    let due: Vec<(Uuid, Occasion)> = candidates
        .iter()
        .filter(|(c, _)| free.contains(c))
        .map(|(customer, review_at)| {
            let occasion = if review_at.is_some_and(|at| at <= now) {
                Occasion::Review
            } else {
                Occasion::Figures
            };
            (*customer, occasion)
        })
        .collect();
    // Each of `due` is locked by the claim above.
    Ok(engine
        .reevaluate_locked(&mut *tx, active, &due, ACTOR)
        .await?
        .len())
}

/// Decides each customer of a failed batch in a transaction of its own,
/// setting aside those that fail again.
async fn one_by_one(
    pool: &PgPool,
    engine: &Engine,
    day: SweepDay,
    candidates: &[Due],
) -> Result<usize, ServiceError> {
    let mut evaluated = 0;
    for (customer, _) in candidates {
        let mut tx = pool.begin().await?;
        let Some(active) = engine.active(&mut tx).await? else {
            return Ok(evaluated);
        };
        let mine = claim_one(&mut tx, day, *customer).await?;
        match decide(&mut tx, engine, day, &active, &mine).await {
            Ok(n) => {
                tx.commit().await?;
                evaluated += n;
            }
            Err(e) if retryable(&e) => return Err(e),
            Err(e) => {
                tx.rollback().await?;
                set_aside(pool, day.today, *customer, &e).await?;
            }
        }
    }
    Ok(evaluated)
}

/// Records that `customer` could not be decided today, and says so.
async fn set_aside(
    pool: &PgPool,
    day: NaiveDate,
    customer: Uuid,
    error: &ServiceError,
) -> Result<(), ServiceError> {
    let cause = match error {
        ServiceError::Internal(cause) => format!("{cause:#}"),
        other => other.to_string(),
    };
    tracing::error!(%customer, error = %cause, "the daily sweep cannot decide this customer; set aside for today");
    sqlx::query(
        "INSERT INTO sweep_set_aside (customer_id, day, error) VALUES ($1, $2, $3)
         ON CONFLICT (customer_id, day) DO UPDATE SET error = excluded.error",
    )
    .bind(customer)
    .bind(day)
    .bind(&cause)
    .execute(pool)
    .await?;
    Ok(())
}

/// Customers the sweep set aside on `day`, with why.
pub async fn set_aside_on(
    pool: &PgPool,
    day: chrono::NaiveDate,
) -> Result<Vec<(Uuid, String)>, ServiceError> {
    Ok(sqlx::query_as(
        "SELECT customer_id, error FROM sweep_set_aside WHERE day = $1 ORDER BY set_aside_at",
    )
    .bind(day)
    .fetch_all(pool)
    .await?)
}

/// Each round runs the points and cards upkeep, then batches until nothing
/// is left (or one fails), then waits `pause`; until `shutdown`. The upkeep
/// runs once a round, not before every batch: a million customers are two
/// thousand batches, and the upkeep's work is by the day.
pub fn spawn(
    pool: PgPool,
    engine: Engine,
    batch: i64,
    pause: Duration,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut cursor = SweepCursor::default();
        while !shutdown.is_cancelled() {
            if let Err(e) = crate::ledger::daily_upkeep(&pool, &engine).await {
                tracing::warn!(error = %e, "points and cards upkeep failed; retrying later");
            }
            while !shutdown.is_cancelled() {
                match run_batch(&pool, &engine, batch, &mut cursor).await {
                    Ok(0) => break,
                    Ok(n) => tracing::debug!(customers = n, "daily sweep batch"),
                    Err(e) => {
                        tracing::warn!(error = %e, "daily sweep batch failed; retrying later");
                        break;
                    }
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = tokio::time::sleep(pause) => {}
            }
        }
    })
}
