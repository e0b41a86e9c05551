//! The states behind the alerts, read every few seconds rather than counted:
//! the outbox's backlog and its oldest row, the service's consumer group on
//! each topic it reads (lag and pending entries, from `XINFO GROUPS`), dead
//! letters, the due work of the service's periodic jobs, its pools, and
//! whether Postgres and both Redis roles answer.
//!
//! Every replica reads the same rows and streams, so these gauges are the
//! schema's and the group's, not the pod's: alerts take their `max`, never
//! their sum.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use redis::streams::StreamInfoGroupsReply;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use super::{DependencyLabels, GroupLabels, GroupTopicLabels, JobLabels, Metrics};
use super::{PoolLabels, PoolStateLabels};
use crate::cache::Cache;
use crate::db;
use crate::events::{self, Reader};

/// What a periodic job has due and not yet done.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Due {
    pub items: i64,
    /// How long the oldest of them has been due.
    pub oldest: Duration,
}

/// A periodic job whose backlog is measured (the tiering sweep, complaint
/// deadlines, scheduling's generation): the job knows what "due" means,
/// with its own clock, zone and policy.
pub trait DueWork: Send + Sync + 'static {
    /// The `job` label.
    fn job(&self) -> &'static str;

    fn due<'a>(&'a self, pool: &'a PgPool) -> BoxFuture<'a, anyhow::Result<Due>>;
}

/// What one service's readings come from.
pub struct Sources {
    /// The pool readings go through (the service's background pool).
    pub pool: PgPool,
    /// Each pool of the service, by the `pool` label.
    pub pools: Vec<(&'static str, PgPool)>,
    pub cache: Cache,
    /// The events' Redis.
    pub events_redis: Option<ConnectionManager>,
    pub stream_prefix: String,
    /// The consumer group the service reads with, if it reads events.
    pub reader: Option<Reader>,
    pub due: Vec<Arc<dyn DueWork>>,
}

/// Reads the states now, then every `every` until `shutdown`.
pub fn spawn(
    metrics: Metrics,
    mut sources: Sources,
    every: Duration,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            refresh_once(&metrics, &mut sources).await;
        }
    })
}

fn up(metrics: &Metrics, dependency: &'static str, answered: bool) {
    metrics
        .dependency_up
        .get_or_create(&DependencyLabels { dependency })
        .set(i64::from(answered));
}

/// One reading of everything. A source that fails leaves its gauges as they
/// were (and its dependency marked down); the others are still read.
pub async fn refresh_once(metrics: &Metrics, sources: &mut Sources) {
    for (name, pool) in &sources.pools {
        read_pool(metrics, name, pool);
    }
    let postgres = db::ping(&sources.pool).await;
    up(metrics, "postgres", postgres);
    up(metrics, "cache_redis", sources.cache.is_available());
    if postgres {
        if let Err(e) = read_outbox(metrics, &sources.pool).await {
            tracing::debug!(error = %e, "reading the outbox for metrics failed");
        }
        if let Err(e) = read_dead_letters(metrics, &sources.pool, sources.reader).await {
            tracing::debug!(error = %e, "reading dead letters for metrics failed");
        }
        for work in &sources.due {
            match work.due(&sources.pool).await {
                Ok(due) => {
                    let labels = JobLabels { job: work.job() };
                    metrics.jobs_due.get_or_create(&labels).set(due.items);
                    metrics
                        .jobs_oldest_due_age
                        .get_or_create(&labels)
                        .set(due.oldest.as_secs_f64());
                }
                Err(e) => {
                    tracing::debug!(
                        error = format!("{e:#}"),
                        job = work.job(),
                        "reading a job's backlog failed"
                    )
                }
            }
        }
    }
    if let Some(redis) = sources.events_redis.as_mut() {
        let answered = match sources.reader {
            Some(reader) => read_group(metrics, redis, &sources.stream_prefix, reader)
                .await
                .inspect_err(|e| tracing::debug!(error = %e, "reading consumer lag failed"))
                .is_ok(),
            None => redis::cmd("PING")
                .query_async::<String>(redis)
                .await
                .is_ok(),
        };
        up(metrics, "events_redis", answered);
    }
}

