//! `patron events …`: what an operator needs to see and do about a
//! service's events — what waits to be published, what its consumers set
//! aside or missed — and replays.

use chrono::{DateTime, Utc};
use clap::Subcommand;
use clap::builder::PossibleValuesParser;
use patron_kit::db;
use patron_kit::db::PgPool;
use patron_kit::events::{self, dead_letters};

use crate::services::{self, Service};

#[derive(Subcommand)]
pub enum EventsAction {
    /// The outbox (waiting, published, what Redis lost), each topic's numbers
    /// and what every consumer group acknowledged, dead letters and missed
    /// events.
    Status {
        #[arg(value_parser = PossibleValuesParser::new(services::names_with_events()))]
        service: String,
    },
    /// Publish again every kept event of the service created at or after a
    /// moment (RFC 3339); consumers skip what they already applied.
    Replay {
        #[arg(value_parser = PossibleValuesParser::new(services::names_with_events()))]
        service: String,
        #[arg(long)]
        since: DateTime<Utc>,
    },
    /// Apply the service's dead letters again, once their cause is fixed.
    ReplayDeadLetters {
        #[arg(value_parser = PossibleValuesParser::new(services::names_with_events()))]
        service: String,
    },
}

pub async fn run(action: EventsAction) -> anyhow::Result<()> {
    match action {
        EventsAction::Status { service } => status(&pool(services::named(&service)?)?).await,
        EventsAction::Replay { service, since } => {
            let pool = pool(services::named(&service)?)?;
            let queued = events::replay_since(&pool, since).await?;
            println!("{queued} events queued to be published again");
            Ok(())
        }
        EventsAction::ReplayDeadLetters { service } => {
            let service = services::named(&service)?;
            let Some(replay) = service.replay_dead_letters else {
                anyhow::bail!(
                    "{} consumes no events, so it has no dead letters",
                    service.title()
                )
            };
            let auth = patron_kit::auth::AuthConfig::from_env(crate::secrets::jwt_secret)?;
            let done = replay(auth).await?;
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
    }
}

/// The service's own database schema, where its outbox and its consumers'
/// bookkeeping live.
fn pool(service: &Service) -> anyhow::Result<PgPool> {
    let Some((schema, _)) = service.schema else {
        anyhow::bail!("{} keeps no events", service.title())
    };
    db::connect(&db::DbConfig::for_service(schema)?)
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
