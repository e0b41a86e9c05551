//! The promises checked after each fault, read from the database and the
//! streams (never from logs): every acknowledged write present, none applied
//! twice, every committed event consumed by every group, tiers equal to what
//! the stored figures decide, complaint serials gap-free per month.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use anyhow::Context;
use patron_kit::clock::SystemClock;
use patron_kit::events::{readers, stream_key};
use patron_tiering::domain::evaluate;
use patron_tiering::{engine, store};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use super::load::{Ledger, complaint_marker, customer_marker};

/// Every schema with an outbox.
const SCHEMAS: &[&str] = &["profile", "tiering", "complaint", "scheduling"];

/// Where the checks read.
pub struct Sources {
    /// The services' database, as its administrator.
    pub database_url: String,
    pub redis_url: String,
    /// The streams' prefix (`PATRON_CACHE_PREFIX`).
    pub prefix: String,
}

impl Sources {
    async fn db(&self) -> anyhow::Result<PgConnection> {
        PgConnection::connect(&self.database_url)
            .await
            .context("connecting to the suite's PostgreSQL for the checks")
    }

    async fn redis(&self) -> anyhow::Result<redis::aio::MultiplexedConnection> {
        redis::Client::open(self.redis_url.as_str())?
            .get_multiplexed_async_connection()
            .await
            .context("connecting to the suite's Redis for the checks")
    }
}

/// The schema an event of `topic` is committed in (`profile.customers` →
/// `profile`).
fn source_of(topic: &str) -> &str {
    topic.split_once('.').map_or(topic, |(schema, _)| schema)
}

/// What is still in flight between the outboxes and the consumer groups;
/// empty once every committed event is published and every group has
/// processed and acknowledged it.
async fn events_in_flight(sources: &Sources) -> anyhow::Result<Vec<String>> {
    let mut db = sources.db().await?;
    let mut redis = sources.redis().await?;
    let mut found = Vec::new();
    for schema in SCHEMAS {
        let waiting: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {schema}.outbox WHERE published_at IS NULL"
        )))
        .fetch_one(&mut db)
        .await?;
        if waiting > 0 {
            found.push(format!("{schema}: {waiting} outbox events not published"));
        }
    }
    for reader in readers::ALL {
        // Each consuming service records what it processed in its own
        // schema, named as its group.
        let group = reader.group;
        for topic in reader.topics {
            let topic = topic.name();
            let source = source_of(topic);
            let missing: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT count(*) FROM {source}.outbox o
                  WHERE o.topic = $1
                    AND NOT EXISTS (SELECT 1 FROM {group}.processed_events p
                                     WHERE p.consumer_group = $2 AND p.event_id = o.event_id)"
            )))
            .bind(topic)
            .bind(group)
            .fetch_one(&mut db)
            .await?;
            if missing > 0 {
                found.push(format!(
                    "group {group}: {missing} committed events of {topic} not processed"
                ));
            }
            let key = stream_key(&sources.prefix, topic);
            let pending: redis::RedisResult<redis::Value> = redis::cmd("XPENDING")
                .arg(&key)
                .arg(group)
                .query_async(&mut redis)
                .await;
            match pending {
                Ok(redis::Value::Array(summary)) => {
                    if let Some(redis::Value::Int(n)) = summary.first()
                        && *n > 0
                    {
                        found.push(format!("group {group}: {n} entries pending on {key}"));
                    }
                }
                Ok(other) => found.push(format!("XPENDING {key} {group} answered {other:?}")),
                Err(e) => {
                    // No stream or no group: fine only when nothing was
                    // ever committed on the topic.
                    let committed: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                        "SELECT count(*) FROM {source}.outbox WHERE topic = $1"
                    )))
                    .bind(topic)
                    .fetch_one(&mut db)
                    .await?;
                    if committed > 0 {
                        found.push(format!("group {group} on {key}: {e}"));
                    }
                }
            }
        }
    }
    Ok(found)
}

