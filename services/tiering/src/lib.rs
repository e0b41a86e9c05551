//! tiering: versioned tier policies from the companies' presets, per-customer
//! figures kept from profile's transaction events, and explainable tier
//! decisions (DOMAIN.md §2). `serve` is what the `patron` binary calls; the
//! rules are in `domain`, the SQL in `store`, decisions in `engine`.

pub mod access;
pub mod complaint_events;
pub mod domain;
pub mod engine;
pub mod grpc;
pub mod ledger;
pub mod presets;
pub mod profile_events;
pub mod store;
pub mod sweep;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use patron_kit::auth::AuthConfig;
use patron_kit::config::{self, ConfigError};
use patron_kit::db::{self, DbConfig};
use patron_kit::events::{self, ConsumerConfig};
use patron_kit::runtime::{Boot, CommonConfig};
use patron_proto::tiering::v1::points_service_server::PointsServiceServer;
use patron_proto::tiering::v1::tiering_service_server::TieringServiceServer;
use patron_vocab::Change;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;

use crate::engine::Engine;

/// The schema (and role `patron_tiering`) this service owns.
pub const SCHEMA: &str = "tiering";

/// The gRPC service names this service answers for.
pub const SERVICE_NAMES: &[&str] = &[
    "patron.tiering.v1.TieringService",
    "patron.tiering.v1.PointsService",
];

/// This service's migrations, compiled in.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Everything the service needs to run.
#[derive(Clone)]
pub struct TieringConfig {
    /// What every service has: address, database, cache, events, auth,
    /// zone, clock, health and relay pace.
    pub common: CommonConfig,
    /// A preset (a shipped one by name, or a file) that seeds an empty
    /// installation: stored and activated at start-up only while no policy
    /// is active.
    pub preset: Option<PathBuf>,
    /// This process's name in the consumer group (the pod name in a cluster).
    pub consumer_name: String,
    /// Pause of the daily sweep once every customer is evaluated for today.
    pub sweep_pause: Duration,
}

impl TieringConfig {
    /// From the environment (`PATRON_TIERING_ADDR`, `PATRON_TIER_PRESET`,
    /// `HOSTNAME`, and the kit's variables).
    pub fn from_env(auth: AuthConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            common: CommonConfig::from_env(SCHEMA, "PATRON_TIERING_ADDR", "127.0.0.1:50052", auth)?,
            preset: std::env::var_os("PATRON_TIER_PRESET").map(PathBuf::from),
            consumer_name: config::env_or("HOSTNAME", "tiering-1"),
            sweep_pause: config::env_millis("PATRON_SWEEP_PAUSE_MS", Duration::from_secs(60))?,
        })
    }
}

/// Applies the migrations (what `patron migrate tiering` runs).
pub async fn migrate(config: &DbConfig) -> anyhow::Result<()> {
    db::migrate_once(config, &MIGRATOR).await
}

/// Migrates, loads the configured preset, then serves on `listener` and
/// consumes transaction events until `shutdown` is cancelled.
pub async fn serve(
    config: TieringConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let boot = Boot::migrate(&config.common, &MIGRATOR).await?;
    // What profile's events say of customers and the directory.
    patron_kit::directory::install(&boot.pool).await?;
    let engine = Engine::new(config.common.clock.clone(), config.common.zone);
    if let Some(path) = &config.preset {
        seed_preset(&boot.pool, path, &engine).await?;
    }
    // The relay and the consumer share the events pool.
    let mut runtime = boot.start(3, shutdown.clone())?;
    // Profile's events; the kit's consumer waits out outages of Redis and
    // Postgres (the events wait in profile's outbox and the stream).
    runtime.consume(
        consumer_config(&config),
        Arc::new(profile_events::ProfileEvents::new(
            engine.clone(),
            config.common.zone,
        )),
    );
    runtime.measure_due(sweep::SweepBacklog {
        engine: engine.clone(),
    });
    // The sweep and the points upkeep get a small pool of their own, so a
    // long batch never takes the connections requests wait for.
    let background = db::connect_background(&config.common.db, 2)?;
    let sweep = sweep::spawn(
        background.clone(),
        engine.clone(),
        500,
        config.sweep_pause,
        shutdown,
    );
    runtime.spawned(sweep);
    runtime.owns(background);
    let pool = &runtime.pool;
    let routes = Routes::new(runtime.guard(TieringServiceServer::new(grpc::TieringApi {
        pool: pool.clone(),
        engine: engine.clone(),
    })))
    .add_service(
        runtime.guard(PointsServiceServer::new(grpc::points_service::PointsApi {
            pool: pool.clone(),
            engine,
        })),
    );
    runtime.serve(listener, routes, SERVICE_NAMES).await
}

