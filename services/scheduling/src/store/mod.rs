//! The scheduling service's SQL: tasks and contact logs, planning claims,
//! leaves with their handovers, large projects, group leads, activities and
//! calendar feeds.

pub mod activities;
pub mod feeds;
pub mod leads;
pub mod leaves;
pub mod projects;
pub mod tasks;
