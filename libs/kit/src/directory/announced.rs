//! What tiering announces that other services keep: each customer's tier
//! (TierChanged) and the tier policy in force (PolicyActivated, the whole
//! preset). A service reads its own section of that preset through
//! [`ActivePolicy`], which every replica refreshes from the table at most
//! [`REFRESH`] late.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use patron_proto::common::v1::EventEnvelope;
use patron_proto::tiering::v1::{PolicyActivated, TierChanged};
use prost::Name;
use sqlx::{PgConnection, PgPool};
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::error::ServiceError;
use crate::{events, resource_name};

/// How stale a replica's policy may be after an activation.
pub const REFRESH: Duration = Duration::from_secs(2);

/// Applies `event` if it is one of tiering's announcements; whether it was.
pub async fn apply_event(
    tx: &mut PgConnection,
    event: &EventEnvelope,
    at: DateTime<Utc>,
) -> anyhow::Result<bool> {
    if event.event_type == TierChanged::full_name() {
        let Some(changed) = events::payload::<TierChanged>(event) else {
            return Ok(true);
        };
        match resource_name::parse("customer", "customers", &changed.customer) {
            Ok(customer) => keep_tier(tx, customer, &changed.to_tier_code, at).await?,
            Err(_) => {
                tracing::warn!(customer = %changed.customer, "TierChanged names no customer; skipped")
            }
        }
        return Ok(true);
    }
    // Each activation kept is counted (what was planned under an earlier
    // one is out of date); the one in force announced again changes nothing.
    if event.event_type == PolicyActivated::full_name() {
        let Some(activated) = events::payload::<PolicyActivated>(event) else {
            return Ok(true);
        };
        let policy_id = activated.policy.trim_start_matches("tierPolicies/");
        sqlx::query(
            "INSERT INTO announced_policy (singleton, policy_id, version, preset, activated_at)
             VALUES (true, $1, $2, $3, $4)
             ON CONFLICT (singleton) DO UPDATE
                SET policy_id = $1, version = $2, preset = $3, activated_at = $4,
                    activation = announced_policy.activation + 1
              WHERE announced_policy.activated_at <= $4
                AND (announced_policy.policy_id, announced_policy.version) IS DISTINCT FROM ($1, $2)",
        )
        .bind(policy_id)
        .bind(activated.version)
        .bind(&activated.preset_text)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        tracing::info!(policy = %policy_id, version = activated.version, "the announced tier policy is kept");
        return Ok(true);
    }
    Ok(false)
}

/// Keeps the tier announced `at`, unless a later announcement is kept.
pub async fn keep_tier(
    tx: &mut PgConnection,
    customer_id: Uuid,
    tier: &str,
    at: DateTime<Utc>,
) -> Result<(), ServiceError> {
    sqlx::query(
        "INSERT INTO customer_tiers (customer_id, tier, changed_at) VALUES ($1, $2, $3)
         ON CONFLICT (customer_id) DO UPDATE SET tier = $2, changed_at = $3
          WHERE customer_tiers.changed_at <= $3",
    )
    .bind(customer_id)
    .bind(tier)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The customer's tier; empty when tiering has not tiered them.
pub async fn tier_of(conn: &mut PgConnection, customer_id: Uuid) -> Result<String, ServiceError> {
    Ok(
        sqlx::query_scalar("SELECT tier FROM customer_tiers WHERE customer_id = $1")
            .bind(customer_id)
            .fetch_optional(&mut *conn)
            .await?
            .unwrap_or_default(),
    )
}

/// The tiers of `customers` that hold one, as tiering last announced them.
pub async fn tiers_of(
    conn: &mut PgConnection,
    customers: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, String>, ServiceError> {
    let rows: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT customer_id, tier FROM customer_tiers WHERE customer_id = ANY($1)")
            .bind(customers)
            .fetch_all(&mut *conn)
            .await?;
    Ok(rows.into_iter().collect())
}

/// A service's reading of a preset's text (its own section), or why not.
pub type ReadSection<T> = Arc<dyn Fn(&str) -> Result<T, String> + Send + Sync>;

/// A section as read, and where the preset came from.
#[derive(Debug)]
pub struct Loaded<T> {
    /// `(policy id, version)` when tiering announced it; `None` for the
    /// preset the service was configured with.
    pub source: Option<(String, i32)>,
    /// Which activation this service has kept it as, counting from 1
    /// (`None` for the configured preset): what was planned under an
    /// earlier activation is out of date.
    pub activation: Option<i64>,
    pub value: T,
}

struct Cached<T> {
    loaded: Option<Arc<Loaded<T>>>,
    read_at: Option<Instant>,
}

/// Every replica's view of its section of the policy in force. Until tiering
/// has announced one, the configured preset applies.
pub struct ActivePolicy<T> {
    pool: PgPool,
    read: ReadSection<T>,
    configured: Option<Arc<Loaded<T>>>,
    cached: Arc<Mutex<Cached<T>>>,
}

impl<T> Clone for ActivePolicy<T> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            read: self.read.clone(),
            configured: self.configured.clone(),
            cached: self.cached.clone(),
        }
    }
}

impl<T: Send + Sync + 'static> ActivePolicy<T> {
    /// `configured` is the configured preset's text, refused here when the
    /// section does not read.
    pub fn new(
        pool: PgPool,
        read: ReadSection<T>,
        configured: Option<&str>,
    ) -> Result<Self, String> {
        let configured = match configured {
            Some(text) => Some(Arc::new(Loaded {
                source: None,
                activation: None,
                value: read(text)?,
            })),
            None => None,
        };
        Ok(Self {
            pool,
            read,
            configured,
            cached: Arc::new(Mutex::new(Cached {
                loaded: None,
                read_at: None,
            })),
        })
    }

    /// The section in force, or FAILED_PRECONDITION when there is none.
    pub async fn current(&self) -> Result<Arc<Loaded<T>>, ServiceError> {
        let mut cached = self.cached.lock().await;
        let fresh = cached.read_at.is_some_and(|at| at.elapsed() < REFRESH);
        if !fresh {
            let row: Option<(String, i32, String, i64)> = sqlx::query_as(
                "SELECT policy_id, version, preset, activation FROM announced_policy",
            )
            .fetch_optional(&self.pool)
            .await?;
            if let Some((policy_id, version, preset, activation)) = row {
                let source = Some((policy_id, version));
                let activation = Some(activation);
                let same = cached
                    .loaded
                    .as_ref()
                    .is_some_and(|l| l.source == source && l.activation == activation);
                if !same {
                    match (self.read)(&preset) {
                        Ok(value) => {
                            cached.loaded = Some(Arc::new(Loaded {
                                source,
                                activation,
                                value,
                            }))
                        }
                        // Tiering checked the preset; a section only this
                        // service reads may still be wrong. The last good one
                        // stays in force, and the log says why.
                        Err(problem) => tracing::error!(?source, %problem,
                            "the announced policy's section is refused; the previous one stays in force"),
                    }
                }
            }
            cached.read_at = Some(Instant::now());
        }
        cached
            .loaded
            .clone()
            .or_else(|| self.configured.clone())
            .ok_or_else(|| {
                ServiceError::FailedPrecondition(
                    "no tier policy is active yet: activate one (its sections set this service's rules)"
                        .into(),
                )
            })
    }
}
