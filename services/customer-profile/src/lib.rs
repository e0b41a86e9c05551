//! customer-profile: the store of record for customer archives (DOMAIN.md §1).
//! `serve` is what the `patron` binary calls; the rules are in `domain`, the
//! SQL in `store`, the wire mapping in `grpc`.

pub mod access;
pub mod domain;
pub mod grpc;
pub mod protection;
pub mod store;
pub mod validate;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use patron_kit::auth::{AuthConfig, Authenticator};
use patron_kit::cache::{Cache, CacheConfig};
use patron_kit::clock::{SharedClock, SystemClock};
use patron_kit::config::{self, ConfigError};
use patron_kit::crypto::KeyRing;
use patron_kit::db::{self, DbConfig};
use patron_kit::{ServiceError, descriptors, events, server};
use patron_proto::profile::v1::audit_service_server::AuditServiceServer;
use patron_proto::profile::v1::consent_service_server::ConsentServiceServer;
use patron_proto::profile::v1::customer_service_server::CustomerServiceServer;
use patron_proto::profile::v1::organization_service_server::OrganizationServiceServer;
use patron_proto::profile::v1::transaction_service_server::TransactionServiceServer;
use protection::Protection;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;

/// The schema (and role `patron_profile`) this service owns.
pub const SCHEMA: &str = "profile";

/// The gRPC service names this service answers for, as health reports them.
pub const SERVICE_NAMES: &[&str] = &[
    "patron.profile.v1.CustomerService",
    "patron.profile.v1.TransactionService",
    "patron.profile.v1.AuditService",
    "patron.profile.v1.ConsentService",
    "patron.profile.v1.OrganizationService",
];

/// This service's migrations, compiled in.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Everything the service needs to run.
#[derive(Clone)]
pub struct ProfileConfig {
    pub listen: SocketAddr,
    pub db: DbConfig,
    pub cache: CacheConfig,
    /// The events' Redis (may differ from the cache's) and retention.
    pub events: events::EventsConfig,
    pub auth: AuthConfig,
    /// Keys sealing sensitive fields and their blind indexes.
    pub keys: KeyRing,
    pub zone: chrono_tz::Tz,
    pub archive_prefix: String,
    /// How long an archive may go without review (003: a year).
    pub review_period: Duration,
    pub health_interval: Duration,
    /// Pause of the event relay when the outbox is empty.
    pub relay_poll: Duration,
    /// How many customers a manager carries unless their own limit says
    /// otherwise (000 3.2: three).
    pub manager_limit: u32,
    pub clock: SharedClock,
}

impl ProfileConfig {
    /// From the environment (`PATRON_PROFILE_ADDR`, `PATRON_ARCHIVE_PREFIX`,
    /// and the kit's variables), with `auth` supplied by the caller.
    pub fn from_env(auth: AuthConfig, keys: KeyRing) -> Result<Self, ConfigError> {
        Ok(Self {
            listen: config::env_addr("PATRON_PROFILE_ADDR", "127.0.0.1:50051")?,
            db: DbConfig::for_service(SCHEMA)?,
            cache: CacheConfig::from_env()?,
            events: events::EventsConfig::from_env()?,
            auth,
            keys,
            zone: patron_kit::clock::zone_from_env()?,
            archive_prefix: config::env_or("PATRON_ARCHIVE_PREFIX", "A"),
            review_period: Duration::from_secs(
                24 * 3600 * config::env_parse::<u64>("PATRON_ARCHIVE_REVIEW_DAYS", 365)?,
            ),
            health_interval: config::env_millis(
                "PATRON_HEALTH_INTERVAL_MS",
                Duration::from_secs(2),
            )?,
            relay_poll: config::env_millis("PATRON_RELAY_POLL_MS", Duration::from_millis(100))?,
            manager_limit: config::env_parse("PATRON_MANAGER_CUSTOMER_LIMIT", 3)?,
            clock: Arc::new(SystemClock),
        })
    }
}

/// Applies the migrations (what `patron migrate profile` runs).
pub async fn migrate(config: &DbConfig) -> anyhow::Result<()> {
    db::migrate_once(config, &MIGRATOR).await
}

