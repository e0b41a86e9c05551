//! One runtime for every service: the start-up and shut-down steps each
//! Patron service shares, built in one place and run until stopped.
//!
//! A service's `serve` reads:
//!
//! ```text
//! let boot = Boot::migrate(&config.common, &MIGRATOR).await?;   // pool, wait, migrate, outbox
//! // ... the service's own start-up work on `boot.pool` ...
//! let mut runtime = boot.start(2, shutdown);                     // cache, events pool, relay, metrics
//! // ... consumers (`runtime.consume`), background tasks (`runtime.spawned`),
//! //     pools (`runtime.owns`), due work measured (`runtime.measure_due`) ...
//! let routes = Routes::new(runtime.guard(MyServer::new(api)));   // behind the authenticator
//! runtime.serve(listener, routes, SERVICE_NAMES).await           // health, serve, join, close
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;

use crate::auth::{AuthConfig, Authenticator, Guarded};
use crate::cache::{Cache, CacheConfig};
use crate::clock::{SharedClock, SystemClock};
use crate::config::{self, ConfigError};
use crate::db::{self, DbConfig};
use crate::events::{ConsumerConfig, EventHandler};
use crate::metrics::{self, DueWork, Metrics, MetricsConfig};
use crate::{events, server};

/// The settings every service has: where it listens, its database, cache,
/// events and callers' tokens, the company's zone, its clock and the pace of
/// its health checks and event relay.
#[derive(Clone)]
pub struct CommonConfig {
    pub listen: SocketAddr,
    pub db: DbConfig,
    pub cache: CacheConfig,
    /// The events' Redis (may differ from the cache's) and retention.
    pub events: events::EventsConfig,
    pub auth: AuthConfig,
    pub zone: chrono_tz::Tz,
    pub health_interval: Duration,
    /// Pause of the event relay when the outbox is empty.
    pub relay_poll: Duration,
    pub clock: SharedClock,
    /// Where `/metrics` is served and how often states are read.
    pub metrics: MetricsConfig,
    /// How long in-flight calls may run on after a stop
    /// (`PATRON_SHUTDOWN_GRACE_SECS`); Kubernetes' terminationGracePeriodSeconds
    /// must cover it, the preStop pause and the relay's last round.
    pub shutdown_grace: Duration,
}

impl CommonConfig {
    /// From the environment: the address in `listen_var` (`default_listen`
    /// when unset), the database role and schema `schema`, and the kit's
    /// variables (`PATRON_HEALTH_INTERVAL_MS`, `PATRON_RELAY_POLL_MS`, ...).
    pub fn from_env(
        schema: &str,
        listen_var: &str,
        default_listen: &str,
        auth: AuthConfig,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            listen: config::env_addr(listen_var, default_listen)?,
            db: DbConfig::for_service(schema)?,
            cache: CacheConfig::from_env()?,
            events: events::EventsConfig::from_env()?,
            auth,
            zone: crate::clock::zone_from_env()?,
            health_interval: config::env_millis(
                "PATRON_HEALTH_INTERVAL_MS",
                Duration::from_secs(2),
            )?,
            relay_poll: config::env_millis("PATRON_RELAY_POLL_MS", Duration::from_millis(100))?,
            clock: Arc::new(SystemClock),
            metrics: MetricsConfig::from_env()?,
            shutdown_grace: config::env_secs(
                "PATRON_SHUTDOWN_GRACE_SECS",
                Duration::from_secs(15),
            )?,
        })
    }
}

/// A service's database, migrated and with the outbox installed: where the
/// service does its own start-up work before events flow.
pub struct Boot {
    pub config: CommonConfig,
    pub pool: PgPool,
}

impl Boot {
    /// Connects, waits for Postgres, applies `migrator` and installs the
    /// outbox tables.
    pub async fn migrate(
        config: &CommonConfig,
        migrator: &sqlx::migrate::Migrator,
    ) -> anyhow::Result<Self> {
        let pool = db::connect(&config.db)?;
        db::migrate(&pool, migrator).await?;
        events::install(&pool).await?;
        Ok(Self {
            config: config.clone(),
            pool,
        })
    }

    /// Makes the metrics, the cache and the events pool
    /// (`events_connections` of its own: a burst of requests never holds up
    /// events, nor the other way round) and starts the relay. The relay stops
    /// last, after the calls and consumers (see [`Runtime::serve`]), or when
    /// the runtime is dropped unserved.
    pub fn start(
        self,
        events_connections: u32,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Runtime> {
        let Self { config, pool } = self;
        let metrics = Metrics::new();
        let cache = Cache::measured(&config.cache, metrics.cache_outcomes());
        let events_pool = db::connect_background(&config.db, events_connections)?;
        let relay_stop = CancellationToken::new();
        let relay = events::spawn_measured_relay(
            events_pool.clone(),
            events::RelayConfig {
                redis_url: config.events.redis_url.clone(),
                stream_prefix: config.events.stream_prefix.clone(),
                batch_size: 500,
                idle_poll: config.relay_poll,
                retention: config.events.retention.clone(),
                readers: events::readers::ALL,
            },
            metrics.relay_counters(),
            relay_stop.clone(),
        );
        let authenticator = Authenticator::new(&config.auth);
        Ok(Runtime {
            config,
            pool,
            events_pool,
            cache,
            authenticator,
            metrics,
            shutdown,
            relay,
            relay_stop: relay_stop.drop_guard(),
            tasks: Vec::new(),
            pools: Vec::new(),
            due: Vec::new(),
        })
    }
}

/// A running service's shared parts, until [`Runtime::serve`] ends it.
pub struct Runtime {
    pub config: CommonConfig,
    /// The pool for requests.
    pub pool: PgPool,
    /// The pool the relay (and the service's consumers) use.
    pub events_pool: PgPool,
    pub cache: Cache,
    pub authenticator: Authenticator,
    /// The service's metrics, served at `/metrics`.
    pub metrics: Metrics,
    pub shutdown: CancellationToken,
    relay: JoinHandle<()>,
    /// Stops the relay; apart from `shutdown` so the relay's last round comes
    /// after every call and consumer that could still commit an event.
    relay_stop: tokio_util::sync::DropGuard,
    tasks: Vec<JoinHandle<()>>,
    pools: Vec<PgPool>,
    due: Vec<Arc<dyn DueWork>>,
}

/// The `pool` labels of the pools a service owns, in the order it hands
/// them over (services own one or two).
const OWNED_POOLS: &[&str] = &["background", "background_2", "background_3"];

impl Runtime {
    /// `service` behind the authenticator.
    pub fn guard<S>(&self, service: S) -> Guarded<S> {
        self.authenticator.guard(service)
    }

