//! complaint: customers' complaints from intake to sign-off (DOMAIN.md §3).
//! The rules are in `domain`.

pub mod domain;
