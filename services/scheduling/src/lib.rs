//! scheduling: who is contacted, by whom and when (DOMAIN.md §4).
//! `serve` is what the `patron` binary calls; the rules are in `domain`,
//! the use cases in `scheduling`, the SQL in `store`, the wire in `grpc`.
//! Runs as many replicas as load needs: they share only PostgreSQL (claims
//! of customers to plan, of leaves to hand back) and Redis (events).

pub mod activities;
pub mod calendar_feeds;
pub mod care;
pub mod domain;
pub mod escalation;
pub mod generation_job;
pub mod grpc;
pub mod incoming;
pub mod policy_source;
pub mod profile;
pub mod role_holders;
pub mod scheduling;
pub mod store;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use patron_kit::auth::AuthConfig;
use patron_kit::config::{self, ConfigError};
use patron_kit::db::{self, DbConfig};
use patron_kit::directory;
use patron_kit::events::{self, ConsumerConfig};
use patron_kit::runtime::{Boot, CommonConfig};
use patron_proto::scheduling::v1::calendar_feed_service_server::CalendarFeedServiceServer;
use patron_proto::scheduling::v1::scheduling_service_server::SchedulingServiceServer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;

/// The schema (and role `patron_scheduling`) this service owns.
pub const SCHEMA: &str = "scheduling";

/// The gRPC service names this service answers for.
pub const SERVICE_NAMES: &[&str] = &[
    "patron.scheduling.v1.SchedulingService",
    "patron.scheduling.v1.CalendarFeedService",
];

/// This service's migrations, compiled in.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Everything the service needs to run.
#[derive(Clone)]
pub struct SchedulingConfig {
    /// What every service has: address, database, cache, events, auth,
    /// zone, clock, health and relay pace.
    pub common: CommonConfig,
    /// The preset whose `[scheduling]` section applies until tiering
    /// announces an active policy (the same setting tiering seeds from).
    pub preset: Option<PathBuf>,
    /// This process's name in the consumer group (the pod name in a cluster).
    pub consumer_name: String,
    /// How often the generation job looks for customers to plan.
    pub generation_poll: Duration,
    /// Where customer-profile answers (contact permissions).
    pub profile: profile::ProfileConfig,
    /// The gateway's address as staff reach it (`PATRON_PUBLIC_URL`):
    /// calendar feed URLs are made under it.
    pub public_url: String,
}

impl SchedulingConfig {
    /// From the environment (`PATRON_SCHEDULING_ADDR`, `PATRON_TIER_PRESET`,
    /// `PATRON_PROFILE_URL`, `HOSTNAME`, `PATRON_GENERATION_POLL_MS`,
    /// `PATRON_PUBLIC_URL`, and the kit's variables).
    pub fn from_env(auth: AuthConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            common: CommonConfig::from_env(
                SCHEMA,
                "PATRON_SCHEDULING_ADDR",
                "127.0.0.1:50054",
                auth,
            )?,
            preset: std::env::var_os("PATRON_TIER_PRESET").map(PathBuf::from),
            consumer_name: config::env_or("HOSTNAME", "scheduling-1"),
            generation_poll: config::env_millis(
                "PATRON_GENERATION_POLL_MS",
                Duration::from_secs(30),
            )?,
            profile: profile::ProfileConfig::from_env()?,
            public_url: config::env_or("PATRON_PUBLIC_URL", "http://127.0.0.1:8080"),
        })
    }
}

/// Applies the migrations (what `patron migrate scheduling` runs).
pub async fn migrate(config: &DbConfig) -> anyhow::Result<()> {
    db::migrate_once(config, &MIGRATOR).await
}

/// How the scheduling service reads the others' events.
pub fn consumer_config(config: &SchedulingConfig) -> ConsumerConfig {
    ConsumerConfig::for_service(
        &config.common.events,
        incoming::READER,
        &config.consumer_name,
    )
}

/// The configured preset's text, when there is one.
fn configured_preset(config: &SchedulingConfig) -> anyhow::Result<Option<String>> {
    config
        .preset
        .as_ref()
        .map(|path| patron_presets::read(path).map_err(anyhow::Error::from))
        .transpose()
}

/// How the consumer reacts to events (it needs the clock for "today").
fn incoming_events(
    config: &SchedulingConfig,
    reach: &directory::ReachCache,
) -> incoming::IncomingEvents {
    incoming::IncomingEvents {
        clock: config.common.clock.clone(),
        zone: config.common.zone,
        reach: reach.clone(),
    }
}

/// Migrates, then serves on `listener`, consumes the others' events and
/// runs the generation job until `shutdown` is cancelled.
pub async fn serve(
    config: SchedulingConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let configured = configured_preset(&config)?;
    let boot = Boot::migrate(&config.common, &MIGRATOR).await?;
    patron_kit::directory::install(&boot.pool).await?;
    let mut runtime = boot.start(3, shutdown.clone())?;
    let clock = config.common.clock.clone();
    let zone = config.common.zone;
    let policies = policy_source::policies(runtime.pool.clone(), configured.as_deref())
        .map_err(|e| anyhow::anyhow!("the configured preset is refused: {e}"))?;
    let reach = directory::ReachCache::default();
    runtime.consume(
        consumer_config(&config),
        Arc::new(incoming_events(&config, &reach)),
    );
    runtime.measure_due(generation_job::GenerationBacklog {
        policies: policies.clone(),
        clock: clock.clone(),
        zone,
    });
    runtime.measure_due(generation_job::OverdueNoticeBacklog {
        clock: clock.clone(),
        zone,
    });
    let background = db::connect_background(&config.common.db, 2)?;
    let generation = generation_job::spawn(
        background.clone(),
        policies.clone(),
        clock.clone(),
        zone,
        config.generation_poll,
        shutdown,
    );
    runtime.spawned(generation);
    runtime.owns(background);
    let scheduling = scheduling::Scheduling {
        pool: runtime.pool.clone(),
        clock,
        zone,
        policies,
        profile: profile::Profile::new(&config.profile, &config.common.auth)?,
        reach,
    };
    // The feed service is not guarded: a calendar application polls the
    // feed with no token, and the secret it presents is checked instead.
    let feeds = CalendarFeedServiceServer::new(grpc::feeds::CalendarFeedApi {
        scheduling: scheduling.clone(),
    });
    let routes = Routes::new(
        runtime.guard(SchedulingServiceServer::new(grpc::SchedulingApi {
            scheduling,
            public_url: config.public_url.clone(),
        })),
    )
    .add_service(feeds);
    runtime.serve(listener, routes, SERVICE_NAMES).await
}

/// Applies the scheduling service's dead letters again, once their cause is
/// fixed.
pub async fn replay_dead_letters(
    config: &SchedulingConfig,
) -> anyhow::Result<events::dead_letters::Replayed> {
    let pool = db::connect(&config.common.db)?;
    let done = events::dead_letters::replay(
        &pool,
        incoming::READER.group,
        &incoming_events(config, &directory::ReachCache::default()),
    )
    .await?;
    pool.close().await;
    Ok(done)
}
