//! Benchmark: the daily sweep re-evaluating every customer under the
//! health-chain preset (the engine: figures, rules, explanation, history,
//! events, one customer at a time), beside one set-based SQL statement
//! computing the same tiers over the same rows in the same run.
//! Run: `cargo run --release -p patron-suite-tests --bin bench-tiering -- [customers] [replicas]`.

use std::sync::Arc;
use std::time::Instant;

use chrono::{Duration, Utc};
use patron_kit::clock::{self, ManualClock, SystemClock};
use patron_kit::testing::TestDatabase;
use patron_kit::{db, events};
use patron_tiering::engine::Engine;
use patron_tiering::{MIGRATOR, SCHEMA, load_preset, sweep};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let customers: i64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let replicas: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(2);

    let test_db = TestDatabase::create(&[SCHEMA]).await;
    let pool = db::connect(&db::DbConfig {
        max_connections: 8,
        ..test_db.service_config(SCHEMA)
    })?;
    db::migrate(&pool, &MIGRATOR).await?;
    events::install(&pool).await?;
    // The projection of profile's facts the sweep reads (exits), as the
    // service installs it at start-up.
    patron_kit::directory::install(&pool).await?;
    // The sweep runs twice: yesterday's (the seeded tiers, drawn at random,
    // mostly change, and every row gains its explanation and checks), then
    // today's, the one measured against the SQL pass: a day like any other,
    // every row rewritten, few tiers moving.
    let now = Utc::now();
    let day_clock = ManualClock::new(now - Duration::days(1));
    let engine = Engine::new(Arc::new(day_clock.clone()), chrono_tz::Asia::Shanghai);
    load_preset(&pool, std::path::Path::new("health-chain"), &engine).await?;
    let today = clock::today(&SystemClock, engine.zone);

    // Each customer: a few days of purchases over the last 13 months, and a
    // tier decided two days ago (so yesterday's sweep has everyone to do).
    let seeding = Instant::now();
    sqlx::query(
        "INSERT INTO daily_figures (customer_id, day, spend_minor, purchases, largest_minor, volume_milli)
         SELECT c.id, $2::date - (random() * 400)::int, (random() * 60000)::bigint,
                1 + (random() * 4)::int, (random() * 30000)::bigint, 0
           FROM (SELECT md5(g::text)::uuid AS id FROM generate_series(1, $1) g) c,
                generate_series(1, 3) d
         ON CONFLICT DO NOTHING",
    )
    .bind(customers)
    .bind(today)
    .execute(&pool)
    .await?;
    sqlx::query(
        "INSERT INTO assignments (customer_id, tier, policy_id, policy_version, explanation, decided_at, next_review_at)
         SELECT customer_id, (ARRAY['A','B','C','D','E'])[1 + floor(random() * 5)::int], 'health-chain', 1, '', now() - interval '2 days',
                now() + (random() * 400 - 200) * interval '1 day'
           FROM (SELECT DISTINCT customer_id FROM daily_figures) c",
    )
    .execute(&pool)
    .await?;
    sqlx::query("ANALYZE").execute(&pool).await?;
    println!(
        "{customers} customers, {} daily rows, seeded in {:.1} s; {replicas} sweeping replicas, 2 cores",
        customers * 3,
        seeding.elapsed().as_secs_f64()
    );

    let (evaluated, took) = sweep_everyone(&pool, &engine, replicas).await?;
    let changes_yesterday: i64 = sqlx::query_scalar("SELECT count(*) FROM tier_changes")
        .fetch_one(&pool)
        .await?;
    report(
        &pool,
        "yesterday's sweep",
        evaluated,
        took,
        changes_yesterday,
    )
    .await?;
    day_clock.set(now);
    let (evaluated, engine_time) = sweep_everyone(&pool, &engine, replicas).await?;
    let changes: i64 = sqlx::query_scalar("SELECT count(*) FROM tier_changes")
        .fetch_one(&pool)
        .await?;
    report(
        &pool,
        "today's sweep",
        evaluated,
        engine_time,
        changes - changes_yesterday,
    )
    .await?;

    // The same decisions as one statement over the same rows: health-chain's
    // A–E by visits or spend in the last 12 months.
    let first_day = patron_tiering::domain::windows::first_day(
        patron_tiering::domain::policy::Window::RollingMonths(12),
        today,
    );
    let start = Instant::now();
    let updated = sqlx::query(
        "CREATE UNLOGGED TABLE sql_tiers AS
         SELECT customer_id, CASE
                  WHEN v >= 12 OR s >= 120000 THEN 'A'
                  WHEN v >= 8 OR s >= 80000 THEN 'B'
                  WHEN v >= 4 OR s >= 40000 THEN 'C'
                  WHEN v >= 2 OR s >= 20000 THEN 'D'
                  ELSE 'E' END AS tier
           FROM (SELECT a.customer_id, COALESCE(sum(d.spend_minor), 0) AS s,
                        COALESCE(sum(d.purchases), 0) AS v
                   FROM assignments a
                   LEFT JOIN daily_figures d
                          ON d.customer_id = a.customer_id AND d.day >= $1 AND d.day <= $2
                  GROUP BY a.customer_id) f",
    )
    .bind(first_day)
    .bind(today)
    .execute(&pool)
    .await?
    .rows_affected();
    let sql_time = start.elapsed();
    println!(
        "set-based SQL         {updated:>9} customers in {:>7.1} s  {:>8.0} customers/s  (tiers only: no explanation, history or events)",
        sql_time.as_secs_f64(),
        updated as f64 / sql_time.as_secs_f64()
    );
    println!(
        "today's sweep / SQL   {:.1}x",
        engine_time.as_secs_f64() / sql_time.as_secs_f64()
    );
    // Where they differ, the engine must hold a higher tier with the SQL's
    // as its pending downgrade (the review is not due); never a lower one.
    let (lower, deferred, pending_matches): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE a.tier > q.tier),
                count(*) FILTER (WHERE a.tier < q.tier),
                count(*) FILTER (WHERE a.tier < q.tier AND a.pending_tier = q.tier)
           FROM assignments a JOIN sql_tiers q USING (customer_id)",
    )
    .fetch_one(&pool)
    .await?;
    println!(
        "engine vs SQL: {lower} customers lower than the SQL tier (must be 0); {deferred} held higher until their review, \
         {pending_matches} of them with the SQL tier as the pending downgrade"
    );
    Ok(())
}

