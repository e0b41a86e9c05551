//! The scheduling service's SQL: tasks and contact logs, planning claims,
//! leaves with their handovers, large projects, care (its dates, care
//! tasks' occasions, family events), gift and relationship expenses,
//! priority notices, service plans with work-log reviews, group leads,
//! role holders, activities and calendar feeds.

pub mod activities;
pub mod care;
pub mod feeds;
pub mod gift_expenses;
pub mod leads;
pub mod leaves;
pub mod priority_notices;
pub mod projects;
pub mod role_holders;
pub mod service_plans;
pub mod tasks;