/// Waits until every committed event is published and consumed by every
/// group (the invariant "every committed event consumed by every group");
/// fails naming what is still in flight after `patience`.
pub async fn wait_for_events(sources: &Sources, patience: Duration) -> anyhow::Result<()> {
    let started = tokio::time::Instant::now();
    let mut last = Vec::new();
    while started.elapsed() < patience {
        match events_in_flight(sources).await {
            Ok(found) if found.is_empty() => return Ok(()),
            Ok(found) => last = found,
            Err(e) => last = vec![format!("{e:#}")],
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    anyhow::bail!(
        "invariant broken: every committed event consumed by every consumer group \
         (still in flight {} s after the load stopped):\n  {}",
        patience.as_secs(),
        last.join("\n  ")
    )
}

/// Checks every invariant against what the ledger says was acknowledged;
/// the number of invariants checked, or an error naming each that broke.
pub async fn check(sources: &Sources, ledger: &Ledger) -> anyhow::Result<usize> {
    let mut db = sources.db().await?;
    let mut broken = Vec::new();
    let checks: [(&str, Vec<String>); 7] = [
        (
            "every acknowledged customer present",
            customers_present(&mut db, ledger).await?,
        ),
        (
            "no customer created twice for one request id",
            customers_once(&mut db, ledger).await?,
        ),
        (
            "every acknowledged transaction present",
            transactions_present(&mut db, ledger).await?,
        ),
        (
            "each transaction counted once in tiering's figures",
            figures_match(&mut db).await?,
        ),
        (
            "every acknowledged complaint present, once",
            complaints_present(&mut db, ledger).await?,
        ),
        (
            "complaint serials gap-free per month",
            serials_gap_free(&mut db).await?,
        ),
        (
            "no event set aside as a dead letter",
            no_dead_letters(&mut db).await?,
        ),
    ];
    let mut count = checks.len();
    for (name, problems) in checks {
        if !problems.is_empty() {
            broken.push(format!(
                "invariant broken: {name}:\n  {}",
                problems.join("\n  ")
            ));
        }
    }
    let tiers = tiers_match(&mut db, ledger).await?;
    count += 1;
    if !tiers.is_empty() {
        broken.push(format!(
            "invariant broken: tiers equal to what the stored figures decide:\n  {}",
            tiers.join("\n  ")
        ));
    }
    anyhow::ensure!(broken.is_empty(), "{}", broken.join("\n"));
    Ok(count)
}

/// At most a few examples of a long list.
fn some<T: std::fmt::Debug>(items: &[T]) -> String {
    let shown: Vec<String> = items.iter().take(5).map(|i| format!("{i:?}")).collect();
    format!("{} (e.g. {})", items.len(), shown.join(", "))
}

async fn customers_present(db: &mut PgConnection, ledger: &Ledger) -> anyhow::Result<Vec<String>> {
    let acked = ledger.customers.lock().unwrap().clone();
    let ids: Vec<Uuid> = acked.iter().map(|c| c.id).collect();
    let stored: HashMap<Uuid, String> =
        sqlx::query_as("SELECT id, display_name FROM profile.customers WHERE id = ANY($1)")
            .bind(&ids)
            .fetch_all(&mut *db)
            .await?
            .into_iter()
            .collect();
    let mut problems = Vec::new();
    let missing: Vec<Uuid> = ids
        .iter()
        .filter(|id| !stored.contains_key(id))
        .copied()
        .collect();
    if !missing.is_empty() {
        problems.push(format!("acknowledged but missing: {}", some(&missing)));
    }
    let wrong: Vec<Uuid> = acked
        .iter()
        .filter(|c| {
            stored
                .get(&c.id)
                .is_some_and(|n| *n != customer_marker(c.request_id))
        })
        .map(|c| c.id)
        .collect();
    if !wrong.is_empty() {
        problems.push(format!(
            "answered with another request's customer: {}",
            some(&wrong)
        ));
    }
    Ok(problems)
}

/// The markers of `tried` that `table`'s `column` holds more than once, with
/// how many times.
async fn stored_twice(
    db: &mut PgConnection,
    table: &str,
    column: &str,
    tried: &[String],
) -> anyhow::Result<Vec<(String, i64)>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {column}, count(*) FROM {table}
          WHERE {column} = ANY($1) GROUP BY {column} HAVING count(*) > 1"
    )))
    .bind(tried)
    .fetch_all(&mut *db)
    .await?)
}

async fn customers_once(db: &mut PgConnection, ledger: &Ledger) -> anyhow::Result<Vec<String>> {
    let tried: Vec<String> = (ledger.customer_attempts.lock().unwrap().iter())
        .map(|r| customer_marker(*r))
        .collect();
    let twice = stored_twice(db, "profile.customers", "display_name", &tried).await?;
    Ok(if twice.is_empty() {
        Vec::new()
    } else {
        vec![format!("created more than once: {}", some(&twice))]
    })
}

