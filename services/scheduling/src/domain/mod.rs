//! The scheduling rules, in plain Rust with no I/O: the policy section,
//! contact cadence and task planning, new-customer follow-up, large
//! projects' owners, care on the lunar calendar, contact windows, leave,
//! activities and their figures, escalation of overdue tasks and the
//! calendar feed's iCalendar text.

pub mod activities;
pub mod calendar_feed;
pub mod care;
pub mod contact_window;
pub mod escalation;
pub mod icalendar;
pub mod leave;
pub mod lunar;
pub mod plan;
pub mod policy;
pub mod projects;
