//! tiering: versioned tier policies from the companies' presets and
//! explainable evaluation (DOMAIN.md §2). The rules are in `domain`.

pub mod domain;

/// The schema (and role `patron_tiering`) this service owns.
pub const SCHEMA: &str = "tiering";