fn read_pool(metrics: &Metrics, pool_name: &'static str, pool: &PgPool) {
    let size = i64::from(pool.size());
    let idle = pool.num_idle() as i64;
    let state = |state| PoolStateLabels {
        pool: pool_name,
        state,
    };
    metrics
        .pool_connections
        .get_or_create(&state("idle"))
        .set(idle);
    metrics
        .pool_connections
        .get_or_create(&state("busy"))
        .set((size - idle).max(0));
    metrics
        .pool_max_connections
        .get_or_create(&PoolLabels { pool: pool_name })
        .set(i64::from(pool.options().get_max_connections()));
}

async fn read_outbox(metrics: &Metrics, pool: &PgPool) -> Result<(), sqlx::Error> {
    // The database's own clock on both sides: `created_at` is its `now()`.
    let (waiting, oldest): (i64, f64) = sqlx::query_as(
        "SELECT count(*),
                coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8
           FROM outbox WHERE published_at IS NULL",
    )
    .fetch_one(pool)
    .await?;
    metrics.outbox_unpublished.set(waiting);
    metrics.outbox_oldest_age.set(oldest.max(0.0));
    Ok(())
}

async fn read_dead_letters(
    metrics: &Metrics,
    pool: &PgPool,
    reader: Option<Reader>,
) -> Result<(), sqlx::Error> {
    let waiting: Vec<(String, i64)> = sqlx::query_as(
        "SELECT consumer_group, count(*) FROM dead_letters
          WHERE replayed_at IS NULL GROUP BY consumer_group",
    )
    .fetch_all(pool)
    .await?;
    // The service's own group reads 0 when none waits, so the series exists
    // before the first dead letter and falls back after a replay.
    if let Some(reader) = reader {
        metrics
            .dead_letters
            .get_or_create(&GroupLabels {
                group: reader.group.to_owned(),
            })
            .set(0);
    }
    for (group, count) in waiting {
        metrics
            .dead_letters
            .get_or_create(&GroupLabels { group })
            .set(count);
    }
    Ok(())
}

/// Lag and pending entries of `reader`'s group on each topic it reads.
async fn read_group(
    metrics: &Metrics,
    redis: &mut ConnectionManager,
    prefix: &str,
    reader: Reader,
) -> anyhow::Result<()> {
    for topic in reader.topics {
        let key = events::stream_key(prefix, topic.name());
        let groups: StreamInfoGroupsReply = match redis.xinfo_groups(&key).await {
            Ok(groups) => groups,
            // No stream yet: nothing published, nothing behind.
            Err(e) if e.to_string().contains("no such key") => StreamInfoGroupsReply::default(),
            Err(e) => return Err(e.into()),
        };
        let mine = groups.groups.iter().find(|g| g.name == reader.group);
        let (lag, pending) = match mine {
            None => (0, 0),
            Some(group) => {
                let lag = match group.lag {
                    Some(lag) => lag as i64,
                    // Redis cannot tell (entries were deleted after the
                    // group's position): count what follows it, up to a cap.
                    None => undelivered(redis, &key, &group.last_delivered_id).await?,
                };
                (lag, group.pending as i64)
            }
        };
        let labels = GroupTopicLabels {
            group: reader.group.to_owned(),
            topic: topic.name().to_owned(),
        };
        metrics.consumer_lag.get_or_create(&labels).set(lag);
        metrics.consumer_pending.get_or_create(&labels).set(pending);
    }
    Ok(())
}

/// Entries after `last_delivered` in `key`, counted up to 10,000.
async fn undelivered(
    redis: &mut ConnectionManager,
    key: &str,
    last_delivered: &str,
) -> anyhow::Result<i64> {
    const CAP: usize = 10_000;
    let entries: redis::streams::StreamRangeReply = redis
        .xrange_count(key, format!("({last_delivered}"), "+", CAP)
        .await?;
    Ok(entries.ids.len() as i64)
}