async fn transactions_present(
    db: &mut PgConnection,
    ledger: &Ledger,
) -> anyhow::Result<Vec<String>> {
    let acked = ledger.transactions.lock().unwrap().clone();
    let ids: Vec<&str> = acked.iter().map(|t| t.external_id.as_str()).collect();
    let stored: HashMap<String, (Uuid, i64)> = sqlx::query_as::<_, (String, Uuid, i64)>(
        "SELECT external_id, customer_id, amount_minor FROM profile.transactions
          WHERE external_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(&mut *db)
    .await?
    .into_iter()
    .map(|(e, c, a)| (e, (c, a)))
    .collect();
    let wrong: Vec<&str> = acked
        .iter()
        .filter(|t| stored.get(&t.external_id) != Some(&(t.customer, t.amount_minor)))
        .map(|t| t.external_id.as_str())
        .collect();
    Ok(if wrong.is_empty() {
        Vec::new()
    } else {
        vec![format!("missing or altered: {}", some(&wrong))]
    })
}

/// Per customer, what profile recorded against what tiering added up from
/// the events: an event lost or applied twice shows here.
async fn figures_match(db: &mut PgConnection) -> anyhow::Result<Vec<String>> {
    // Customer; spend and purchases as profile recorded them, then as
    // tiering figured them.
    type Differing = (Uuid, Option<i64>, Option<i64>, Option<i64>, Option<i64>);
    let differing: Vec<Differing> =
        sqlx::query_as(
            "WITH recorded AS (
                 SELECT customer_id, sum(amount_minor)::bigint AS spend, count(*)::bigint AS purchases
                   FROM profile.transactions WHERE kind = 1 GROUP BY customer_id),
             figured AS (
                 SELECT customer_id, sum(spend_minor)::bigint AS spend,
                        sum(purchases)::bigint AS purchases
                   FROM tiering.daily_figures GROUP BY customer_id)
             SELECT coalesce(r.customer_id, f.customer_id), r.spend, f.spend, r.purchases, f.purchases
               FROM recorded r FULL JOIN figured f ON f.customer_id = r.customer_id
              WHERE r.spend IS DISTINCT FROM f.spend OR r.purchases IS DISTINCT FROM f.purchases",
        )
        .fetch_all(&mut *db)
        .await?;
    Ok(differing
        .iter()
        .take(5)
        .map(|(c, rs, fs, rp, fp)| {
            format!(
                "customer {c}: profile recorded {rp:?} purchases for {rs:?}, \
                 tiering counts {fp:?} for {fs:?}"
            )
        })
        .chain((differing.len() > 5).then(|| format!("... {} customers in all", differing.len())))
        .collect())
}

async fn complaints_present(db: &mut PgConnection, ledger: &Ledger) -> anyhow::Result<Vec<String>> {
    let acked = ledger.complaints.lock().unwrap().clone();
    let ids: Vec<Uuid> = acked.iter().map(|c| c.id).collect();
    let stored: HashMap<Uuid, (String, String)> = sqlx::query_as::<_, (Uuid, String, String)>(
        "SELECT id, number, description FROM complaint.complaints WHERE id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(&mut *db)
    .await?
    .into_iter()
    .map(|(id, n, d)| (id, (n, d)))
    .collect();
    let mut problems = Vec::new();
    let wrong: Vec<Uuid> = acked
        .iter()
        .filter(|c| stored.get(&c.id) != Some(&(c.number.clone(), complaint_marker(c.request_id))))
        .map(|c| c.id)
        .collect();
    if !wrong.is_empty() {
        problems.push(format!("missing or renumbered: {}", some(&wrong)));
    }
    let tried: Vec<String> = (ledger.complaint_attempts.lock().unwrap().iter())
        .map(|r| complaint_marker(*r))
        .collect();
    let twice = stored_twice(db, "complaint.complaints", "description", &tried).await?;
    if !twice.is_empty() {
        problems.push(format!("taken more than once: {}", some(&twice)));
    }
    Ok(problems)
}

/// Each month's numbers are exactly 1..=the serial its counter last gave.
async fn serials_gap_free(db: &mut PgConnection) -> anyhow::Result<Vec<String>> {
    let counters: Vec<(String, i64)> =
        sqlx::query_as("SELECT month, last_serial FROM complaint.complaint_serials")
            .fetch_all(&mut *db)
            .await?;
    let numbers: Vec<String> = sqlx::query_scalar("SELECT number FROM complaint.complaints")
        .fetch_all(&mut *db)
        .await?;
    let mut by_month: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    let mut problems = Vec::new();
    for number in &numbers {
        match number
            .split_once('-')
            .and_then(|(m, s)| Some((m, s.parse().ok()?)))
        {
            Some((month, serial)) => {
                by_month.entry(month.to_owned()).or_default().insert(serial);
            }
            None => problems.push(format!("unreadable number {number:?}")),
        }
    }
    let mut counted = BTreeSet::new();
    for (month, last) in counters {
        // "2026-11" numbers as "2611-...".
        let yymm = format!("{}{}", &month[2..4], &month[5..7]);
        counted.insert(yymm.clone());
        let serials = by_month.remove(&yymm).unwrap_or_default();
        let expected: BTreeSet<i64> = (1..=last).collect();
        if serials != expected {
            let gaps: Vec<i64> = expected.difference(&serials).copied().collect();
            let extra: Vec<i64> = serials.difference(&expected).copied().collect();
            problems.push(format!(
                "{month}: counter at {last}, {} numbers; missing {}, beyond the counter {}",
                serials.len(),
                some(&gaps),
                some(&extra)
            ));
        }
    }
    for (month, serials) in by_month {
        problems.push(format!(
            "{month}: {} numbers without a counter",
            serials.len()
        ));
    }
    Ok(problems)
}

async fn no_dead_letters(db: &mut PgConnection) -> anyhow::Result<Vec<String>> {
    let mut problems = Vec::new();
    for reader in readers::ALL {
        let group = reader.group;
        let dead: Vec<(String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT topic, reason FROM {group}.dead_letters WHERE replayed_at IS NULL LIMIT 5"
        )))
        .fetch_all(&mut *db)
        .await?;
        for (topic, reason) in dead {
            problems.push(format!("group {group}, {topic}: {reason}"));
        }
    }
    Ok(problems)
}

