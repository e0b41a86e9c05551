//! The sub-commands: `up`, `serve`, `migrate`, `provision`, `token`, `import`
//! and `events`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use patron::import;
use patron_customer_profile as profile;
use patron_gateway as gateway;
use patron_kit::auth::{AuthConfig, Authenticator};
use patron_kit::{config, db, server, telemetry};
use patron_tiering as tiering;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::secrets;

#[derive(Parser)]
#[command(
    name = "patron",
    version,
    about = "VIP and key-account customer management"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every service and the gateway in this process, each on its own port.
    Up,
    /// Run one service (as one pod in a cluster would).
    Serve { service: Service },
    /// Apply one service's database migrations, then exit.
    Migrate { service: Service },
    /// Create the database, each service's role and schema (needs an administrator URL).
    Provision {
        /// An administrator connection (superuser or CREATEDB + CREATEROLE).
        #[arg(
            long,
            env = "PATRON_ADMIN_DATABASE_URL",
            default_value = "postgres://postgres@127.0.0.1:5432/postgres"
        )]
        admin_url: String,
    },
    /// Mint a bearer token for trying the API locally.
    Token {
        /// The staff member the token speaks for.
        #[arg(long, default_value = "local-admin")]
        subject: String,
        /// Roles to grant (repeat for several): admin, supervisor, account_manager, customer_service, auditor, viewer.
        #[arg(long = "role", default_value = "admin")]
        roles: Vec<String>,
        /// Lifetime in minutes.
        #[arg(long, default_value_t = 480)]
        ttl_minutes: u64,
    },
    /// Look after a service's events: status, replays, dead letters.
    Events {
        #[command(subcommand)]
        action: crate::events_admin::EventsAction,
    },
    /// Load customers or transactions from a CSV file or an Excel workbook
    /// through the customer-profile API. Rejected rows are listed (row,
    /// column, reason) in a report beside the file; re-running a file
    /// changes nothing already in.
    Import {
        kind: ImportKind,
        /// A .csv file or an .xlsx workbook; the header row names the fields.
        file: PathBuf,
        /// The workbook sheet (the first when not given).
        #[arg(long)]
        sheet: Option<String>,
        /// Where to write the problems; default: FILE.errors.csv.
        #[arg(long)]
        report: Option<PathBuf>,
        /// The customer-profile service.
        #[arg(
            long,
            env = "PATRON_PROFILE_URL",
            default_value = "http://127.0.0.1:50051"
        )]
        target: String,
        /// A bearer token; by default one is minted for `patron-import` as admin
        /// with the local signing secret.
        #[arg(long, env = "PATRON_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// The currency of amounts written without one.
        #[arg(long, default_value = "CNY")]
        currency: String,
    },
}

/// What an import file holds.
#[derive(Clone, Copy, ValueEnum)]
enum ImportKind {
    Customers,
    Transactions,
}

#[derive(Clone, Copy, ValueEnum)]
enum Service {
    Profile,
    Tiering,
    Gateway,
}

