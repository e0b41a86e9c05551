//! Who made a change, and when: what every service stamps on what it records
//! and audits.

use chrono::{DateTime, Utc};

/// Who made a change (a staff member's id, or the name of a background job
/// such as `review`), and when.
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    pub actor: &'a str,
    pub at: DateTime<Utc>,
}
