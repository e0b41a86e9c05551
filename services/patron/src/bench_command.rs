//! `patron bench`: the command line around [`patron::bench`], finding the
//! running suite where `patron up` puts it (the same variables and defaults).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use patron::bench::{self, Options, Target};
use patron_kit::auth::{AuthConfig, Authenticator};
use patron_kit::events::EventsConfig;

use crate::secrets;

/// How long and how hard; where the suite is.
#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// Seconds per row (each baseline too).
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// gRPC reads: HTTP/2 connections…
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// …and concurrent calls on each.
    #[arg(long, default_value_t = 50)]
    streams: usize,
    /// The gateway's HTTP/1.1 connections.
    #[arg(long, default_value_t = 50)]
    http_connections: usize,
    /// Concurrent RecordTransaction clients (and INSERT clients).
    #[arg(long, default_value_t = 32)]
    writers: usize,
    /// Customers the run makes for itself.
    #[arg(long, default_value_t = 300)]
    customers: usize,
    /// Seconds to wait for the write row's events to reach the stream and tiering.
    #[arg(long, default_value_t = 60)]
    patience: u64,
    /// The customer-profile service.
    #[arg(
        long,
        env = "PATRON_PROFILE_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    profile_url: String,
    /// The gateway's address.
    #[arg(long, env = "PATRON_GATEWAY_ADDR", default_value = "127.0.0.1:8080")]
    gateway_addr: String,
    /// An administrator connection to the PostgreSQL server: the benchmark
    /// reads the services' schemas and makes a scratch table in the suite's
    /// database (named by PATRON_DATABASE_URL).
    #[arg(
        long,
        env = "PATRON_ADMIN_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    admin_url: String,
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.seconds.is_finite() && args.seconds > 0.0,
        "--seconds must be a positive number"
    );
    anyhow::ensure!(
        args.customers > 0 && args.connections > 0 && args.streams > 0,
        "--customers, --connections and --streams must be at least 1"
    );
    let events = EventsConfig::from_env()?;
    let database = crate::commands::database_name()?;
    let (server, _) = args
        .admin_url
        .rsplit_once('/')
        .context("--admin-url names no database")?;
    let target = Target {
        profile_url: args.profile_url,
        gateway_url: format!("http://{}", args.gateway_addr),
        database_url: format!("{server}/{database}"),
        events_redis_url: events.redis_url,
        stream_prefix: events.stream_prefix,
        auth: Arc::new(Authenticator::new(&AuthConfig::shared_from_env(
            secrets::jwt_secret()?,
        )?)),
        clock: Arc::new(patron_kit::clock::SystemClock),
    };
    let options = Options {
        duration: Duration::from_secs_f64(args.seconds),
        connections: args.connections,
        streams: args.streams,
        http_connections: args.http_connections,
        writers: args.writers,
        customers: args.customers,
        patience: Duration::from_secs(args.patience),
    };
    let table = bench::run(&target, &options).await?;
    println!(
        "{} s per row, {} cores, {}\n",
        args.seconds,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    print!("{table}");
    for row in &table.rows {
        if let Some(why) = &row.patron.first_error {
            eprintln!(
                "{}: {} errors, the first: {why}",
                row.path, row.patron.errors
            );
        }
    }
    Ok(())
}
