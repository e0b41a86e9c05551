//! The fault suite: Patron's services as separate `patron serve` processes on
//! a PostgreSQL cluster and a Redis of the suite's own (loopback, free
//! ports, a scratch directory), a mixed write load, and one fault after
//! another. After each, the load stops, the events settle, and the
//! invariants are checked from the database and the streams.

pub mod invariants;
pub mod load;
pub mod processes;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use patron_kit::auth::{AuthConfig, Authenticator};
use patron_kit::config::Secret;

use self::invariants::Sources;
use self::load::{Ledger, Load, Target};
use self::processes::{Postgres, Redis, Scratch, Service, free_port, log_tail, signal};

/// The company's zone the services run in (and the checks decide "today" in).
pub const ZONE: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

/// How long an event may sit with a stopped consumer before its group's
/// other consumer takes it over: short, so the SIGSTOP fault outlasts it
/// several times in a few seconds.
const CLAIM_IDLE: Duration = Duration::from_secs(2);

/// How long tiering's database sessions may sit idle inside a transaction:
/// a replica frozen mid-batch holds its customers' locks until PostgreSQL
/// ends its session, and only then can the other replica apply what it
/// takes over (60 s by default).
const IDLE_IN_TRANSACTION: Duration = Duration::from_secs(3);

/// The streams' prefix on the suite's own Redis.
const PREFIX: &str = "patron";

/// Everything the suite runs. Dropped in the order of its fields:
/// services first, then Redis and PostgreSQL, then the scratch directory.
struct Cluster {
    profile: Service,
    /// Two tiering replicas: one is frozen, the other takes over its events.
    tiering_a: Service,
    tiering_b: Service,
    complaint: Service,
    scheduling: Service,
    redis: Redis,
    postgres: Postgres,
    /// Held for its drop: the directory goes last.
    _scratch: Scratch,
    /// The key tokens are signed with.
    secret: String,
}

/// One fault, as it is announced.
#[derive(Clone, Copy)]
enum Fault {
    RedisRestartKeepingData,
    RedisRestartLosingData,
    ServicesKilled,
    PostgresImmediateRestart,
    ConsumerFrozen,
}

impl Fault {
    const ALL: [Fault; 5] = [
        Fault::RedisRestartKeepingData,
        Fault::RedisRestartLosingData,
        Fault::ServicesKilled,
        Fault::PostgresImmediateRestart,
        Fault::ConsumerFrozen,
    ];

    fn describe(self) -> String {
        match self {
            Fault::RedisRestartKeepingData => "Redis SIGKILLed, restarted on its AOF".into(),
            Fault::RedisRestartLosingData => {
                "Redis SIGKILLed, restarted with its files removed".into()
            }
            Fault::ServicesKilled => {
                "customer-profile then complaint SIGKILLed and restarted".into()
            }
            Fault::PostgresImmediateRestart => {
                "PostgreSQL stopped in immediate mode, restarted".into()
            }
            Fault::ConsumerFrozen => format!(
                "tiering-a SIGSTOPped past its claim timeout ({} s), then SIGCONTed",
                CLAIM_IDLE.as_secs()
            ),
        }
    }
}

