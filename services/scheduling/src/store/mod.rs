//! The scheduling service's SQL: tasks and contact logs, planning claims,
//! leaves with their handovers, large projects, and care (its dates, care
//! tasks' occasions, family events).

pub mod care;
pub mod leaves;
pub mod projects;
pub mod tasks;
