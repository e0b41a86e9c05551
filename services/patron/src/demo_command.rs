//! `patron demo` and `patron up --demo`: the command line around
//! [`patron::demo`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::builder::PossibleValuesParser;
use patron::demo::{self, AlreadyLoaded, Options, Target};
use patron_kit::auth::{AuthConfig, Authenticator};

use crate::secrets;

/// What company to load (`patron demo`, `patron up --demo`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct DemoArgs {
    /// The shipped preset the company runs under [default: health-chain].
    #[arg(long, value_parser = PossibleValuesParser::new(demo::flavour::names()))]
    pub preset: Option<String>,
    /// The same seed loads the same company [default: 1].
    #[arg(long)]
    pub seed: Option<u64>,
    /// How many customers [default: 300].
    #[arg(long, value_parser = clap::value_parser!(u64).range(demo::MIN_CUSTOMERS as u64..=demo::MAX_CUSTOMERS as u64))]
    pub customers: Option<u64>,
}

impl DemoArgs {
    pub fn given(&self) -> bool {
        self.preset.is_some() || self.seed.is_some() || self.customers.is_some()
    }

    fn options(&self) -> anyhow::Result<Options> {
        // The scheduler plans every PATRON_GENERATION_POLL_MS (30 s unless
        // set); the plan is made once a whole pass changed nothing.
        let poll =
            patron_kit::config::env_millis("PATRON_GENERATION_POLL_MS", Duration::from_secs(30))?;
        Ok(Options {
            preset: self.preset.clone().unwrap_or_else(|| "health-chain".into()),
            seed: self.seed.unwrap_or(1),
            customers: self.customers.map_or(300, |n| n as usize),
            patience: Duration::from_secs(120),
            plan_settle: poll + Duration::from_secs(5),
        })
    }
}

/// Where the services listen (`patron demo`).
#[derive(clap::Args, Debug, Clone)]
pub struct ServiceUrls {
    /// The customer-profile service.
    #[arg(
        long,
        env = "PATRON_PROFILE_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    pub profile_url: String,
    /// The tiering service.
    #[arg(
        long,
        env = "PATRON_TIERING_URL",
        default_value = "http://127.0.0.1:50052"
    )]
    pub tiering_url: String,
    /// The complaint service.
    #[arg(
        long,
        env = "PATRON_COMPLAINT_URL",
        default_value = "http://127.0.0.1:50053"
    )]
    pub complaint_url: String,
    /// The scheduling service.
    #[arg(
        long,
        env = "PATRON_SCHEDULING_URL",
        default_value = "http://127.0.0.1:50054"
    )]
    pub scheduling_url: String,
}

impl ServiceUrls {
    /// The addresses `patron up` runs the services on.
    pub fn of_up(upstreams: &BTreeMap<&'static str, SocketAddr>) -> anyhow::Result<Self> {
        let url = |name: &str| {
            upstreams
                .get(name)
                .map(|addr| format!("http://{addr}"))
                .with_context(|| format!("patron up runs no {name} service"))
        };
        Ok(Self {
            profile_url: url("profile")?,
            tiering_url: url("tiering")?,
            complaint_url: url("complaint")?,
            scheduling_url: url("scheduling")?,
        })
    }
}

fn channel(url: &str) -> anyhow::Result<tonic::transport::Channel> {
    Ok(tonic::transport::Endpoint::from_shared(url.to_owned())
        .with_context(|| format!("{url:?} is not a URL"))?
        .connect_lazy())
}

/// Loads the demo company into the suite at `urls` once it is ready, and
/// prints what it loaded. A system that already has customers is left as
/// it is: `Ok(false)`.
pub async fn load(args: &DemoArgs, urls: &ServiceUrls) -> anyhow::Result<bool> {
    let auth = Authenticator::new(&AuthConfig::shared_from_env(secrets::jwt_secret()?)?);
    let target = Target {
        profile: channel(&urls.profile_url)?,
        tiering: channel(&urls.tiering_url)?,
        complaint: channel(&urls.complaint_url)?,
        scheduling: channel(&urls.scheduling_url)?,
        auth: Arc::new(auth),
        clock: Arc::new(patron_kit::clock::SystemClock),
        zone: patron_kit::clock::zone_from_env()?,
    };
    let options = args.options()?;
    demo::wait_until_ready(&target, options.patience).await?;
    eprintln!(
        "Loading the demo company under {} ({} customers, seed {})…",
        options.preset, options.customers, options.seed
    );
    match demo::run(&target, &options).await {
        Ok(summary) => {
            println!("{summary}");
            Ok(true)
        }
        Err(e) if e.downcast_ref::<AlreadyLoaded>().is_some() => {
            eprintln!("{e}");
            Ok(false)
        }
        Err(e) => Err(e.context("the demo load stopped")),
    }
}
