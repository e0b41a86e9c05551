//! What tiering's storage tests share: a database of the test's own with
//! tiering migrated, a clock the test moves, and an engine on both.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use patron_kit::clock::ManualClock;
use patron_kit::testing::TestDatabase;
use patron_kit::{db, directory, events};
use patron_tiering::engine::Engine;
use patron_tiering::{MIGRATOR, SCHEMA, load_preset};
use sqlx::PgPool;

pub struct Fixture {
    pub _db: TestDatabase,
    pub pool: PgPool,
    pub clock: ManualClock,
    pub engine: Engine,
}

/// Tiering on a fresh database at 2 March 2026, noon in Shanghai, under the
/// shipped `preset`.
pub async fn with_preset(preset: &str) -> Fixture {
    let db = TestDatabase::create(&[SCHEMA]).await;
    let pool = db::connect(&db.service_config(SCHEMA)).unwrap();
    db::migrate(&pool, &MIGRATOR).await.unwrap();
    events::install(&pool).await.unwrap();
    directory::install(&pool).await.unwrap();
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 2, 4, 0, 0).unwrap());
    let engine = Engine::new(Arc::new(clock.clone()), chrono_tz::Asia::Shanghai);
    load_preset(&pool, std::path::Path::new(preset), &engine)
        .await
        .unwrap();
    Fixture {
        _db: db,
        pool,
        clock,
        engine,
    }
}

/// Under the health-chain preset.
#[allow(dead_code)] // not every test file uses every helper
pub async fn fixture() -> Fixture {
    with_preset("health-chain").await
}
