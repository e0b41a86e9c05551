//! A manager's leave (000 3.16: while a VIP service member is on leave, the
//! lead of their group takes over their customers' service). Their open
//! tasks due by the leave's end go to the group lead when it starts, and
//! new tasks for their customers during it are the lead's; when it ends,
//! whatever the lead has not done goes back. Every move is a handover
//! record, both ways.

use chrono::{DateTime, NaiveDate, Utc};

/// A manager's leave, `from` to `to`, both days included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leave {
    pub manager: String,
    /// Who covers: the lead of the manager's group.
    pub lead: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaveError {
    #[error("a leave must not end before it starts")]
    EndsBeforeItStarts,
    #[error("a manager cannot cover their own leave")]
    CoversThemselves,
    #[error("{manager} is already on leave from {from} to {to}")]
    Overlaps {
        manager: String,
        from: NaiveDate,
        to: NaiveDate,
    },
    /// The cover would be away too; a task must never land on an absent
    /// person, so the lead's own cover is chosen first.
    #[error("the group lead {lead} is on leave from {from} to {to}")]
    LeadAway {
        lead: String,
        from: NaiveDate,
        to: NaiveDate,
    },
}

impl Leave {
    /// Whether `day` is a day of the leave.
    pub fn covers(&self, day: NaiveDate) -> bool {
        (self.from..=self.to).contains(&day)
    }

    fn overlaps(&self, other: &Leave) -> bool {
        self.from <= other.to && other.from <= self.to
    }

    /// Checks a new leave against the leaves already recorded.
    pub fn check(&self, recorded: &[Leave]) -> Result<(), LeaveError> {
        if self.to < self.from {
            return Err(LeaveError::EndsBeforeItStarts);
        }
        if self.lead == self.manager {
            return Err(LeaveError::CoversThemselves);
        }
        for other in recorded.iter().filter(|o| self.overlaps(o)) {
            if other.manager == self.manager {
                return Err(LeaveError::Overlaps {
                    manager: other.manager.clone(),
                    from: other.from,
                    to: other.to,
                });
            }
            if other.manager == self.lead {
                return Err(LeaveError::LeadAway {
                    lead: other.manager.clone(),
                    from: other.from,
                    to: other.to,
                });
            }
        }
        Ok(())
    }
}

/// What leave needs to know of a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRef {
    pub id: String,
    /// Who does it now.
    pub assignee: String,
    pub due: NaiveDate,
    /// Not yet done nor cancelled.
    pub open: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// To the lead, for the leave.
    ToCover,
    /// Back to the manager, after it.
    Back,
}

/// One task moved from one person to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handover {
    pub task: String,
    pub from: String,
    pub to: String,
    pub at: DateTime<Utc>,
    pub direction: Direction,
}

/// When the leave starts (`at`): the manager's open tasks due by its last
/// day, overdue ones included, go to the lead. Tasks due after it stay.
pub fn hand_over(leave: &Leave, tasks: &[TaskRef], at: DateTime<Utc>) -> Vec<Handover> {
    tasks
        .iter()
        .filter(|t| t.open && t.assignee == leave.manager && t.due <= leave.to)
        .map(|t| Handover {
            task: t.id.clone(),
            from: leave.manager.clone(),
            to: leave.lead.clone(),
            at,
            direction: Direction::ToCover,
        })
        .collect()
}

/// Who a new task for a customer of `manager`, created on `today`, goes
/// to: the lead while the manager is on leave (with the record to keep),
/// the manager otherwise.
pub fn assign_new_task(
    task: &str,
    manager: &str,
    today: NaiveDate,
    leaves: &[Leave],
    at: DateTime<Utc>,
) -> (String, Option<Handover>) {
    match leaves
        .iter()
        .find(|l| l.manager == manager && l.covers(today))
    {
        Some(leave) => (
            leave.lead.clone(),
            Some(Handover {
                task: task.to_owned(),
                from: leave.manager.clone(),
                to: leave.lead.clone(),
                at,
                direction: Direction::ToCover,
            }),
        ),
        None => (manager.to_owned(), None),
    }
}

