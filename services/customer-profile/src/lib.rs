//! customer-profile: the store of record for customer archives (DOMAIN.md §1).
//! `serve` is what the `patron` binary calls; the rules are in `domain`, the
//! SQL in `store`, the wire mapping in `grpc`.

pub mod access;
pub mod domain;
pub mod grpc;
pub mod protection;
pub mod read_audit;
pub mod store;
pub mod transaction_writer;
pub mod validate;

use std::time::Duration;

use patron_kit::auth::AuthConfig;
use patron_kit::config::{self, ConfigError};
use patron_kit::crypto::KeyRing;
use patron_kit::db::{self, DbConfig};
use patron_kit::runtime::{Boot, CommonConfig};
use patron_kit::{ServiceError, descriptors};
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
    /// What every service has: address, database, cache, events, auth,
    /// zone, clock, health and relay pace.
    pub common: CommonConfig,
    /// Keys sealing sensitive fields and their blind indexes.
    pub keys: KeyRing,
    pub archive_prefix: String,
    /// How long an archive may go without review (003: a year).
    pub review_period: Duration,
    /// How many customers a manager carries unless their own limit says
    /// otherwise (000 3.2: three).
    pub manager_limit: u32,
}

impl ProfileConfig {
    /// From the environment (`PATRON_PROFILE_ADDR`, `PATRON_ARCHIVE_PREFIX`,
    /// and the kit's variables), with `auth` supplied by the caller.
    pub fn from_env(auth: AuthConfig, keys: KeyRing) -> Result<Self, ConfigError> {
        Ok(Self {
            common: CommonConfig::from_env(SCHEMA, "PATRON_PROFILE_ADDR", "127.0.0.1:50051", auth)?,
            keys,
            archive_prefix: config::env_or("PATRON_ARCHIVE_PREFIX", "A"),
            review_period: Duration::from_secs(
                24 * 3600 * config::env_parse::<u64>("PATRON_ARCHIVE_REVIEW_DAYS", 365)?,
            ),
            manager_limit: config::env_parse("PATRON_MANAGER_CUSTOMER_LIMIT", 3)?,
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
    let boot = Boot::migrate(&config.common, &MIGRATOR).await?;
    let protection = Protection::new(config.keys.clone());
    seal_legacy_rows(&boot.pool, &protection).await?;
    let runtime = boot.start(2, shutdown)?;
    let (pool, clock) = (&runtime.pool, &config.common.clock);
    let access = access::AccessControl::new(pool.clone());
    let api = grpc::CustomerApi {
        pool: pool.clone(),
        cache: runtime.cache.clone(),
        protection: protection.clone(),
        clock: clock.clone(),
        zone: config.common.zone,
        archive_prefix: config.archive_prefix.clone(),
        review_period: chrono::Duration::from_std(config.review_period)?,
        access: access.clone(),
        read_audit: read_audit::ReadAudit::start(pool.clone(), protection),
        manager_limit: config.manager_limit,
    };
    let transactions = grpc::transactions::TransactionApi {
        pool: pool.clone(),
        clock: clock.clone(),
        access: access.clone(),
        writer: patron_kit::group_commit::GroupCommit::start_many(
            pool.clone(),
            std::sync::Arc::new(transaction_writer::TransactionWriter),
            transaction_writer::MAX_GROUP,
            transaction_writer::WRITERS,
        ),
    };
    let audit = grpc::audit::AuditApi {
        pool: pool.clone(),
        access: access.clone(),
    };
    let consent = grpc::consent::ConsentApi {
        pool: pool.clone(),
        clock: clock.clone(),
        access: access.clone(),
    };
    let organisations = grpc::organisation::OrganizationApi {
        pool: pool.clone(),
        clock: clock.clone(),
        manager_limit: config.manager_limit,
        directory: access.directory.clone(),
    };
    let routes = Routes::new(runtime.guard(CustomerServiceServer::new(api)))
        .add_service(runtime.guard(TransactionServiceServer::new(transactions)))
        .add_service(runtime.guard(AuditServiceServer::new(audit)))
        .add_service(runtime.guard(ConsentServiceServer::new(consent)))
        .add_service(runtime.guard(OrganizationServiceServer::new(organisations)));
    runtime.serve(listener, routes, SERVICE_NAMES).await
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
