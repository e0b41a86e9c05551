//! What the demo tells its user: what it loaded and where to look.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};

use super::plan;

/// What a demo run loaded.
#[derive(Debug, Clone)]
pub struct Summary {
    pub preset: String,
    pub company: String,
    pub seed: u64,
    /// The suite's "now" the year of purchases runs up to.
    pub now: DateTime<Utc>,
    pub policy: String,
    pub policy_version: i32,
    /// The preset was the policy in force already.
    pub policy_was_active: bool,
    pub units: usize,
    pub staff: usize,
    pub customers: usize,
    pub purchases: usize,
    pub refunds: usize,
    /// Purchases less refunds, minor units.
    pub spend_minor: i64,
    pub currency: String,
    /// Customers whose standing the company set (designation, grade, region).
    pub standings: usize,
    /// Customers per tier ("" for none).
    pub tiers: BTreeMap<String, usize>,
    pub complaint_desks: usize,
    /// Complaints per state (`received`, `closed`, …).
    pub complaints: BTreeMap<String, usize>,
    /// Of those, reopened, paused and repeating an earlier one.
    pub complaints_reopened: usize,
    pub complaints_paused: usize,
    pub complaints_repeating: usize,
    pub role_holders: usize,
    /// Tasks the scheduler planned.
    pub tasks: usize,
    /// Of those, closed by a logged contact.
    pub tasks_closed: usize,
    /// Contacts logged from the past month, without a task.
    pub earlier_contacts: usize,
    pub first_archive: String,
}

fn list(counts: &BTreeMap<String, usize>, empty_as: &str) -> String {
    counts
        .iter()
        .map(|(k, n)| format!("{} {n}", if k.is_empty() { empty_as } else { k }))
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let policy = if self.policy_was_active {
            "already in force"
        } else {
            "stored and activated"
        };
        let am = plan::staff()
            .into_iter()
            .find(|s| s.duty == plan::Duty::AccountManager)
            .map(|s| s.id)
            .unwrap_or_default();
        writeln!(
            f,
            "Loaded the demo company {} under the preset {} (seed {}, purchases up to {}):",
            self.company,
            self.preset,
            self.seed,
            self.now.to_rfc3339()
        )?;
        writeln!(
            f,
            "  policy      {} version {} ({policy})",
            self.policy, self.policy_version
        )?;
        writeln!(
            f,
            "  directory   {} org units, {} staff (a supervisor, {} complaint desks, per branch a lead, an outreach clerk and two account managers)",
            self.units, self.staff, self.complaint_desks
        )?;
        writeln!(
            f,
            "  customers   {} (DEMO-0001 on), {} purchases and {} refunds over the past year, {}.{:02} {} net",
            self.customers,
            self.purchases,
            self.refunds,
            self.spend_minor / 100,
            self.spend_minor % 100,
            self.currency
        )?;
        writeln!(
            f,
            "  standings   {} set by hand (designations, credit grades, regions)",
            self.standings
        )?;
        writeln!(f, "  tiers       {}", list(&self.tiers, "no tier"))?;
        writeln!(
            f,
            "  complaints  {} (of them {} reopened, {} paused, {} repeating an earlier one)",
            list(&self.complaints, "?"),
            self.complaints_reopened,
            self.complaints_paused,
            self.complaints_repeating
        )?;
        writeln!(
            f,
            "  scheduling  {} role holders, {} tasks planned, {} closed by a contact, {} earlier contacts logged",
            self.role_holders, self.tasks, self.tasks_closed, self.earlier_contacts
        )?;
        writeln!(
            f,
            "Where to look (through the gateway, with a token from `patron token`):"
        )?;
        writeln!(
            f,
            "  GET /v1/customers?archiveNumber={}      an archive",
            self.first_archive
        )?;
        writeln!(
            f,
            "  GET /v1/topCustomers                      who spends most"
        )?;
        writeln!(
            f,
            "  GET /v1/complaints?state=COMPLAINT_STATE_AWAITING_SIGN_OFF   (any state)"
        )?;
        writeln!(
            f,
            "  GET /v1/complaintFigures?startDate.year=…&startDate.month=…&startDate.day=…&endDate…"
        )?;
        writeln!(
            f,
            "  GET /v1/tasks, /v1/contactLogs, /v1/roleHolders, /v1/tierAssignments:churnRisks"
        )?;
        write!(
            f,
            "  as a staff member: `patron token --subject {am} --role account_manager` (staff ids: GET /v1/staff)"
        )
    }
}
