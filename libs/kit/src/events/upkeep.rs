//! Keeping what events leave behind bounded: streams trimmed to what every
//! consumer group has acknowledged, and rows forgotten after their windows.

use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use redis::streams::{StreamInfoGroupsReply, StreamPendingReply, StreamRangeReply};
use sqlx::PgPool;

use patron_proto::readers::{self, Reader};

use super::{Retention, stream_key};

/// One round of upkeep: trims the streams, then forgets expired rows.
pub async fn run(
    pool: &PgPool,
    redis: &mut ConnectionManager,
    prefix: &str,
    readers: &[Reader],
    retention: &Retention,
) -> anyhow::Result<()> {
    trim_streams(pool, redis, prefix, readers).await?;
    forget_expired(pool, retention).await?;
    Ok(())
}

/// For each of this schema's topics: makes the groups of `readers` that
/// read it (at the stream's start) when they are missing, then removes the
/// stream entries every group has acknowledged and remembers the last such
/// number in `outbox_topics`, so that after a Redis loss only later events
/// are published again. Making the readers' groups first is what keeps a
/// service that starts after the others from finding the events it never
/// read already trimmed; a stream without groups is left whole.
pub async fn trim_streams(
    pool: &PgPool,
    redis: &mut ConnectionManager,
    prefix: &str,
    readers: &[Reader],
) -> anyhow::Result<()> {
    let topics: Vec<String> = sqlx::query_scalar("SELECT topic FROM outbox_topics ORDER BY topic")
        .fetch_all(pool)
        .await?;
    for topic in topics {
        let key = stream_key(prefix, &topic);
        for group in readers::groups_of(readers, &topic) {
            let made: redis::RedisResult<()> = redis.xgroup_create_mkstream(&key, group, "0").await;
            if let Err(e) = made
                && e.code() != Some("BUSYGROUP")
            {
                return Err(e.into());
            }
        }
        let Some(boundary) = acknowledged_below(redis, &key).await? else {
            continue;
        };
        let before: StreamRangeReply = redis
            .xrevrange_count(&key, format!("({boundary}"), "-", 1)
            .await?;
        let Some(number) = before.ids.first().and_then(|e| e.get::<i64>("number")) else {
            continue;
        };
        sqlx::query(
            "UPDATE outbox_topics SET acknowledged = greatest(acknowledged, $2) WHERE topic = $1",
        )
        .bind(&topic)
        .bind(number)
        .execute(pool)
        .await?;
        redis::cmd("XTRIM")
            .arg(&key)
            .arg("MINID")
            .arg(&boundary)
            .query_async::<()>(redis)
            .await?;
    }
    Ok(())
}

/// The stream id below which every group of `key` has acknowledged every
/// entry; `None` when the stream or its groups are missing.
async fn acknowledged_below(
    redis: &mut ConnectionManager,
    key: &str,
) -> anyhow::Result<Option<String>> {
    let groups: StreamInfoGroupsReply = match redis.xinfo_groups(key).await {
        Ok(groups) => groups,
        Err(e) if e.to_string().contains("no such key") => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut lowest: Option<(u64, u64)> = None;
    for group in &groups.groups {
        let below = if group.pending > 0 {
            let pending: StreamPendingReply = redis.xpending(key, &group.name).await?;
            match pending {
                StreamPendingReply::Data(data) => parse_id(&data.start_id),
                _ => next_id(&group.last_delivered_id),
            }
        } else {
            next_id(&group.last_delivered_id)
        };
        let Some(below) = below else { return Ok(None) };
        lowest = Some(lowest.map_or(below, |l| l.min(below)));
    }
    Ok(lowest.map(|(ms, seq)| format!("{ms}-{seq}")))
}

fn parse_id(id: &str) -> Option<(u64, u64)> {
    let (ms, seq) = id.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

/// The smallest id after `id`.
fn next_id(id: &str) -> Option<(u64, u64)> {
    let (ms, seq) = parse_id(id)?;
    Some(match seq.checked_add(1) {
        Some(seq) => (ms, seq),
        None => (ms + 1, 0),
    })
}

/// Deletes the rows of `table` whose `older` time (after any condition
/// written before it) lies more than `window` ago; how many. The names are
/// this module's constants, never input.
async fn forget_older(
    pool: &PgPool,
    table: &str,
    older: &str,
    window: std::time::Duration,
) -> Result<u64, sqlx::Error> {
    let statement =
        format!("DELETE FROM {table} WHERE {older} < now() - make_interval(secs => $1)");
    Ok(sqlx::query(sqlx::AssertSqlSafe(statement))
        .bind(window.as_secs_f64())
        .execute(pool)
        .await?
        .rows_affected())
}

/// How many rows each retention window removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Forgotten {
    pub outbox: u64,
    pub processed: u64,
    pub idempotency: u64,
    pub dead_letters: u64,
}

/// Removes published outbox rows, processed-event records, idempotency keys
/// and dead letters older than their windows. A row not yet published is
/// never removed, however old.
pub async fn forget_expired(pool: &PgPool, retention: &Retention) -> anyhow::Result<Forgotten> {
    let outbox = forget_older(
        pool,
        "outbox",
        "published_at IS NOT NULL AND created_at",
        retention.outbox,
    )
    .await?;
    let processed = forget_older(
        pool,
        "processed_events",
        "processed_at",
        retention.processed,
    )
    .await?;
    let dead_letters =
        forget_older(pool, "dead_letters", "dead_at", retention.dead_letters).await?;
    forget_older(
        pool,
        "event_failures",
        "last_failed_at",
        retention.dead_letters,
    )
    .await?;
    // Not every service takes idempotent creates.
    let has_keys: bool = sqlx::query_scalar("SELECT to_regclass('idempotency_keys') IS NOT NULL")
        .fetch_one(pool)
        .await?;
    let idempotency = if has_keys {
        forget_older(
            pool,
            "idempotency_keys",
            "created_at",
            retention.idempotency,
        )
        .await?
    } else {
        0
    };
    let forgotten = Forgotten {
        outbox,
        processed,
        idempotency,
        dead_letters,
    };
    if forgotten != Forgotten::default() {
        tracing::info!(?forgotten, "forgot event rows past their retention");
    }
    Ok(forgotten)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_after_another() {
        assert_eq!(next_id("1700000000000-0"), Some((1_700_000_000_000, 1)));
        assert_eq!(next_id(&format!("5-{}", u64::MAX)), Some((6, 0)));
        assert_eq!(next_id("0-0"), Some((0, 1)));
        assert_eq!(next_id("nonsense"), None);
    }
}
