//! The one list of what `patron` runs: `up`, `serve`, `migrate`,
//! `provision` and `events` iterate [`SERVICES`], so adding a service is one
//! entry.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;

use patron_complaint as complaint;
use patron_customer_profile as profile;
use patron_gateway as gateway;
use patron_kit::auth::AuthConfig;
use patron_kit::events::dead_letters;
use patron_kit::metrics::MetricsConfig;
use patron_scheduling as scheduling;
use patron_tiering as tiering;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::secrets;

/// A service started (or to be started) until its shutdown token is cancelled.
pub type Running = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

/// How `patron` runs the service.
pub struct Service {
    /// Its name on the command line (`patron serve NAME`) and as the
    /// gateway's upstream.
    pub name: &'static str,
    /// Its name in logs and traces when it runs alone.
    pub process: &'static str,
    /// Its database schema and migrations, for stateful services.
    pub schema: Option<(&'static str, &'static sqlx::migrate::Migrator)>,
    /// Its configuration from the environment.
    pub configure: fn(&Context) -> anyhow::Result<Configured>,
    /// For a service that consumes events: how its dead letters are applied
    /// again (`patron events replay-dead-letters NAME`).
    pub replay_dead_letters: Option<ReplayDeadLetters>,
}

/// Applies a consuming service's dead letters again, configured from the
/// environment with the given token settings.
pub type ReplayDeadLetters =
    fn(AuthConfig) -> Pin<Box<dyn Future<Output = anyhow::Result<dead_letters::Replayed>> + Send>>;

impl Service {
    /// Its name in operators' messages: the process name without the suite's
    /// prefix (`customer-profile`).
    pub fn title(&self) -> &'static str {
        self.process.strip_prefix("patron-").unwrap_or(self.process)
    }
}

/// What configuring a service may depend on.
pub struct Context {
    pub auth: AuthConfig,
    /// Set by `patron up`: everything runs in this process.
    pub up: bool,
    /// The addresses of the services configured before this one.
    pub upstreams: BTreeMap<&'static str, SocketAddr>,
}

impl Context {
    /// Under `patron up` the services share one process, so each serves its
    /// metrics on the configured port plus `offset` (profile 9464, tiering
    /// 9465, complaint 9466, scheduling 9467, the gateway 9468 by default).
    fn own_metrics_port(&self, metrics: &mut MetricsConfig, offset: u16) {
        if let (true, Some(addr)) = (self.up, metrics.listen.as_mut()) {
            addr.set_port(addr.port().saturating_add(offset));
        }
    }

    /// What `patron up` gives a service that reads a preset and calls
    /// customer-profile, where the environment does not say: the default
    /// preset, and the profile this process runs.
    fn in_one_process(&self, preset: &mut Option<PathBuf>, profile_url: &mut String) {
        if !self.up {
            return;
        }
        if preset.is_none() {
            *preset = Some(default_preset());
        }
        if std::env::var_os("PATRON_PROFILE_URL").is_none()
            && let Some(profile) = self.upstreams.get("profile")
        {
            *profile_url = format!("http://{profile}");
        }
    }
}

/// A configured service, ready to run on a listener.
pub struct Configured {
    pub listen: SocketAddr,
    /// How `patron up` describes it.
    pub describe: String,
    pub serve: Box<dyn FnOnce(TcpListener, CancellationToken) -> Running + Send>,
}

