//! Where an overdue task goes (DOMAIN.md §4, issue 14: "an overdue task is
//! escalated to the manager's lead"): to the group lead of the assignee's
//! unit, or of the nearest unit above it that has one. A lead's own overdue
//! task climbs past their unit to the next lead up. When the directory does
//! not place the assignee (or nobody leads a unit above them), the
//! customer's unit path is climbed the same way.

use std::collections::BTreeMap;

use super::units;

/// The lead a task is escalated to, and the unit whose lead they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escalation {
    pub unit: String,
    pub lead: String,
}

/// The nearest lead above `assignee` on `assignee_path`, else on
/// `customer_path` (unit ids from the company down); `leads` maps a unit id
/// to its group lead's staff id.
pub fn lead_for<S: AsRef<str>>(
    assignee: &str,
    assignee_path: &[S],
    customer_path: &[S],
    leads: &BTreeMap<String, String>,
) -> Option<Escalation> {
    [assignee_path, customer_path].into_iter().find_map(|path| {
        units::nearest(path, |unit| {
            leads
                .get(unit)
                .filter(|lead| lead.as_str() != assignee && !lead.is_empty())
        })
        .map(|(unit, lead)| Escalation {
            unit: unit.to_owned(),
            lead: lead.clone(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leads(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(u, l)| (u.to_string(), l.to_string()))
            .collect()
    }

    const LI: [&str; 3] = ["company", "east", "sh-pudong"];

    fn esc(unit: &str, lead: &str) -> Option<Escalation> {
        Some(Escalation {
            unit: unit.into(),
            lead: lead.into(),
        })
    }

    #[test]
    fn the_lead_of_the_assignees_own_unit_comes_first() {
        let l = leads(&[("sh-pudong", "wang"), ("east", "zhou"), ("company", "ceo")]);
        assert_eq!(lead_for("li", &LI, &[], &l), esc("sh-pudong", "wang"));
    }

    #[test]
    fn a_unit_without_a_lead_is_climbed_past() {
        let l = leads(&[("east", "zhou"), ("company", "ceo")]);
        assert_eq!(lead_for("li", &LI, &[], &l), esc("east", "zhou"));
        let top = leads(&[("company", "ceo")]);
        assert_eq!(lead_for("li", &LI, &[], &top), esc("company", "ceo"));
    }

    #[test]
    fn a_leads_own_task_goes_to_the_lead_above() {
        let l = leads(&[("sh-pudong", "wang"), ("east", "zhou")]);
        assert_eq!(lead_for("wang", &LI, &[], &l), esc("east", "zhou"));
        // The top lead's own task has nobody above.
        assert_eq!(lead_for("zhou", &LI[..2], &[], &l), None);
    }

    #[test]
    fn the_customers_units_serve_when_the_assignee_is_not_placed() {
        let l = leads(&[("bj", "sun")]);
        let customer = ["company", "north", "bj"];
        assert_eq!(lead_for("li", &[], &customer, &l), esc("bj", "sun"));
        // Placed, but no lead above them: the customer's path still serves.
        assert_eq!(lead_for("li", &LI, &customer, &l), esc("bj", "sun"));
        // A task nobody holds climbs the customer's path too.
        assert_eq!(lead_for("", &[], &customer, &l), esc("bj", "sun"));
    }

    #[test]
    fn no_lead_anywhere_is_no_escalation() {
        assert_eq!(lead_for("li", &LI, &LI, &leads(&[])), None);
        assert_eq!(lead_for("li", &LI, &[], &leads(&[("west", "x")])), None);
    }
}
