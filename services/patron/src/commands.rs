//! The sub-commands: `up`, `serve`, `migrate`, `provision`, `token`, `import`,
//! `demo`, `events` and `bench`.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::builder::PossibleValuesParser;
use clap::{Parser, Subcommand, ValueEnum};
use patron::import;
use patron_kit::auth::{AuthConfig, Authenticator};
use patron_kit::{config, db, server, telemetry};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::demo_command::{self, DemoArgs, ServiceUrls};
use crate::services::{self, SERVICES};

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
    Up {
        /// Once the services are ready, load the demo company (as `patron
        /// demo` does) into a system without customers.
        #[arg(long)]
        demo: bool,
        #[command(flatten)]
        company: DemoArgs,
    },
    /// Run one service (as one pod in a cluster would).
    Serve {
        #[arg(value_parser = PossibleValuesParser::new(services::names()))]
        service: String,
    },
    /// Apply one service's database migrations, then exit.
    Migrate {
        #[arg(value_parser = PossibleValuesParser::new(services::names()))]
        service: String,
    },
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
    /// Load a small demo company through the API: units, staff, a few hundred
    /// customers with a year of purchases, complaints in every state, tasks
    /// and contacts. It refuses a system that already has customers (exit
    /// code 2) and stops at the first call the suite refuses (exit code 1).
    Demo {
        #[command(flatten)]
        company: DemoArgs,
        #[command(flatten)]
        urls: ServiceUrls,
    },
    /// Measure issue 16's table against the running suite (`patron up`):
    /// each path beside its baseline from the same run, as markdown.
    Bench(crate::bench_command::BenchArgs),
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
        /// Customers only: the kind of every row that gives none (a sheet of a
        /// person's columns, 生日 or 身份证号, is taken as people without it).
        #[arg(long = "kind", value_name = "KIND")]
        customer_kind: Option<CustomerKindArg>,
    },
}

/// The kind of the customers in an import file.
#[derive(Clone, Copy, ValueEnum)]
enum CustomerKindArg {
    Person,
    #[value(alias = "organization")]
    Organisation,
}

/// What an import file holds.
#[derive(Clone, Copy, ValueEnum)]
enum ImportKind {
    Customers,
    Transactions,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Events { action } => crate::events_admin::run(action).await,
        Command::Bench(args) => crate::bench_command::run(args).await,
        Command::Demo { company, urls } => {
            if !demo_command::load(&company, &urls).await? {
                std::process::exit(2)
            }
            Ok(())
        }
        Command::Import {
            kind,
            file,
            sheet,
            report,
            target,
            token,
            currency,
            customer_kind,
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
                customer_kind: customer_kind.map(|k| match k {
                    CustomerKindArg::Person => import::CustomerKind::Person,
                    CustomerKindArg::Organisation => import::CustomerKind::Organization,
                }),
                progress: std::io::stderr().is_terminal(),
            };
            let dataset = match kind {
                ImportKind::Customers => import::Dataset::Customers,
                ImportKind::Transactions => import::Dataset::Transactions,
            };
            let target = import::Target {
                channel,
                authorization: format!("Bearer {token}"),
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
            let schemas: Vec<&str> = SERVICES
                .iter()
                .filter_map(|s| s.schema.map(|(schema, _)| schema))
                .collect();
            db::provision(&admin_url, &database, &schemas).await?;
            tracing::info!(%database, ?schemas, "database, roles and schemas are in place");
            Ok(())
        }
        Command::Migrate { service } => {
            let _telemetry = telemetry::init("patron")?;
            let service = services::named(&service)?;
            match service.schema {
                Some((schema, migrator)) => {
                    db::migrate_once(&db::DbConfig::for_service(schema)?, migrator).await?
                }
                None => tracing::info!("the {} keeps no state; nothing to migrate", service.name),
            }
            Ok(())
        }
        Command::Serve { service } => {
            let service = services::named(&service)?;
            let telemetry = telemetry::init(service.process)?;
            let shutdown = server::shutdown_on_signal();
            let auth = AuthConfig::from_env(secrets::jwt_secret)?;
            let context = services::Context {
                auth,
                up: false,
                upstreams: BTreeMap::new(),
            };
            let result = async {
                let configured = (service.configure)(&context)?;
                let listener = bind(configured.listen).await?;
                (configured.serve)(listener, shutdown).await
            }
            .await;
            telemetry.shutdown();
            result
        }
        Command::Up { demo, company } => {
            anyhow::ensure!(
                demo || !company.given(),
                "--preset, --seed and --customers choose the demo company: they go with --demo"
            );
            let telemetry = telemetry::init("patron")?;
            let shutdown = server::shutdown_on_signal();
            let auth = AuthConfig::from_env(secrets::jwt_secret)?;
            let mut context = services::Context {
                auth,
                up: true,
                upstreams: BTreeMap::new(),
            };
            let mut configured = Vec::new();
            for service in SERVICES {
                let one = (service.configure)(&context)?;
                context.upstreams.insert(service.name, one.listen);
                configured.push(one);
            }
            let mut listeners = Vec::new();
            for one in &configured {
                listeners.push(bind(one.listen).await?);
            }
            // The gateway (last) first: it is where callers come in.
            let mut described: Vec<&str> = configured.iter().map(|c| c.describe.as_str()).collect();
            described.rotate_right(1);
            println!(
                "Patron is up: {}.\nGet a token with `patron token`; stop with Ctrl-C.",
                described.join(", ")
            );
            let demo_urls = ServiceUrls::of_up(&context.upstreams)?;
            let mut running: Vec<services::Running> = configured
                .into_iter()
                .zip(listeners)
                .map(|(one, listener)| (one.serve)(listener, shutdown.clone()))
                .collect();
            if demo {
                // A failed load stops the suite: the demo is its smoke test.
                running.push(Box::pin(async move {
                    demo_command::load(&company, &demo_urls).await.map(drop)
                }));
            }
            let results = futures::future::join_all(
                running
                    .into_iter()
                    .map(|task| stop_all_on_error(task, &shutdown)),
            )
            .await;
            telemetry.shutdown();
            results
                .into_iter()
                .collect::<anyhow::Result<Vec<()>>>()
                .map(drop)
        }
    }
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
pub fn database_name() -> anyhow::Result<String> {
    let url = config::env_or("PATRON_DATABASE_URL", db::DEFAULT_DATABASE_URL);
    let path = url.split('?').next().unwrap_or_default();
    path.rsplit_once('/')
        .map(|(_, name)| name.to_owned())
        .filter(|n| !n.is_empty())
        .with_context(|| format!("PATRON_DATABASE_URL {url:?} names no database"))
}