/// Every customer due today decided by `replicas` sweeping replicas at once,
/// each walking with its own cursor; how many they decided and how long it took.
async fn sweep_everyone(
    pool: &sqlx::PgPool,
    engine: &Engine,
    replicas: usize,
) -> anyhow::Result<(usize, std::time::Duration)> {
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..replicas {
        let pool = pool.clone();
        let engine = engine.clone();
        workers.push(tokio::spawn(async move {
            let mut done = 0usize;
            let mut cursor = sweep::SweepCursor::default();
            loop {
                match sweep::run_batch(&pool, &engine, 500, &mut cursor).await {
                    Ok(0) => return Ok::<usize, anyhow::Error>(done),
                    Ok(n) => done += n,
                    Err(e) => return Err(e.into()),
                }
            }
        }));
    }
    let mut evaluated = 0;
    for worker in workers {
        evaluated += worker.await??;
    }
    Ok((evaluated, start.elapsed()))
}

async fn report(
    pool: &sqlx::PgPool,
    what: &str,
    evaluated: usize,
    took: std::time::Duration,
    changes: i64,
) -> anyhow::Result<()> {
    println!(
        "{what:<21} {evaluated:>9} customers in {:>7.1} s  {:>8.0} customers/s  ({changes} tier changes with history and events)",
        took.as_secs_f64(),
        evaluated as f64 / took.as_secs_f64()
    );
    // The statistics arrive from each session within a second or so.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let (updates, hot, size, row): (i64, i64, i64, f64) = sqlx::query_as(
        "SELECT n_tup_upd, n_tup_hot_upd, pg_total_relation_size(relid),
                (SELECT avg(pg_column_size(a.*))::float8 FROM assignments a)
           FROM pg_stat_user_tables WHERE relname = 'assignments' AND schemaname = current_schema()",
    )
    .fetch_one(pool)
    .await?;
    println!(
        "  assignments so far: {updates} updates, {hot} of them HOT; rows of {row:.0} bytes, {} MB with indexes",
        size >> 20
    );
    Ok(())
}
