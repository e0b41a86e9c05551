//! Tiering's rules in plain Rust, no I/O: policies, presets, evaluation.

pub mod activity;
pub mod churn;
pub mod churn_rate;
pub mod discounts;
pub mod evaluate;
pub mod points_rules;
pub mod policy;
pub mod preset;
pub mod tier_decision;
pub mod windows;

/// A policy id: 1–63 lower-case letters, digits and dashes.
pub fn check_policy_id(id: &str) -> Result<(), &'static str> {
    let ok = !id.is_empty()
        && id.len() <= 63
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
        && !id.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err("must be 1–63 lower-case letters, digits and dashes")
    }
}
