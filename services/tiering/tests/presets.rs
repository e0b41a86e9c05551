//! The configured preset at start-up, against a real PostgreSQL: it seeds an
//! empty installation, and a restart (a rollout, a new replica) leaves an
//! administrator's activation alone.

use std::path::Path;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use patron_kit::clock::ManualClock;
use patron_kit::db;
use patron_kit::testing::TestDatabase;
use patron_proto::common::v1::EventEnvelope;
use patron_proto::tiering::v1::PolicyActivated;
use patron_tiering::engine::Engine;
use patron_tiering::{MIGRATOR, SCHEMA, load_preset, seed_preset, store};
use prost::Message;
use sqlx::PgPool;

async fn active(pool: &PgPool) -> Option<(String, i32)> {
    let mut conn = pool.acquire().await.unwrap();
    store::active_policy(&mut conn)
        .await
        .unwrap()
        .map(|p| (p.id, p.version))
}

#[tokio::test]
async fn a_restart_keeps_the_administrators_activation() {
    let db = TestDatabase::create(&[SCHEMA]).await;
    let pool = db::connect(&db.service_config(SCHEMA)).unwrap();
    db::migrate(&pool, &MIGRATOR).await.unwrap();
    // As the service starts: activations publish through the outbox.
    patron_kit::events::install(&pool).await.unwrap();
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 2, 4, 0, 0).unwrap());
    let engine = Engine::new(Arc::new(clock), chrono_tz::Asia::Shanghai);

    // An empty installation is seeded by the configured preset.
    seed_preset(&pool, Path::new("health-chain"), &engine)
        .await
        .unwrap();
    let seeded = active(&pool).await.unwrap();

    // The administrator activates another policy (the operator's explicit path).
    load_preset(&pool, Path::new("retail-store"), &engine)
        .await
        .unwrap();
    let chosen = active(&pool).await.unwrap();
    assert_ne!(chosen.0, seeded.0);

    // A restart configured with the first preset leaves the choice alone,
    // and stores no new version of it.
    seed_preset(&pool, Path::new("health-chain"), &engine)
        .await
        .unwrap();
    assert_eq!(active(&pool).await, Some(chosen));
    let versions: i64 = sqlx::query_scalar("SELECT count(*) FROM policies")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(versions, 2);
}

#[tokio::test]
async fn a_refused_preset_still_stops_the_start() {
    let db = TestDatabase::create(&[SCHEMA]).await;
    let pool = db::connect(&db.service_config(SCHEMA)).unwrap();
    db::migrate(&pool, &MIGRATOR).await.unwrap();
    // As the service starts: activations publish through the outbox.
    patron_kit::events::install(&pool).await.unwrap();
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 2, 4, 0, 0).unwrap());
    let engine = Engine::new(Arc::new(clock), chrono_tz::Asia::Shanghai);
    seed_preset(&pool, Path::new("health-chain"), &engine)
        .await
        .unwrap();
    let bad = std::env::temp_dir().join(format!("bad-preset-{}.toml", uuid::Uuid::now_v7()));
    std::fs::write(&bad, "not = [a preset").unwrap();
    let refused = seed_preset(&pool, &bad, &engine).await;
    std::fs::remove_file(&bad).unwrap();
    assert!(refused.is_err(), "a misconfigured preset is reported");
}

/// The PolicyActivated events in the outbox, oldest first.
async fn activations(pool: &PgPool) -> Vec<(EventEnvelope, PolicyActivated)> {
    let envelopes: Vec<Vec<u8>> = sqlx::query_scalar(
        "SELECT envelope FROM outbox WHERE topic = 'tiering.policies' ORDER BY seq",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    envelopes
        .iter()
        .map(|bytes| {
            let envelope = EventEnvelope::decode(bytes.as_slice()).unwrap();
            let event = patron_kit::events::payload::<PolicyActivated>(&envelope)
                .expect("a PolicyActivated");
            (envelope, event)
        })
        .collect()
}

#[tokio::test]
async fn each_activation_publishes_the_whole_preset() {
    let db = TestDatabase::create(&[SCHEMA]).await;
    let pool = db::connect(&db.service_config(SCHEMA)).unwrap();
    db::migrate(&pool, &MIGRATOR).await.unwrap();
    patron_kit::events::install(&pool).await.unwrap();
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 2, 4, 0, 0).unwrap());
    let engine = Engine::new(Arc::new(clock), chrono_tz::Asia::Shanghai);

    seed_preset(&pool, Path::new("health-chain"), &engine)
        .await
        .unwrap();
    load_preset(&pool, Path::new("telecom-vip"), &engine)
        .await
        .unwrap();
    // Already active: nothing is activated, nothing published.
    load_preset(&pool, Path::new("telecom-vip"), &engine)
        .await
        .unwrap();
    seed_preset(&pool, Path::new("health-chain"), &engine)
        .await
        .unwrap();

    let published = activations(&pool).await;
    let seen: Vec<(&str, i32)> = published
        .iter()
        .map(|(_, e)| (e.policy.as_str(), e.version))
        .collect();
    assert_eq!(
        seen,
        [
            ("tierPolicies/health-chain", 1),
            ("tierPolicies/telecom-vip", 1)
        ]
    );
    let (envelope, telecom) = &published[1];
    assert_eq!(envelope.customer, "", "about no customer");
    assert_eq!(
        telecom.preset_text,
        patron_presets::read(Path::new("telecom-vip")).unwrap()
    );
    // Other services read their own sections from it.
    let preset = patron_presets::parse(&telecom.preset_text).unwrap();
    assert_eq!(preset.header.title, telecom.title);
    assert!(preset.has_section("scheduling"));
}
