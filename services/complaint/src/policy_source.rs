//! The complaint policy in force: the `[complaint]` section of the preset
//! tiering last announced (kept by the kit, `directory::announced`), or of
//! the preset the service was configured with until then.

use std::sync::Arc;

use chrono_tz::Tz;
use patron_kit::directory::announced::ActivePolicy;
use sqlx::PgPool;

use crate::domain::policy::{self, ComplaintPolicy};

/// The `[complaint]` section as read, with the preset's currency (loss
/// amounts are in it).
#[derive(Debug, Clone)]
pub struct ComplaintSection {
    pub currency: String,
    pub policy: ComplaintPolicy,
}

/// Every replica's view of the section in force.
pub type Policies = ActivePolicy<ComplaintSection>;

/// Reads a preset's `[complaint]` section, checked against its tiers.
pub fn read_preset(text: &str, zone: Tz) -> Result<ComplaintSection, String> {
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
    Ok(ComplaintSection { currency, policy })
}

/// The section in force for the service, reading `configured` (a preset's
/// text) until tiering announces one.
pub fn policies(pool: PgPool, zone: Tz, configured: Option<&str>) -> Result<Policies, String> {
    ActivePolicy::new(
        pool,
        Arc::new(move |text: &str| read_preset(text, zone)),
        configured,
    )
}