/// Every service, the gateway last (it needs the others' addresses).
pub const SERVICES: &[Service] = &[
    Service {
        name: "profile",
        process: "patron-customer-profile",
        schema: Some((profile::SCHEMA, &profile::MIGRATOR)),
        configure: |cx| {
            let mut config =
                profile::ProfileConfig::from_env(cx.auth.clone(), secrets::key_ring()?)?;
            cx.own_metrics_port(&mut config.common.metrics, 0);
            let listen = config.common.listen;
            Ok(Configured {
                listen,
                describe: format!("customer-profile gRPC {listen}"),
                serve: Box::new(move |l, s| Box::pin(profile::serve(config, l, s))),
            })
        },
        replay_dead_letters: None,
    },
    Service {
        name: "tiering",
        process: "patron-tiering",
        schema: Some((tiering::SCHEMA, &tiering::MIGRATOR)),
        configure: |cx| {
            let mut config = tiering::TieringConfig::from_env(cx.auth.clone())?;
            if cx.up && config.preset.is_none() {
                config.preset = Some(default_preset());
            }
            cx.own_metrics_port(&mut config.common.metrics, 1);
            let listen = config.common.listen;
            let preset = (config.preset.as_deref())
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            Ok(Configured {
                listen,
                describe: format!("tiering gRPC {listen} (preset {preset})"),
                serve: Box::new(move |l, s| Box::pin(tiering::serve(config, l, s))),
            })
        },
        replay_dead_letters: Some(|auth| {
            Box::pin(async move {
                let config = tiering::TieringConfig::from_env(auth)?;
                tiering::replay_dead_letters(&config).await
            })
        }),
    },
    Service {
        name: "complaint",
        process: "patron-complaint",
        schema: Some((complaint::SCHEMA, &complaint::MIGRATOR)),
        configure: |cx| {
            let mut config = complaint::ComplaintConfig::from_env(cx.auth.clone())?;
            cx.in_one_process(&mut config.preset, &mut config.profile.url);
            cx.own_metrics_port(&mut config.common.metrics, 2);
            let listen = config.common.listen;
            Ok(Configured {
                listen,
                describe: format!("complaint gRPC {listen}"),
                serve: Box::new(move |l, s| Box::pin(complaint::serve(config, l, s))),
            })
        },
        replay_dead_letters: Some(|auth| {
            Box::pin(async move {
                let config = complaint::ComplaintConfig::from_env(auth)?;
                complaint::replay_dead_letters(&config).await
            })
        }),
    },
    Service {
        name: "scheduling",
        process: "patron-scheduling",
        schema: Some((scheduling::SCHEMA, &scheduling::MIGRATOR)),
        configure: |cx| {
            let mut config = scheduling::SchedulingConfig::from_env(cx.auth.clone())?;
            cx.in_one_process(&mut config.preset, &mut config.profile.url);
            cx.own_metrics_port(&mut config.common.metrics, 3);
            let listen = config.common.listen;
            Ok(Configured {
                listen,
                describe: format!("scheduling gRPC {listen}"),
                serve: Box::new(move |l, s| Box::pin(scheduling::serve(config, l, s))),
            })
        },
        replay_dead_letters: Some(|auth| {
            Box::pin(async move {
                let config = scheduling::SchedulingConfig::from_env(auth)?;
                scheduling::replay_dead_letters(&config).await
            })
        }),
    },
    Service {
        name: "gateway",
        process: "patron-gateway",
        schema: None,
        configure: |cx| {
            let mut config = gateway::GatewayConfig::from_env(cx.auth.clone())?;
            cx.own_metrics_port(&mut config.metrics, 4);
            for (name, addr) in &cx.upstreams {
                config
                    .upstreams
                    .entry((*name).into())
                    .or_insert_with(|| format!("http://{addr}"));
            }
            let listen = config.listen;
            Ok(Configured {
                listen,
                describe: format!("gateway http://{listen} (OpenAPI at /openapi.json)"),
                serve: Box::new(move |l, s| Box::pin(gateway::serve(config, l, s))),
            })
        },
        replay_dead_letters: None,
    },
];

/// The service called `name` on the command line.
pub fn named(name: &str) -> anyhow::Result<&'static Service> {
    SERVICES
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| anyhow::anyhow!("no service is called {name:?}"))
}

/// The names `patron serve` and `patron migrate` accept.
pub fn names() -> Vec<&'static str> {
    SERVICES.iter().map(|s| s.name).collect()
}

/// The names `patron events` accepts: the services with a database, and so
/// an outbox.
pub fn names_with_events() -> Vec<&'static str> {
    SERVICES
        .iter()
        .filter(|s| s.schema.is_some())
        .map(|s| s.name)
        .collect()
}

/// The preset `patron up` runs with when `PATRON_TIER_PRESET` is not set.
fn default_preset() -> PathBuf {
    PathBuf::from("health-chain")
}
