//! The scheduling rules, in plain Rust with no I/O: the policy section,
//! contact cadence and task planning, new-customer follow-up, large
//! projects' owners, care on the lunar calendar, contact windows (with the
//! customer's own stated habit), leave, gift and relationship expenses,
//! priority notices, service plans and the review of plans and logs,
//! activities and their figures, escalation of overdue tasks, who holds
//! the roles the cadence names along a unit path, and the calendar feed's
//! iCalendar text.

pub mod activities;
pub mod calendar_feed;
pub mod care;
pub mod contact_window;
pub mod escalation;
pub mod gift_expenses;
pub mod habit;
pub mod icalendar;
pub mod leave;
pub mod lunar;
pub mod plan;
pub mod policy;
pub mod priority_notices;
pub mod projects;
pub mod role_holders;
pub mod service_plans;
pub mod units;