/// When the leave ends (`at`): every task handed to the lead for it
/// (`records`, this leave's) that is still open and still the lead's goes
/// back. A task the lead passed on to someone else stays where it is.
pub fn hand_back(
    leave: &Leave,
    records: &[Handover],
    tasks: &[TaskRef],
    at: DateTime<Utc>,
) -> Vec<Handover> {
    let mut back: Vec<Handover> = Vec::new();
    for record in records.iter().filter(|r| {
        r.direction == Direction::ToCover && r.from == leave.manager && r.to == leave.lead
    }) {
        let still_leads = tasks
            .iter()
            .any(|t| t.id == record.task && t.open && t.assignee == leave.lead);
        if still_leads && !back.iter().any(|b| b.task == record.task) {
            back.push(Handover {
                task: record.task.clone(),
                from: leave.lead.clone(),
                to: leave.manager.clone(),
                at,
                direction: Direction::Back,
            });
        }
    }
    back
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn day(m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, d).unwrap()
    }

    fn at(m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, m, d, 0, 0, 0).unwrap()
    }

    fn leave(manager: &str, lead: &str, from: NaiveDate, to: NaiveDate) -> Leave {
        Leave {
            manager: manager.into(),
            lead: lead.into(),
            from,
            to,
        }
    }

    fn task(id: &str, assignee: &str, due: NaiveDate, open: bool) -> TaskRef {
        TaskRef {
            id: id.into(),
            assignee: assignee.into(),
            due,
            open,
        }
    }

    #[test]
    fn overlapping_leaves_are_refused() {
        let recorded = [leave("wang", "li", day(5, 4), day(5, 8))];
        let check = |l: Leave| l.check(&recorded);
        assert!(matches!(
            check(leave("wang", "li", day(5, 8), day(5, 10))),
            Err(LeaveError::Overlaps { .. })
        ));
        assert!(matches!(
            check(leave("wang", "li", day(5, 1), day(5, 4))),
            Err(LeaveError::Overlaps { .. })
        ));
        assert_eq!(check(leave("wang", "li", day(5, 9), day(5, 10))), Ok(()));
        assert_eq!(check(leave("zhao", "li", day(5, 5), day(5, 6))), Ok(()));
        assert!(matches!(
            check(leave("li", "chen", day(5, 6), day(5, 6))),
            Ok(())
        ));
        assert!(matches!(
            check(leave("zhao", "wang", day(5, 6), day(5, 6))),
            Err(LeaveError::LeadAway { .. })
        ));
        assert_eq!(
            check(leave("wang", "li", day(5, 12), day(5, 11))),
            Err(LeaveError::EndsBeforeItStarts)
        );
        assert_eq!(
            check(leave("wang", "wang", day(5, 12), day(5, 12))),
            Err(LeaveError::CoversThemselves)
        );
    }

    #[test]
    fn due_tasks_go_to_the_lead_and_come_back() {
        let l = leave("wang", "li", day(5, 4), day(5, 8));
        let tasks = [
            task("overdue", "wang", day(5, 1), true),
            task("during", "wang", day(5, 6), true),
            task("last-day", "wang", day(5, 8), true),
            task("after", "wang", day(5, 9), true),
            task("done", "wang", day(5, 5), false),
            task("someone-elses", "zhao", day(5, 5), true),
        ];
        let out = hand_over(&l, &tasks, at(5, 4));
        let moved: Vec<&str> = out.iter().map(|h| h.task.as_str()).collect();
        assert_eq!(moved, ["overdue", "during", "last-day"]);
        assert!(out.iter().all(|h| h.from == "wang"
            && h.to == "li"
            && h.at == at(5, 4)
            && h.direction == Direction::ToCover));

        // A new task for wang's customer during the leave is li's.
        let (assignee, record) =
            assign_new_task("new", "wang", day(5, 5), std::slice::from_ref(&l), at(5, 5));
        assert_eq!(assignee, "li");
        let mut records = out.clone();
        records.extend(record);
        // After the leave, wang's own again, with no record.
        assert_eq!(
            assign_new_task(
                "later",
                "wang",
                day(5, 9),
                std::slice::from_ref(&l),
                at(5, 9)
            ),
            ("wang".to_owned(), None)
        );

        // Li did "overdue", passed "during" to chen; the rest is still open.
        let now = [
            task("overdue", "li", day(5, 1), false),
            task("during", "chen", day(5, 6), true),
            task("last-day", "li", day(5, 8), true),
            task("new", "li", day(5, 7), true),
        ];
        let back = hand_back(&l, &records, &now, at(5, 9));
        let returned: Vec<&str> = back.iter().map(|h| h.task.as_str()).collect();
        assert_eq!(returned, ["last-day", "new"]);
        assert!(back.iter().all(|h| h.from == "li"
            && h.to == "wang"
            && h.at == at(5, 9)
            && h.direction == Direction::Back));
    }

    #[test]
    fn another_leaves_records_are_not_returned_by_this_one() {
        let l = leave("wang", "li", day(5, 4), day(5, 8));
        let other = Handover {
            task: "t".into(),
            from: "zhao".into(),
            to: "li".into(),
            at: at(5, 4),
            direction: Direction::ToCover,
        };
        let tasks = [task("t", "li", day(5, 6), true)];
        assert!(hand_back(&l, &[other], &tasks, at(5, 9)).is_empty());
    }
}