    /// A background task (a consumer, a sweep) that ends on shutdown and is
    /// waited for, in the order given, before the relay.
    pub fn spawned(&mut self, task: JoinHandle<()>) {
        self.tasks.push(task);
    }

    /// A pool of the service's own (background work), closed at the end.
    pub fn owns(&mut self, pool: PgPool) {
        self.pools.push(pool);
    }

    /// Runs a consumer of the service's events on the events pool until
    /// shutdown, counting its events' outcomes; waited for like
    /// [`Runtime::spawned`] tasks.
    pub fn consume<H: EventHandler>(&mut self, config: ConsumerConfig, handler: Arc<H>) {
        let outcomes = self.metrics.event_outcomes(&config.group);
        let task = events::spawn_measured_consumer(
            config,
            self.events_pool.clone(),
            handler,
            outcomes,
            self.shutdown.clone(),
        );
        self.tasks.push(task);
    }

    /// Has the backlog of a periodic job read with the other states
    /// (`patron_jobs_due_items`, `patron_jobs_oldest_due_age_seconds`).
    pub fn measure_due(&mut self, work: impl DueWork) {
        self.due.push(Arc::new(work));
    }

    /// Sets up health for `services`, serves `routes` on `listener` until
    /// shutdown, then stops in an order that loses nothing: readiness turns
    /// NOT_SERVING, the listener closes and in-flight calls finish (up to
    /// `shutdown_grace`), the background tasks and consumers end (a consumer
    /// finishes the batch it is applying and acknowledges only what it
    /// committed), and only then the relay publishes what all of them
    /// committed and stops; the pools close last.
    pub async fn serve(
        self,
        listener: TcpListener,
        routes: Routes,
        services: &[&str],
    ) -> anyhow::Result<()> {
        let metrics_endpoint = match self.config.metrics.listen {
            Some(addr) => Some(metrics::endpoint::spawn(
                metrics::endpoint::bind(addr).await?,
                self.metrics.clone(),
                self.shutdown.clone(),
            )),
            None => None,
        };
        let schema = self.config.db.schema.as_str();
        let mut pools = vec![
            ("requests", self.pool.clone()),
            ("events", self.events_pool.clone()),
        ];
        pools.extend(OWNED_POOLS.iter().copied().zip(self.pools.iter().cloned()));
        let refresher = metrics::refresh::spawn(
            self.metrics.clone(),
            metrics::refresh::Sources {
                pool: self.events_pool.clone(),
                pools,
                cache: self.cache.clone(),
                events_redis: events::relay_connection(&self.config.events.redis_url).ok(),
                stream_prefix: self.config.events.stream_prefix.clone(),
                reader: events::readers::ALL
                    .iter()
                    .find(|r| r.group == schema)
                    .copied(),
                due: self.due,
            },
            self.config.metrics.refresh,
            self.shutdown.clone(),
        );
        let (reporter, health) = tonic_health::server::health_reporter();
        let names: Vec<String> = services.iter().map(|s| s.to_string()).collect();
        server::initial_health(&reporter, &names).await;
        let monitor = server::spawn_health_monitor(
            reporter.clone(),
            names.clone(),
            self.pool.clone(),
            self.cache.clone(),
            self.config.health_interval,
            self.shutdown.clone(),
        );
        // Readiness first: the monitor can no longer mark it SERVING, it is
        // NOT_SERVING, and only then does the listener close.
        let stop = {
            let shutdown = self.shutdown.clone();
            let monitor = monitor.abort_handle();
            async move {
                shutdown.cancelled().await;
                monitor.abort();
                server::mark_stopping(&reporter, &names).await;
            }
        };
        let served = server::serve(
            listener,
            routes,
            health,
            services,
            &self.metrics,
            stop,
            self.config.shutdown_grace,
        )
        .await;
        monitor.abort();
        refresher.abort();
        if let Some(endpoint) = metrics_endpoint {
            let _ = endpoint.await;
        }
        for task in self.tasks {
            let _ = task.await;
        }
        drop(self.relay_stop);
        let _ = self.relay.await;
        for pool in self.pools.iter().rev() {
            pool.close().await;
        }
        self.events_pool.close().await;
        self.pool.close().await;
        served
    }
}