/// Every customer with acknowledged purchases holds the tier tiering's own
/// evaluation gives its stored figures under the active policy (or has it
/// waiting for the review, when the policy makes downgrades wait).
async fn tiers_match(db: &mut PgConnection, ledger: &Ledger) -> anyhow::Result<Vec<String>> {
    let ids: Vec<Uuid> = (ledger.transactions.lock().unwrap().iter())
        .map(|t| t.customer)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // The tiering store's queries name its tables unqualified.
    sqlx::query("SET search_path = tiering")
        .execute(&mut *db)
        .await?;
    let row = store::active_policy(db)
        .await?
        .context("tiering has no active policy")?;
    let policy = engine::policy_of(&row)?;
    let standings = store::standings_of(db, &ids).await?;
    let today = patron_kit::clock::today(&SystemClock, super::ZONE);
    let mut figures =
        store::figures_of(db, &ids, &policy.figures_needed(), today, &standings).await?;
    let assignments = store::assignments_of(db, &ids).await?;
    sqlx::query("RESET search_path").execute(&mut *db).await?;
    let mut problems = Vec::new();
    for id in &ids {
        let earned = evaluate::evaluate(
            &policy,
            &figures.remove(id).unwrap_or_default(),
            &engine::standing_of(standings.get(id)),
        )
        .tier;
        match assignments.get(id) {
            None => problems.push(format!(
                "customer {id}: no tier decided, figures earn {earned:?}"
            )),
            Some(a) if a.tier != earned && a.pending_tier != earned => problems.push(format!(
                "customer {id}: holds {:?} (pending {:?}), figures earn {earned:?}",
                a.tier, a.pending_tier
            )),
            Some(_) => {}
        }
    }
    Ok(problems.into_iter().take(5).collect())
}

/// Each schema's relay: its rounds and the times it found Redis had lost
/// what it published (`outbox_relay`).
pub async fn relay_recoveries(
    sources: &Sources,
) -> anyhow::Result<BTreeMap<&'static str, (i64, i64)>> {
    let mut db = sources.db().await?;
    let mut found = BTreeMap::new();
    for schema in SCHEMAS {
        let row: (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT rounds, recovered FROM {schema}.outbox_relay"
        )))
        .fetch_one(&mut db)
        .await?;
        found.insert(*schema, row);
    }
    Ok(found)
}

/// The entries delivered to `consumer` of `group` and not yet acknowledged,
/// over the group's streams.
pub async fn pending_with(sources: &Sources, group: &str, consumer: &str) -> anyhow::Result<usize> {
    use redis::AsyncCommands;
    let reader = readers::ALL
        .iter()
        .find(|r| r.group == group)
        .with_context(|| format!("no consumer group {group}"))?;
    let mut redis = sources.redis().await?;
    let mut pending = 0;
    for topic in reader.topics {
        let key = stream_key(&sources.prefix, topic.name());
        let reply: redis::RedisResult<redis::streams::StreamInfoConsumersReply> =
            redis.xinfo_consumers(&key, group).await;
        if let Ok(reply) = reply {
            pending += (reply.consumers.iter())
                .filter(|c| c.name == consumer)
                .map(|c| c.pending)
                .sum::<usize>();
        }
    }
    Ok(pending)
}
