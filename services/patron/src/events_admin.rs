//! `patron events …`: what an operator needs to see and do about a
//! service's events — what waits to be published, what its consumers set
//! aside or missed — and replays.

use chrono::{DateTime, Utc};
use clap::Subcommand;
use patron_customer_profile as profile;
use patron_kit::db;
use patron_kit::db::PgPool;
use patron_kit::events::{self, dead_letters};
use patron_tiering as tiering;

/// The services whose events an operator looks after.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum EventService {
    Profile,
    Tiering,
}

impl EventService {
    fn schema(self) -> &'static str {
        match self {
            Self::Profile => profile::SCHEMA,
            Self::Tiering => tiering::SCHEMA,
        }
    }
}

#[derive(Subcommand)]
pub enum EventsAction {
    /// The outbox (waiting, published, what Redis lost), each topic's numbers
    /// and what every consumer group acknowledged, dead letters and missed
    /// events.
    Status { service: EventService },
    /// Publish again every kept event of the service created at or after a
    /// moment (RFC 3339); consumers skip what they already applied.
    Replay {
        service: EventService,
        #[arg(long)]
        since: DateTime<Utc>,
    },
    /// Apply the service's dead letters again, once their cause is fixed.
    ReplayDeadLetters { service: EventService },
}

pub async fn run(action: EventsAction) -> anyhow::Result<()> {
    match action {
        EventsAction::Status { service } => status(&pool(service)?).await,
        EventsAction::Replay { service, since } => {
            let queued = events::replay_since(&pool(service)?, since).await?;
            println!("{queued} events queued to be published again");
            Ok(())
        }
        EventsAction::ReplayDeadLetters { service } => match service {
            EventService::Profile => {
                anyhow::bail!("customer-profile consumes no events, so it has no dead letters")
            }
            EventService::Tiering => {
                let auth = patron_kit::auth::AuthConfig::from_env(crate::secrets::jwt_secret)?;
                let config = tiering::TieringConfig::from_env(auth)?;
                let done = tiering::replay_dead_letters(&config).await?;
                println!(
                    "{} applied, {} already applied, {} still failing",
                    done.applied,
                    done.duplicates,
                    done.failed.len()
                );
                for (id, error) in &done.failed {
                    println!("  dead letter {id}: {error}");
                }
                Ok(())
            }
        },
    }
}

fn pool(service: EventService) -> anyhow::Result<PgPool> {
    db::connect(&db::DbConfig::for_service(service.schema())?)
}

async fn status(pool: &PgPool) -> anyhow::Result<()> {
    let outbox = events::relay::status(pool).await?;
    println!(
        "outbox: {} waiting, {} published and kept; relay rounds {}; Redis found to have lost \
         data {} times ({} events published again)",
        outbox.waiting, outbox.published, outbox.rounds, outbox.recovered, outbox.requeued
    );
    for (topic, last, acknowledged) in outbox.topics {
        println!(
            "  {topic}: numbered up to {last}, acknowledged by every group up to {acknowledged}"
        );
    }
    let letters = dead_letters::list(pool, false).await?;
    println!("dead letters waiting: {}", letters.len());
    for l in &letters {
        println!(
            "  #{} {} {} no. {} {} {} at {}: {}",
            l.id,
            l.group,
            l.topic,
            l.number
                .map(|n| n.to_string())
                .unwrap_or_else(|| "?".into()),
            l.event_type,
            l.customer,
            l.dead_at.to_rfc3339(),
            l.reason
        );
    }
    let missing = dead_letters::missing(pool).await?;
    if missing.is_empty() {
        println!("missed events: none");
    }
    for m in missing {
        println!(
            "missed: group {} never saw {} events of {} (the first is no. {}); replay with \
             `patron events replay <producer> --since …`",
            m.group, m.count, m.topic, m.first
        );
    }
    Ok(())
}
