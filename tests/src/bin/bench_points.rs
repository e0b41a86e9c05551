//! Benchmark: points redemptions per second under concurrency (the ledger's
//! own path: account lock, soonest-expiring lots, entry with the balance
//! after), beside the bare datastore doing a guarded decrement of a balance
//! row for the same redemptions, then a check that every balance is still
//! right: each account's ledger sum equals what its lots hold, and none is
//! below zero.
//! Run: `cargo run --release -p patron-suite-tests --bin bench-points -- [redemptions] [cards] [concurrency]`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use patron_kit::clock::{self, SystemClock};
use patron_kit::testing::TestDatabase;
use patron_kit::{db, events};
use patron_tiering::engine::Engine;
use patron_tiering::store::cards::{self as store, CardRow, REGISTERED};
use patron_tiering::{MIGRATOR, SCHEMA};
use patron_vocab::Change;
use uuid::Uuid;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// The points redemption `i` asks for.
fn wanted(i: usize) -> i64 {
    10 + (i as i64 * 37) % 90
}

/// Latencies and outcomes of one run.
struct Run {
    elapsed: Duration,
    latencies: Vec<Duration>,
    refused: usize,
}

impl Run {
    fn print(&self, what: &str) {
        println!(
            "{what}, 2 cores: {:.0}/s, p50 {:.2} ms, p99 {:.2} ms, {} refused for too few points",
            self.latencies.len() as f64 / self.elapsed.as_secs_f64(),
            percentile(&self.latencies, 0.5).as_secs_f64() * 1e3,
            percentile(&self.latencies, 0.99).as_secs_f64() * 1e3,
            self.refused,
        );
    }
}

/// Runs `redemptions` calls of `redeem(i)` from `concurrency` tasks; each
/// call says whether it was applied.
async fn run<F, Fut>(concurrency: usize, redemptions: usize, redeem: F) -> Run
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let redeem = Arc::new(redeem);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let redeem = redeem.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut refused = 0usize;
            for i in (worker..redemptions).step_by(concurrency) {
                let t0 = Instant::now();
                if !redeem(i).await {
                    refused += 1;
                }
                latencies.push(t0.elapsed());
            }
            (latencies, refused)
        }));
    }
    let mut latencies = Vec::new();
    let mut refused = 0;
    for task in tasks {
        let (l, r) = task.await.expect("a worker");
        latencies.extend(l);
        refused += r;
    }
    let elapsed = started.elapsed();
    latencies.sort();
    Run {
        elapsed,
        latencies,
        refused,
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let redemptions: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let cards: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(200);
    let concurrency: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(16);

    let test_db = TestDatabase::create(&[SCHEMA]).await;
    let pool = db::connect(&db::DbConfig {
        max_connections: concurrency as u32 + 2,
        ..test_db.service_config(SCHEMA)
    })?;
    db::migrate(&pool, &MIGRATOR).await?;
    events::install(&pool).await?;
    let engine = Engine::new(Arc::new(SystemClock), chrono_tz::Asia::Shanghai);
    let today = clock::today(engine.clock.as_ref(), engine.zone);
    let change = Change {
        actor: "bench",
        at: engine.clock.now(),
    };

    // Registered cards, each with 1,000 points in three lots: fewer than the
    // redemptions aimed at them ask for, so many are refused.
    let mut numbers = Vec::with_capacity(cards);
    let mut tx = pool.begin().await?;
    for i in 0..cards {
        let card = store::insert_card(
            &mut tx,
            &CardRow {
                number: format!("BENCH{i:06}"),
                account: Uuid::now_v7(),
                customer_id: Uuid::now_v7(),
                status: REGISTERED,
                issued_at: change.at,
                register_by: today,
                registered_at: Some(change.at),
                replaced_by: None,
                valid_through: patron_tiering::domain::points_rules::expires_on(today),
            },
        )
        .await?;
        for (lot, points) in [(0, 200), (1, 300), (2, 500)] {
            store::append(
                &mut tx,
                &card,
                points,
                "earned",
                &format!("seed {lot}"),
                "",
                Some(patron_tiering::domain::points_rules::expires_on(today)),
                change,
            )
            .await?;
            store::add_lot(
                &mut tx,
                card.account,
                today,
                patron_tiering::domain::points_rules::expires_on(today),
                points,
            )
            .await?;
        }
        numbers.push(card);
    }
    tx.commit().await?;
    let numbers = Arc::new(numbers);

    let ledger_pool = pool.clone();
    let ledger = run(concurrency, redemptions, move |i| {
        let pool = ledger_pool.clone();
        let card = numbers[(i * 7919) % numbers.len()].clone();
        async move {
            let mut tx = pool.begin().await.expect("begin");
            let outcome = patron_tiering::ledger::redeem(
                &mut tx,
                &card,
                wanted(i),
                "bench reward",
                Uuid::now_v7(),
                today,
                Change {
                    actor: "bench",
                    at: chrono::Utc::now(),
                },
            )
            .await;
            match outcome {
                Ok(_) => {
                    tx.commit().await.expect("commit");
                    true
                }
                Err(_) => {
                    tx.rollback().await.expect("rollback");
                    false
                }
            }
        }
    })
    .await;
    ledger.print(&format!(
        "{redemptions} redemptions through the ledger on {cards} cards, {concurrency} concurrent"
    ));

    // The bare datastore's floor for the same work: one guarded decrement per
    // redemption on a plain balance row, autocommitted (no lots, no ledger).
    sqlx::raw_sql(
        "CREATE TABLE bench_raw_balances (card integer PRIMARY KEY, balance bigint NOT NULL CHECK (balance >= 0))",
    )
    .execute(&pool)
    .await?;
    sqlx::query("INSERT INTO bench_raw_balances SELECT g, 1000 FROM generate_series(0, $1 - 1) g")
        .bind(cards as i32)
        .execute(&pool)
        .await?;
    let raw_pool = pool.clone();
    let raw = run(concurrency, redemptions, move |i| {
        let pool = raw_pool.clone();
        let card = ((i * 7919) % cards) as i32;
        async move {
            sqlx::query(
                "UPDATE bench_raw_balances SET balance = balance - $2 WHERE card = $1 AND balance >= $2",
            )
            .bind(card)
            .bind(wanted(i))
            .execute(&pool)
            .await
            .expect("update")
            .rows_affected()
                == 1
        }
    })
    .await;
    raw.print("the same as bare guarded UPDATEs of a balance row, same database");

    let (wrong, negative, entries): (i64, i64, i64) = sqlx::query_as(
        "WITH l AS (SELECT account, sum(points) AS s FROM point_entries GROUP BY account),
              r AS (SELECT account, sum(remaining) AS s FROM point_lots GROUP BY account)
         SELECT (SELECT count(*) FROM l JOIN r USING (account) WHERE l.s <> r.s),
                (SELECT count(*) FROM point_entries WHERE balance_after < 0)
                  + (SELECT count(*) FROM point_lots WHERE remaining < 0),
                (SELECT count(*) FROM point_entries WHERE reason = 'redeemed')",
    )
    .fetch_one(&pool)
    .await?;
    println!(
        "afterwards: {entries} redemption entries; accounts whose ledger sum differs from their lots: {wrong}; negative balances or lots: {negative}"
    );
    Ok(())
}
