//! The scheduling policy in force: the `[scheduling]` section of the preset
//! tiering last announced (kept by the kit, `directory::announced`), or of
//! the preset the service was configured with until then.

use std::sync::Arc;

use patron_kit::directory::announced::ActivePolicy;
use sqlx::PgPool;

use crate::domain::policy::{self, SchedulingPolicy};

/// The `[scheduling]` section as read, with the preset's currency (project
/// and gift amounts are in it) and its tiers.
#[derive(Debug, Clone)]
pub struct SchedulingSection {
    pub currency: String,
    pub policy: SchedulingPolicy,
    /// The preset's tier codes, highest first (priority notices go in
    /// this order).
    pub tiers: Vec<String>,
}

/// Every replica's view of the section in force.
pub type Policies = ActivePolicy<SchedulingSection>;

/// Reads a preset's `[scheduling]` section, checked against its tiers.
pub fn read_preset(text: &str) -> Result<SchedulingSection, String> {
    let preset = patron_presets::parse(text).map_err(|e| e.to_string())?;
    let policy = policy::parse(&preset).map_err(|e| {
        e.problems
            .iter()
            .map(|(field, problem)| format!("{field}: {problem}"))
            .collect::<Vec<_>>()
            .join("; ")
    })?;
    Ok(SchedulingSection {
        currency: preset.header.currency.clone(),
        policy,
        tiers: preset.tier_codes().to_vec(),
    })
}

/// The section in force for the service, reading `configured` (a preset's
/// text) until tiering announces one.
pub fn policies(pool: PgPool, configured: Option<&str>) -> Result<Policies, String> {
    ActivePolicy::new(pool, Arc::new(read_preset), configured)
}
