//! The scheduling service's SQL: tasks and contact logs, planning claims,
//! leaves with their handovers, and large projects.

pub mod leaves;
pub mod projects;
pub mod tasks;
