//! The scheduling rules, in plain Rust with no I/O: the policy section,
//! contact cadence and task planning, new-customer follow-up, large
//! projects' owners, care on the lunar calendar, contact windows and leave.

pub mod care;
pub mod contact_window;
pub mod leave;
pub mod lunar;
pub mod plan;
pub mod policy;
pub mod projects;
