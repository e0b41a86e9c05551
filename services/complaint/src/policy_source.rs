//! The complaint policy in force. Tiering owns the versioned policies and
//! announces each activation (PolicyActivated, with the preset's whole
//! text); this service's consumer keeps the latest in `active_policy`, and
//! every replica reads it from there, at most `REFRESH` old. Until tiering
//! has announced one, the preset the service was configured with applies.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono_tz::Tz;
use patron_kit::ServiceError;
use sqlx::PgPool;
use tokio::sync::Mutex;

use crate::domain::policy::{self, ComplaintPolicy};
use crate::store;

/// How stale a replica's policy may be after an activation.
pub const REFRESH: Duration = Duration::from_secs(2);

/// A policy as read from a preset's text.
#[derive(Debug, Clone)]
pub struct LoadedPolicy {
    /// `(policy id, version)` when tiering announced it; `None` for the
    /// configured preset.
    pub source: Option<(String, i32)>,
    pub currency: String,
    pub policy: ComplaintPolicy,
}

/// Reads a preset's `[complaint]` section, checked against its tiers.
pub fn read_preset(text: &str, zone: Tz) -> Result<LoadedPolicy, String> {
    let preset = patron_presets::parse(text).map_err(|e| e.to_string())?;
    let section = preset
        .sections()
        .get("complaint")
        .ok_or_else(|| format!("the preset {} has no [complaint] section", preset.header.id))?;
    let currency = preset.header.currency.clone();
    let digits = patron_vocab::money::Currency::parse(&currency)
        .map_err(|e| format!("preset.currency: {e}"))?
        .digits();
    let minor_per_major = 10_i64.pow(digits);
    let policy = policy::parse(section, preset.tier_codes(), zone, minor_per_major)
        .map_err(|e| e.to_string())?;
    Ok(LoadedPolicy {
        source: None,
        currency,
        policy,
    })
}

struct Cached {
    loaded: Option<Arc<LoadedPolicy>>,
    read_at: Option<Instant>,
}

/// Every replica's view of the policy in force.
#[derive(Clone)]
pub struct Policies {
    pool: PgPool,
    zone: Tz,
    configured: Option<Arc<LoadedPolicy>>,
    cached: Arc<Mutex<Cached>>,
}

impl Policies {
    pub fn new(pool: PgPool, zone: Tz, configured: Option<LoadedPolicy>) -> Self {
        Self {
            pool,
            zone,
            configured: configured.map(Arc::new),
            cached: Arc::new(Mutex::new(Cached {
                loaded: None,
                read_at: None,
            })),
        }
    }

    /// The policy in force, or FAILED_PRECONDITION when there is none.
    pub async fn current(&self) -> Result<Arc<LoadedPolicy>, ServiceError> {
        let mut cached = self.cached.lock().await;
        let fresh = cached.read_at.is_some_and(|at| at.elapsed() < REFRESH);
        if !fresh {
            let row = store::policy::active(&self.pool).await?;
            let same = match (&row, &cached.loaded) {
                (Some(row), Some(loaded)) => {
                    loaded.source.as_ref() == Some(&(row.policy_id.clone(), row.version))
                }
                _ => false,
            };
            if !same {
                cached.loaded = match row {
                    Some(row) => match read_preset(&row.preset, self.zone) {
                        Ok(mut loaded) => {
                            loaded.source = Some((row.policy_id, row.version));
                            Some(Arc::new(loaded))
                        }
                        Err(problem) => {
                            // Tiering checked the preset; a section only this
                            // service reads may still be wrong. Keep serving
                            // by the last good one and say why.
                            tracing::error!(policy = %row.policy_id, version = row.version, %problem,
                                "the active policy's [complaint] section is refused; the previous one stays in force");
                            cached.loaded.clone()
                        }
                    },
                    None => None,
                };
            }
            cached.read_at = Some(Instant::now());
        }
        cached
            .loaded
            .clone()
            .or_else(|| self.configured.clone())
            .ok_or_else(|| {
                ServiceError::FailedPrecondition(
                    "no tier policy is active yet: activate one (its [complaint] section sets the deadlines)"
                        .into(),
                )
            })
    }

    /// Forgets the cached policy, so the next read goes to the database.
    pub async fn invalidate(&self) {
        self.cached.lock().await.read_at = None;
    }
}