/// Runs the whole suite; an error names what broke.
pub async fn run(patron: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut cluster = Cluster::start(patron).await?;
    let result = exercise(&mut cluster).await;
    if result.is_err() {
        cluster.show_logs();
    }
    result?;
    println!(
        "fault suite: every invariant held after {} faults ({:.1} s in all)",
        Fault::ALL.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn exercise(cluster: &mut Cluster) -> anyhow::Result<()> {
    let auth = AuthConfig::shared_from_env(Secret::new(cluster.secret.clone()))?;
    let token = Authenticator::new(&auth).mint(
        "fault-suite",
        &["admin".to_owned()],
        chrono::Utc::now(),
        Duration::from_secs(3600),
    );
    let target = Target::new(&cluster.profile.url(), &cluster.complaint.url(), &token)?;
    let ledger = Arc::new(Ledger::default());
    let sources = Sources {
        database_url: cluster.postgres.database_admin_url(),
        redis_url: cluster.redis.url(),
        prefix: PREFIX.into(),
    };
    // Customers to record against and complain about from the start.
    for _ in 0..10 {
        load::create_customer(&target, &ledger).await?;
    }
    for (n, fault) in Fault::ALL.into_iter().enumerate() {
        let phase = Instant::now();
        let before = ledger.acknowledged();
        let load = Load::start(&target, &ledger);
        tokio::time::sleep(Duration::from_secs(2)).await;
        let injected = cluster.inject(fault, &sources).await;
        // The load runs on past the recovery before it quiesces.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let stopped = load.stop().await;
        let evidence = injected.with_context(|| format!("injecting: {}", fault.describe()))?;
        stopped.with_context(|| format!("the write load, during: {}", fault.describe()))?;
        let context = || format!("after fault {}: {}", n + 1, fault.describe());
        invariants::wait_for_events(&sources, Duration::from_secs(90))
            .await
            .with_context(context)?;
        let checked = invariants::check(&sources, &ledger)
            .await
            .with_context(context)?;
        println!(
            "fault {}/{} {}: {evidence}{} writes acknowledged ({} in all, {} retried calls), \
             {} invariants held, {:.1} s",
            n + 1,
            Fault::ALL.len(),
            fault.describe(),
            ledger.acknowledged() - before,
            ledger.acknowledged(),
            *ledger.retries.lock().unwrap(),
            checked + 1,
            phase.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

impl Cluster {
    async fn start(patron: &Path) -> anyhow::Result<Self> {
        anyhow::ensure!(
            patron.exists(),
            "no patron binary at {} (build it: cargo build -p patron)",
            patron.display()
        );
        let scratch = Scratch::create()?;
        let postgres = Postgres::init(&scratch.path).await?;
        postgres.start().await?;
        let mut redis = Redis::new(&scratch.path)?;
        redis.start().await?;
        let secret = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let profile_port = free_port()?;
        let common: Vec<(String, String)> = [
            ("PATRON_DATABASE_URL", postgres.database_url()),
            ("PATRON_ADMIN_DATABASE_URL", postgres.admin_url()),
            ("PATRON_REDIS_URL", redis.url()),
            ("PATRON_CACHE_PREFIX", PREFIX.into()),
            ("PATRON_JWT_SECRET", secret.clone()),
            (
                "PATRON_STATE_DIR",
                scratch.path.join("state").display().to_string(),
            ),
            ("PATRON_TIME_ZONE", ZONE.name().into()),
            ("PATRON_METRICS_ADDR", "off".into()),
            ("PATRON_TIER_PRESET", "health-chain".into()),
            (
                "PATRON_PROFILE_URL",
                format!("http://127.0.0.1:{profile_port}"),
            ),
            (
                "PATRON_EVENTS_CLAIM_IDLE_MS",
                CLAIM_IDLE.as_millis().to_string(),
            ),
            ("PATRON_HEALTH_INTERVAL_MS", "500".into()),
            ("PATRON_SHUTDOWN_GRACE_SECS", "2".into()),
            // Warnings and errors only, plain: the end of each log is shown
            // when an invariant breaks.
            ("RUST_LOG", "warn".into()),
            ("NO_COLOR", "1".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        // The database, each service's role and schema, then each service's
        // migrations, one after another.
        run_patron(patron, &common, &["provision"]).await?;
        for service in ["profile", "tiering", "complaint", "scheduling"] {
            run_patron(patron, &common, &["migrate", service]).await?;
        }
        let service = |label: &str, name: &'static str, addr_var: &str, port: u16| {
            let mut env = common.clone();
            env.push((addr_var.to_owned(), format!("127.0.0.1:{port}")));
            env.push(("HOSTNAME".to_owned(), label.to_owned()));
            Service::new(patron, &scratch.path, label, name, port, env)
        };
        let idle_variable = "PATRON_DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS";
        let idle_millis = IDLE_IN_TRANSACTION.as_millis().to_string();
        let mut cluster = Self {
            profile: service("profile", "profile", "PATRON_PROFILE_ADDR", profile_port),
            tiering_a: service("tiering-a", "tiering", "PATRON_TIERING_ADDR", free_port()?)
                .with_env(idle_variable, &idle_millis),
            tiering_b: service("tiering-b", "tiering", "PATRON_TIERING_ADDR", free_port()?)
                .with_env(idle_variable, &idle_millis),
            complaint: service(
                "complaint",
                "complaint",
                "PATRON_COMPLAINT_ADDR",
                free_port()?,
            ),
            scheduling: service(
                "scheduling",
                "scheduling",
                "PATRON_SCHEDULING_ADDR",
                free_port()?,
            ),
            redis,
            postgres,
            _scratch: scratch,
            secret,
        };
        for s in cluster.services_mut() {
            s.start().await?;
        }
        for s in cluster.services_mut() {
            s.wait_ready(Duration::from_secs(120)).await?;
        }
        Ok(cluster)
    }

    fn services_mut(&mut self) -> [&mut Service; 5] {
        [
            &mut self.profile,
            &mut self.tiering_a,
            &mut self.tiering_b,
            &mut self.complaint,
            &mut self.scheduling,
        ]
    }

    /// Injects `fault` and recovers from it; what shows the fault took the
    /// path it is meant to exercise.
    async fn inject(&mut self, fault: Fault, sources: &Sources) -> anyhow::Result<String> {
        match fault {
            Fault::RedisRestartKeepingData => {
                self.redis.kill().await?;
                tokio::time::sleep(Duration::from_millis(500)).await;
                self.redis.start().await?;
                Ok(String::new())
            }
            Fault::RedisRestartLosingData => {
                let before = invariants::relay_recoveries(sources).await?;
                self.redis.kill().await?;
                self.redis.wipe()?;
                tokio::time::sleep(Duration::from_millis(500)).await;
                self.redis.start().await?;
                relays_recover(sources, &before).await
            }
            Fault::ServicesKilled => {
                for service in [&mut self.profile, &mut self.complaint] {
                    service.kill().await?;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    service.start().await?;
                    service.wait_ready(Duration::from_secs(60)).await?;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Ok(String::new())
            }
            Fault::PostgresImmediateRestart => {
                self.postgres.stop_immediately().await?;
                tokio::time::sleep(Duration::from_secs(1)).await;
                self.postgres.start().await?;
                Ok(String::new())
            }
            Fault::ConsumerFrozen => {
                let pid = self.tiering_a.pid()?;
                // Frozen at a moment it holds entries: a blocked read is
                // answered by Redis while the process sleeps, and those
                // entries wait with it until the other replica takes them
                // over. A freeze that caught none is thawed and tried again.
                let mut delivered = 0;
                for _ in 0..20 {
                    signal(pid, "STOP").await?;
                    tokio::time::sleep(Duration::from_millis(700)).await;
                    delivered = invariants::pending_with(sources, "tiering", "tiering-a").await?;
                    if delivered > 0 {
                        break;
                    }
                    signal(pid, "CONT").await?;
                    tokio::time::sleep(Duration::from_millis(150)).await;
                }
                if delivered == 0 {
                    signal(pid, "STOP").await?;
                }
                // Frozen past its claim timeout several times over, and until
                // the other replica has taken over what it held (after
                // PostgreSQL ended the frozen replica's open transaction).
                let frozen = tokio::time::Instant::now();
                let patience = IDLE_IN_TRANSACTION + CLAIM_IDLE * 10;
                let left = loop {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    let left = invariants::pending_with(sources, "tiering", "tiering-a").await;
                    let waited = frozen.elapsed();
                    match left {
                        Ok(0) if waited >= CLAIM_IDLE * 3 => break Ok(0),
                        Ok(_) if waited < patience => {}
                        other => break other,
                    }
                };
                signal(pid, "CONT").await?;
                let left = left?;
                anyhow::ensure!(
                    left == 0,
                    "invariant broken: a frozen consumer's events are taken over by its group: \
                     {left} entries still pending with tiering-a after {} s",
                    patience.as_secs()
                );
                Ok(format!(
                    "{delivered} entries taken over from the frozen replica; "
                ))
            }
        }
    }

    /// The end of each process's log, to see why an invariant broke.
    fn show_logs(&self) {
        let logs: [(&str, &PathBuf); 7] = [
            ("profile", &self.profile.log),
            ("tiering-a", &self.tiering_a.log),
            ("tiering-b", &self.tiering_b.log),
            ("complaint", &self.complaint.log),
            ("scheduling", &self.scheduling.log),
            ("redis", &self.redis.log),
            ("postgres", &self.postgres.log),
        ];
        for (name, log) in logs {
            eprintln!(
                "---- last lines of {name}'s log ----\n{}",
                log_tail(log, 12)
            );
        }
    }
}

/// Waits until every relay that had published before Redis lost its data
/// has noticed the loss and queued again what the groups had not
/// acknowledged.
async fn relays_recover(
    sources: &Sources,
    before: &std::collections::BTreeMap<&'static str, (i64, i64)>,
) -> anyhow::Result<String> {
    let published: Vec<&str> = (before.iter())
        .filter(|(_, (rounds, _))| *rounds > 0)
        .map(|(schema, _)| *schema)
        .collect();
    let started = Instant::now();
    loop {
        let now = invariants::relay_recoveries(sources).await?;
        let waiting: Vec<&str> = (published.iter())
            .filter(|s| now.get(*s).map(|n| n.1) <= before.get(*s).map(|b| b.1))
            .copied()
            .collect();
        if waiting.is_empty() {
            return Ok(format!(
                "relays of {} published again; ",
                published.join(", ")
            ));
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(30),
            "invariant broken: a relay whose Redis lost its data publishes again: \
             {} never noticed within 30 s",
            waiting.join(", ")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs `patron ARGS` to its end with the suite's environment.
async fn run_patron(patron: &Path, env: &[(String, String)], args: &[&str]) -> anyhow::Result<()> {
    let out = processes::patron_command(patron, env)
        .args(args)
        .output()
        .await
        .with_context(|| format!("running patron {}", args.join(" ")))?;
    anyhow::ensure!(
        out.status.success(),
        "patron {} failed: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}