/// Schemas of the services built so far.
const SCHEMAS: &[&str] = &[profile::SCHEMA, tiering::SCHEMA];

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Events { action } => crate::events_admin::run(action).await,
        Command::Import {
            kind,
            file,
            sheet,
            report,
            target,
            token,
            currency,
        } => {
            let token = match token {
                Some(token) => token,
                None => Authenticator::new(&AuthConfig::shared_from_env(secrets::jwt_secret()?)?)
                    .mint(
                        "patron-import",
                        &["admin".to_owned()],
                        chrono::Utc::now(),
                        Duration::from_secs(12 * 3600),
                    ),
            };
            let channel = tonic::transport::Endpoint::from_shared(target.clone())
                .with_context(|| format!("{target:?} is not a URL"))?
                .connect()
                .await
                .with_context(|| format!("connecting to customer-profile at {target}"))?;
            let options = import::Options {
                sheet,
                defaults: import::CellDefaults {
                    currency,
                    zone: patron_kit::clock::zone_from_env()?,
                },
                progress: std::io::stderr().is_terminal(),
            };
            let dataset = match kind {
                ImportKind::Customers => import::Dataset::Customers,
                ImportKind::Transactions => import::Dataset::Transactions,
            };
            let target = import::Target {
                channel,
                authorization: format!("Bearer {token}"),
                clock: std::sync::Arc::new(patron_kit::clock::SystemClock),
            };
            let outcome = import::run(dataset, &file, &target, &options).await?;
            println!("{}", outcome.summary());
            if outcome.problems.is_empty() {
                return Ok(());
            }
            let report = report.unwrap_or_else(|| {
                let mut name = file.clone().into_os_string();
                name.push(".errors.csv");
                PathBuf::from(name)
            });
            import::write_problems(&report, &outcome.problems)?;
            for p in outcome.problems.iter().take(10) {
                println!(
                    "  row {}, {}: {}",
                    p.row,
                    if p.column.is_empty() {
                        "(row)"
                    } else {
                        &p.column
                    },
                    p.reason
                );
            }
            // An expected outcome, not a fault: say it plainly and fail the
            // command so scripts notice.
            eprintln!(
                "{} rows were not imported; every problem is in {}",
                outcome.rejected,
                report.display()
            );
            std::process::exit(1)
        }
        Command::Token {
            subject,
            roles,
            ttl_minutes,
        } => {
            let auth = Authenticator::new(&AuthConfig::shared_from_env(secrets::jwt_secret()?)?);
            println!(
                "{}",
                auth.mint(
                    &subject,
                    &roles,
                    chrono::Utc::now(),
                    Duration::from_secs(ttl_minutes * 60)
                )
            );
            Ok(())
        }
        Command::Provision { admin_url } => {
            let _telemetry = telemetry::init("patron")?;
            let database = database_name()?;
            db::provision(&admin_url, &database, SCHEMAS).await?;
            tracing::info!(%database, schemas = ?SCHEMAS, "database, roles and schemas are in place");
            Ok(())
        }
        Command::Migrate { service } => {
            let _telemetry = telemetry::init("patron")?;
            match service {
                Service::Profile => {
                    profile::migrate(&db::DbConfig::for_service(profile::SCHEMA)?).await?
                }
                Service::Tiering => {
                    tiering::migrate(&db::DbConfig::for_service(tiering::SCHEMA)?).await?
                }
                Service::Gateway => {
                    tracing::info!("the gateway keeps no state; nothing to migrate")
                }
            }
            Ok(())
        }
        Command::Serve { service } => {
            let telemetry = telemetry::init(match service {
                Service::Profile => "patron-customer-profile",
                Service::Tiering => "patron-tiering",
                Service::Gateway => "patron-gateway",
            })?;
            let shutdown = server::shutdown_on_signal();
            let auth = AuthConfig::from_env(secrets::jwt_secret)?;
            let result = match service {
                Service::Profile => run_profile(auth, shutdown).await,
                Service::Tiering => run_tiering(auth, shutdown).await,
                Service::Gateway => {
                    run_gateway(gateway::GatewayConfig::from_env(auth)?, shutdown).await
                }
            };
            telemetry.shutdown();
            result
        }
        Command::Up => {
            let telemetry = telemetry::init("patron")?;
            let shutdown = server::shutdown_on_signal();
            let auth = AuthConfig::from_env(secrets::jwt_secret)?;
            let profile_config =
                profile::ProfileConfig::from_env(auth.clone(), secrets::key_ring()?)?;
            let mut tiering_config = tiering::TieringConfig::from_env(auth.clone())?;
            if tiering_config.preset.is_none() {
                tiering_config.preset = Some(default_preset());
            }
            let mut gateway_config = gateway::GatewayConfig::from_env(auth)?;
            gateway_config
                .upstreams
                .entry("profile".into())
                .or_insert_with(|| format!("http://{}", profile_config.listen));
            gateway_config
                .upstreams
                .entry("tiering".into())
                .or_insert_with(|| format!("http://{}", tiering_config.listen));
            let profile_listener = bind(profile_config.listen).await?;
            let tiering_listener = bind(tiering_config.listen).await?;
            let gateway_listener = bind(gateway_config.listen).await?;
            println!(
                "Patron is up: gateway http://{} (OpenAPI at /openapi.json), customer-profile gRPC {}, \
                 tiering gRPC {} (preset {}).\nGet a token with `patron token`; stop with Ctrl-C.",
                gateway_config.listen,
                profile_config.listen,
                tiering_config.listen,
                tiering_config
                    .preset
                    .as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            );
            let (a, b, c) = tokio::join!(
                stop_all_on_error(
                    profile::serve(profile_config, profile_listener, shutdown.clone()),
                    &shutdown
                ),
                stop_all_on_error(
                    tiering::serve(tiering_config, tiering_listener, shutdown.clone()),
                    &shutdown
                ),
                stop_all_on_error(
                    gateway::serve(gateway_config, gateway_listener, shutdown.clone()),
                    &shutdown
                ),
            );
            telemetry.shutdown();
            a.and(b).and(c)
        }
    }
}

async fn run_profile(auth: AuthConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    let config = profile::ProfileConfig::from_env(auth, secrets::key_ring()?)?;
    let listener = bind(config.listen).await?;
    profile::serve(config, listener, shutdown).await
}

async fn run_tiering(auth: AuthConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    let config = tiering::TieringConfig::from_env(auth)?;
    let listener = bind(config.listen).await?;
    tiering::serve(config, listener, shutdown).await
}

/// The preset `patron up` runs with when `PATRON_TIER_PRESET` is not set.
fn default_preset() -> PathBuf {
    PathBuf::from("health-chain")
}

async fn run_gateway(
    config: gateway::GatewayConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let listener = bind(config.listen).await?;
    gateway::serve(config, listener, shutdown).await
}

/// Runs `task`; if it fails, stops the others too rather than leave half a suite.
async fn stop_all_on_error(
    task: impl Future<Output = anyhow::Result<()>>,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let result = task.await;
    if let Err(e) = &result {
        tracing::error!(
            error = format!("{e:#}"),
            "a service stopped with an error; stopping the suite"
        );
        shutdown.cancel();
    }
    result
}

async fn bind(addr: std::net::SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))
}

/// The database named in `PATRON_DATABASE_URL`.
fn database_name() -> anyhow::Result<String> {
    let url = config::env_or("PATRON_DATABASE_URL", db::DEFAULT_DATABASE_URL);
    let path = url.split('?').next().unwrap_or_default();
    path.rsplit_once('/')
        .map(|(_, name)| name.to_owned())
        .filter(|n| !n.is_empty())
        .with_context(|| format!("PATRON_DATABASE_URL {url:?} names no database"))
}
