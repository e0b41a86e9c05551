//! The complaint rules, in plain Rust with no I/O: the workflow, numbers,
//! working-time deadlines, sign-off authority, repeats, escalation and the
//! policy section that parameterises them.

pub mod calendar;
pub mod deadlines;
pub mod handling;
pub mod numbering;
pub mod policy;
pub mod repeat;
pub mod sign_off;
pub mod workflow;