/// Seeds an empty installation at start-up: stores and activates the preset
/// at `path` only while no policy is active. Once one is, changing it is an
/// administrator's explicit act (the API, or [`load_preset`]); a rollout or
/// a new replica must not undo it, nor apply every pending downgrade at once.
pub async fn seed_preset(
    pool: &sqlx::PgPool,
    path: &std::path::Path,
    engine: &Engine,
) -> anyhow::Result<()> {
    store_and_activate(pool, path, engine, true).await
}

/// Stores the preset at `path` as a new version of its policy when its text
/// changed, and makes the latest version active: an operator's explicit
/// act. Replicas take turns under the policy's lock, so one version is
/// stored once.
pub async fn load_preset(
    pool: &sqlx::PgPool,
    path: &std::path::Path,
    engine: &Engine,
) -> anyhow::Result<()> {
    store_and_activate(pool, path, engine, false).await
}

/// Stores the preset as `load_preset` does; with `only_if_none_active`,
/// leaves an installation with an active policy alone (checked under the
/// lock activations take, so an administrator's concurrent activation wins).
async fn store_and_activate(
    pool: &sqlx::PgPool,
    path: &std::path::Path,
    engine: &Engine,
    only_if_none_active: bool,
) -> anyhow::Result<()> {
    let text = presets::read(path)?;
    let parsed = domain::preset::parse(&text)
        .map_err(|e| anyhow::anyhow!("the tier preset {} is refused: {e}", path.display()))?;
    let id = &parsed.policy.id;
    let change = Change {
        actor: "preset",
        at: engine.clock.now(),
    };
    let mut tx = pool.begin().await?;
    store::lock_policy(&mut tx, id).await?;
    store::lock_activation(&mut tx).await?;
    if only_if_none_active && let Some(active) = store::active_policy(&mut tx).await? {
        tracing::info!(
            policy = %active.id,
            version = active.version,
            file = %path.display(),
            "the installation already has an active tier policy; the configured preset is left unapplied"
        );
        return Ok(());
    }
    let latest = store::policy(&mut tx, id, None).await?;
    let row = match latest {
        Some(row) if row.preset == text => row,
        _ => {
            let sections = serde_json::to_value(&parsed.other_sections)?;
            store::insert_policy(
                &mut tx,
                id,
                &parsed.policy.title,
                &parsed.source,
                &text,
                &sections,
                change,
            )
            .await?
        }
    };
    if !row.active {
        store::activate(&mut tx, &row, change).await?;
    }
    tx.commit().await?;
    tracing::info!(policy = %id, version = row.version, file = %path.display(), "tier preset loaded and active");
    Ok(())
}

/// The consumer group tiering reads in and its topics: profile's
/// (transactions, archives, directory) and complaint's (complaints and
/// surveys, for the churn early warning), as the contract lists them.
pub const READER: events::Reader = events::readers::TIERING;

/// How tiering reads its events ([`READER`]).
pub fn consumer_config(config: &TieringConfig) -> ConsumerConfig {
    ConsumerConfig::for_service(&config.common.events, READER, &config.consumer_name)
}

/// Applies tiering's dead letters again (`patron events replay-dead-letters
/// tiering`), once their cause is fixed.
pub async fn replay_dead_letters(
    config: &TieringConfig,
) -> anyhow::Result<events::dead_letters::Replayed> {
    let pool = db::connect(&config.common.db)?;
    let engine = Engine::new(config.common.clock.clone(), config.common.zone);
    let handler = profile_events::ProfileEvents::new(engine, config.common.zone);
    let done = events::dead_letters::replay(&pool, READER.group, &handler).await?;
    pool.close().await;
    Ok(done)
}