/// Migrates, then serves on `listener` until `shutdown` is cancelled.
pub async fn serve(
    config: ProfileConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let pool = db::connect(&config.db)?;
    db::migrate(&pool, &MIGRATOR).await?;
    events::install(&pool).await?;
    let protection = Protection::new(config.keys.clone());
    seal_legacy_rows(&pool, &protection).await?;
    let cache = Cache::new(&config.cache);
    // The relay has connections of its own: a burst of requests never holds
    // up events, nor the other way round.
    let events_pool = db::connect_background(&config.db, 2)?;
    let relay = events::spawn_relay(
        events_pool.clone(),
        events::RelayConfig {
            redis_url: config.events.redis_url.clone(),
            stream_prefix: config.events.stream_prefix.clone(),
            batch_size: 500,
            idle_poll: config.relay_poll,
            retention: config.events.retention.clone(),
        },
        shutdown.clone(),
    );

    let (reporter, health) = tonic_health::server::health_reporter();
    let names: Vec<String> = SERVICE_NAMES.iter().map(|s| s.to_string()).collect();
    server::initial_health(&reporter, &names).await;
    let monitor = server::spawn_health_monitor(
        reporter,
        names,
        pool.clone(),
        cache.clone(),
        config.health_interval,
        shutdown.clone(),
    );

    let access = access::AccessControl { pool: pool.clone() };
    let api = grpc::CustomerApi {
        pool: pool.clone(),
        cache,
        protection,
        clock: config.clock.clone(),
        zone: config.zone,
        archive_prefix: config.archive_prefix.clone(),
        review_period: chrono::Duration::from_std(config.review_period)?,
        access: access.clone(),
        manager_limit: config.manager_limit,
    };
    let authenticator = Authenticator::new(&config.auth);
    let transactions = grpc::transactions::TransactionApi {
        pool: pool.clone(),
        clock: config.clock.clone(),
        access: access.clone(),
    };
    let routes = Routes::new(authenticator.guard(CustomerServiceServer::new(api)))
        .add_service(authenticator.guard(TransactionServiceServer::new(transactions)))
        .add_service(
            authenticator.guard(AuditServiceServer::new(grpc::audit::AuditApi {
                pool: pool.clone(),
                access: access.clone(),
            })),
        )
        .add_service(
            authenticator.guard(ConsentServiceServer::new(grpc::consent::ConsentApi {
                pool: pool.clone(),
                clock: config.clock.clone(),
                access,
            })),
        )
        .add_service(authenticator.guard(OrganizationServiceServer::new(
            grpc::organisation::OrganizationApi {
                pool: pool.clone(),
                clock: config.clock.clone(),
                manager_limit: config.manager_limit,
            },
        )));
    let served = server::serve(listener, routes, health, SERVICE_NAMES, shutdown).await;
    monitor.abort();
    // The relay drains what committed before the stop, then ends.
    let _ = relay.await;
    events_pool.close().await;
    pool.close().await;
    served
}

/// Seals the sensitive fields of archives written before sealing existed
/// (migration 0003), moving them out of the readable JSON. Replicas starting
/// together share the work through SKIP LOCKED.
pub async fn seal_legacy_rows(
    pool: &sqlx::PgPool,
    protection: &Protection,
) -> Result<u64, ServiceError> {
    let mut sealed_rows = 0;
    loop {
        let mut tx = pool.begin().await?;
        let rows = store::lock_unsealed(&mut tx, 200).await?;
        if rows.is_empty() {
            tx.commit().await?;
            break;
        }
        for row in &rows {
            let stored: patron_proto::profile::v1::Customer = descriptors::from_json(&row.profile)?;
            let (public, sensitive) = Protection::split(&stored);
            let (phones, id_card) = Protection::index_keys_of(&sensitive);
            let sealed = protection.seal(row.id, &sensitive, &phones, id_card.as_ref());
            store::store_sealed(&mut tx, row.id, &descriptors::to_json(&public)?, &sealed).await?;
        }
        tx.commit().await?;
        sealed_rows += rows.len() as u64;
    }
    if sealed_rows > 0 {
        tracing::info!(
            rows = sealed_rows,
            "sealed the sensitive fields of archives written before encryption"
        );
    }
    Ok(sealed_rows)
}
