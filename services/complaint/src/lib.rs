//! complaint: customers' complaints from intake to sign-off (DOMAIN.md §3).
//! `serve` is what the `patron` binary calls; the rules are in `domain`,
//! the use cases in `complaints`, the SQL in `store`, the wire in `grpc`.
//! Runs as many replicas as load needs: they share only PostgreSQL (serials,
//! claims of deadline alarms) and Redis (events).

pub mod complaints;
pub mod customers;
pub mod deadline_job;
pub mod domain;
pub mod grpc;
pub mod incoming;
pub mod intake_writer;
pub mod policy_source;
pub mod store;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use patron_kit::auth::AuthConfig;
use patron_kit::config::{self, ConfigError};
use patron_kit::db::{self, DbConfig};
use patron_kit::events::{self, ConsumerConfig};
use patron_kit::group_commit::GroupCommit;
use patron_kit::runtime::{Boot, CommonConfig};
use patron_proto::complaint::v1::complaint_service_server::ComplaintServiceServer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;

/// The schema (and role `patron_complaint`) this service owns.
pub const SCHEMA: &str = "complaint";

/// The gRPC service names this service answers for.
/// Intakes numbered and committed together at most, by default: few enough
/// that a group failing and applied again one by one stays quick.
pub const INTAKE_GROUP: usize = 64;

pub const SERVICE_NAMES: &[&str] = &["patron.complaint.v1.ComplaintService"];

/// This service's migrations, compiled in.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Everything the service needs to run.
#[derive(Clone)]
pub struct ComplaintConfig {
    /// What every service has: address, database, cache, events, auth,
    /// zone, clock, health and relay pace.
    pub common: CommonConfig,
    /// The preset whose `[complaint]` section applies until tiering
    /// announces an active policy (the same setting tiering seeds from).
    pub preset: Option<PathBuf>,
    /// This process's name in the consumer group (the pod name in a cluster).
    pub consumer_name: String,
    /// How often the deadline job looks for alarms.
    pub deadline_poll: Duration,
    /// Where customer-profile answers, for customers not yet heard of.
    pub profile: customers::ProfileConfig,
    /// Intakes numbered and committed together at most: enough to take
    /// what queues behind one commit under load; 1 numbers each intake in a
    /// transaction of its own.
    pub intake_group: usize,
}

impl ComplaintConfig {
    /// From the environment (`PATRON_COMPLAINT_ADDR`, `PATRON_TIER_PRESET`,
    /// `PATRON_PROFILE_URL`, `HOSTNAME`, `PATRON_DEADLINE_POLL_MS`,
    /// `PATRON_COMPLAINT_INTAKE_GROUP`, and the kit's variables).
    pub fn from_env(auth: AuthConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            common: CommonConfig::from_env(
                SCHEMA,
                "PATRON_COMPLAINT_ADDR",
                "127.0.0.1:50053",
                auth,
            )?,
            preset: std::env::var_os("PATRON_TIER_PRESET").map(PathBuf::from),
            consumer_name: config::env_or("HOSTNAME", "complaint-1"),
            deadline_poll: config::env_millis("PATRON_DEADLINE_POLL_MS", Duration::from_secs(5))?,
            profile: customers::ProfileConfig::from_env()?,
            intake_group: config::env_parse("PATRON_COMPLAINT_INTAKE_GROUP", INTAKE_GROUP)?,
        })
    }
}

/// Applies the migrations (what `patron migrate complaint` runs).
pub async fn migrate(config: &DbConfig) -> anyhow::Result<()> {
    db::migrate_once(config, &MIGRATOR).await
}

/// How the complaint service reads the others' events.
pub fn consumer_config(config: &ComplaintConfig) -> ConsumerConfig {
    ConsumerConfig::for_service(
        &config.common.events,
        incoming::READER,
        &config.consumer_name,
    )
}

/// The configured preset's text, when there is one.
fn configured_preset(config: &ComplaintConfig) -> anyhow::Result<Option<String>> {
    config
        .preset
        .as_ref()
        .map(|path| patron_presets::read(path).map_err(anyhow::Error::from))
        .transpose()
}

/// Migrates, then serves on `listener`, consumes the others' events and
/// runs the deadline job until `shutdown` is cancelled.
pub async fn serve(
    config: ComplaintConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let configured = configured_preset(&config)?;
    let boot = Boot::migrate(&config.common, &MIGRATOR).await?;
    patron_kit::directory::install(&boot.pool).await?;
    let mut runtime = boot.start(3, shutdown.clone())?;
    let clock = config.common.clock.clone();
    let policies = policy_source::policies(
        runtime.pool.clone(),
        config.common.zone,
        configured.as_deref(),
    )
    .map_err(|e| anyhow::anyhow!("the configured preset is refused: {e}"))?;
    let reach = patron_kit::directory::ReachCache::default();
    let projected = customers::ProjectedCustomers::default();
    runtime.consume(
        consumer_config(&config),
        Arc::new(incoming::IncomingEvents {
            reach: reach.clone(),
            customers: projected.clone(),
        }),
    );
    runtime.measure_due(deadline_job::DeadlineBacklog {
        clock: clock.clone(),
    });
    let background = db::connect_background(&config.common.db, 2)?;
    let deadlines = deadline_job::spawn(
        background.clone(),
        policies.clone(),
        clock.clone(),
        config.deadline_poll,
        shutdown,
    );
    runtime.spawned(deadlines);
    runtime.owns(background);
    let complaints = complaints::Complaints {
        pool: runtime.pool.clone(),
        clock,
        zone: config.common.zone,
        policies,
        customers: customers::Customers::new(
            runtime.pool.clone(),
            &config.profile,
            &config.common.auth,
            projected,
        )?,
        intakes: GroupCommit::start(
            runtime.pool.clone(),
            Arc::new(intake_writer::IntakeWriter {
                zone: config.common.zone,
            }),
            config.intake_group,
        ),
        reach,
    };
    let routes = Routes::new(
        runtime.guard(ComplaintServiceServer::new(grpc::ComplaintApi {
            complaints,
        })),
    );
    runtime.serve(listener, routes, SERVICE_NAMES).await
}

/// Applies the complaint service's dead letters again, once their cause is
/// fixed.
pub async fn replay_dead_letters(
    config: &ComplaintConfig,
) -> anyhow::Result<events::dead_letters::Replayed> {
    let pool = db::connect(&config.common.db)?;
    let done = events::dead_letters::replay(
        &pool,
        incoming::READER.group,
        &incoming::IncomingEvents::default(),
    )
    .await?;
    pool.close().await;
    Ok(done)
}
