//! The scheduling rules, in plain Rust with no I/O: the policy section,
//! contact cadence and task planning, new-customer follow-up and large
//! projects' owners.

pub mod plan;
pub mod policy;
pub mod projects;
