//! What a staff member's calendar feed shows: their open tasks (care and
//! notices included) on the day each is due — an overdue one today, marked
//! so — with why it exists, whom it is for and, for a moved task, the reason
//! it was moved and whether that made it late; the tasks escalated to them;
//! their leaves and the leaves they cover; and the activities their
//! customers are invited to. Customers appear by resource name only: the
//! feed is read with no sign-in, so it carries no personal data.

use chrono::{DateTime, NaiveDate, Utc};

use super::activities::ActivityKind;
use super::icalendar::{Calendar, Entry, When};

/// How often calendar applications are asked to fetch the feed again.
pub const REFRESH_MINUTES: u32 = 60;

/// An open task in the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedTask {
    pub id: String,
    /// `cadence`, `new_customer`, `care` or `notice`.
    pub kind: String,
    /// `customers/{id}`.
    pub customer: String,
    pub tier: String,
    pub channel: String,
    pub role: String,
    /// The rule it comes from, in words.
    pub rule: String,
    pub due: NaiveDate,
    /// The last day it is on time.
    pub latest: NaiveDate,
    /// Why it was moved, when it was.
    pub snooze_reason: String,
    pub version: i64,
    /// Whose task it is, when it is another's escalated to the feed's owner.
    pub escalated_from: Option<String>,
    /// Whose task it was, when the owner holds it while they are on leave.
    pub covering_for: Option<String>,
}

/// A leave in the feed: the owner's, or one they cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedLeave {
    pub id: String,
    pub staff_member: String,
    pub stand_in: String,
    pub first: NaiveDate,
    pub last: NaiveDate,
}

/// An activity the owner's customers are invited to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedActivity {
    pub id: String,
    pub title: String,
    pub kind: ActivityKind,
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    pub location: String,
    pub description: String,
    /// How many of the owner's customers are invited.
    pub invited: u64,
}

fn channel_words(channel: &str) -> &str {
    match channel {
        "visit" => "visit",
        "phone" => "call",
        "sms" => "SMS",
        "email" => "e-mail",
        "letter" => "letter",
        "fax" => "fax",
        other => other,
    }
}

fn kind_words(kind: &str) -> &'static str {
    match kind {
        "care" => "Care",
        "notice" => "Notice",
        "new_customer" => "New customer",
        _ => "Contact",
    }
}

fn sequence(version: i64) -> u32 {
    u32::try_from(version.saturating_sub(1)).unwrap_or(u32::MAX)
}

/// The feed entry of a task, as of `today`.
pub fn task_entry(task: &FeedTask, today: NaiveDate) -> Entry {
    let overdue = task.due < today;
    let mut summary = String::new();
    if task.escalated_from.is_some() {
        summary.push_str("Escalated: ");
    }
    if overdue {
        summary.push_str(&format!("Overdue since {}: ", task.due));
    }
    summary.push_str(&format!(
        "{}: {} {}",
        kind_words(&task.kind),
        channel_words(&task.channel),
        task.customer
    ));
    if !task.tier.is_empty() {
        summary.push_str(&format!(" (tier {})", task.tier));
    }
    let mut lines = vec![task.rule.clone()];
    if !task.role.is_empty() {
        lines.push(format!("By: {}", task.role));
    }
    lines.push(format!("Due {}; on time until {}", task.due, task.latest));
    if !task.snooze_reason.is_empty() {
        lines.push(format!("Moved: {}", task.snooze_reason));
    }
    if task.due > task.latest || (overdue && today > task.latest) {
        lines.push(format!(
            "Late: past its cadence (on time until {})",
            task.latest
        ));
    }
    if let Some(from) = &task.escalated_from {
        lines.push(format!("Escalated to you: overdue, assigned to {from}"));
    }
    if let Some(from) = &task.covering_for {
        lines.push(format!("Covering for {from} while they are on leave"));
    }
    lines.push(format!("Task: tasks/{}", task.id));
    Entry {
        uid: format!("task-{}@patron", task.id),
        when: When::day(if overdue { today } else { task.due }),
        summary,
        description: lines.join("\n"),
        location: String::new(),
        categories: vec![task.kind.clone()],
        sequence: sequence(task.version),
    }
}

/// The feed entry of a leave, as seen by `owner`.
pub fn leave_entry(leave: &FeedLeave, owner: &str) -> Entry {
    let (summary, description) = if leave.staff_member == owner {
        (
            "On leave".to_owned(),
            format!("{} covers your due tasks", leave.stand_in),
        )
    } else {
        (
            format!("Covering for {} (on leave)", leave.staff_member),
            format!(
                "Their due tasks and their customers' new tasks are yours until {}",
                leave.last
            ),
        )
    };
    Entry {
        uid: format!("leave-{}@patron", leave.id),
        when: When::Days {
            first: leave.first,
            last: leave.last,
        },
        summary,
        description,
        location: String::new(),
        categories: vec!["leave".into()],
        sequence: 0,
    }
}

/// The feed entry of an activity.
pub fn activity_entry(activity: &FeedActivity) -> Entry {
    let kind = match activity.kind {
        ActivityKind::Symposium => "Symposium",
        ActivityKind::Reward => "Reward activity",
    };
    let mut description = format!("{} of your customers invited", activity.invited);
    if !activity.description.is_empty() {
        description.push('\n');
        description.push_str(&activity.description);
    }
    description.push_str(&format!("\nActivity: activities/{}", activity.id));
    Entry {
        uid: format!("activity-{}@patron", activity.id),
        when: When::Time {
            start: activity.start,
            end: activity.end,
        },
        summary: format!("{kind}: {}", activity.title),
        description,
        location: activity.location.clone(),
        categories: vec![activity.kind.as_str().into()],
        sequence: 0,
    }
}

/// `owner`'s feed as of `today`.
pub fn calendar(
    owner: &str,
    today: NaiveDate,
    tasks: &[FeedTask],
    leaves: &[FeedLeave],
    activities: &[FeedActivity],
) -> Calendar {
    let mut entries: Vec<Entry> = tasks.iter().map(|t| task_entry(t, today)).collect();
    entries.extend(leaves.iter().map(|l| leave_entry(l, owner)));
    entries.extend(activities.iter().map(activity_entry));
    Calendar {
        name: format!("Patron: {owner}"),
        refresh_minutes: REFRESH_MINUTES,
        entries,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn task() -> FeedTask {
        FeedTask {
            id: "t1".into(),
            kind: "cadence".into(),
            customer: "customers/c1".into(),
            tier: "A".into(),
            channel: "visit".into(),
            role: "store_manager".into(),
            rule: "visit by store_manager (cadence.A[0])".into(),
            due: day(2027, 1, 4),
            latest: day(2027, 1, 4),
            snooze_reason: String::new(),
            version: 1,
            escalated_from: None,
            covering_for: None,
        }
    }

    #[test]
    fn a_task_is_an_all_day_entry_on_its_due_day() {
        let entry = task_entry(&task(), day(2027, 1, 1));
        assert_eq!(entry.when, When::day(day(2027, 1, 4)));
        assert_eq!(entry.uid, "task-t1@patron");
        assert_eq!(entry.summary, "Contact: visit customers/c1 (tier A)");
        assert_eq!(
            entry.description,
            "visit by store_manager (cadence.A[0])\nBy: store_manager\n\
             Due 2027-01-04; on time until 2027-01-04\nTask: tasks/t1"
        );
        assert_eq!(entry.sequence, 0);
        assert_eq!(entry.categories, ["cadence"]);
    }

    #[test]
    fn a_moved_task_keeps_its_reason_and_says_when_it_is_late() {
        let mut moved = task();
        moved.due = day(2027, 1, 3);
        moved.latest = day(2027, 1, 5);
        moved.snooze_reason = "the customer is travelling".into();
        moved.version = 3;
        let entry = task_entry(&moved, day(2027, 1, 1));
        assert!(
            entry
                .description
                .contains("Moved: the customer is travelling")
        );
        assert!(
            !entry.description.contains("Late"),
            "still within its cadence"
        );
        assert_eq!(entry.sequence, 2);
        moved.due = day(2027, 1, 8);
        let late = task_entry(&moved, day(2027, 1, 1));
        assert!(
            late.description
                .contains("Moved: the customer is travelling")
        );
        assert!(
            late.description
                .contains("Late: past its cadence (on time until 2027-01-05)")
        );
    }

    #[test]
    fn an_overdue_task_shows_today_and_an_escalated_one_says_whose() {
        let mut overdue = task();
        overdue.escalated_from = Some("staff/li.na".into());
        let entry = task_entry(&overdue, day(2027, 1, 6));
        assert_eq!(entry.when, When::day(day(2027, 1, 6)));
        assert_eq!(
            entry.summary,
            "Escalated: Overdue since 2027-01-04: Contact: visit customers/c1 (tier A)"
        );
        assert!(entry.description.contains("Late: past its cadence"));
        assert!(
            entry
                .description
                .contains("Escalated to you: overdue, assigned to staff/li.na")
        );
        // Due today is not overdue.
        let today = task_entry(&task(), day(2027, 1, 4));
        assert!(!today.summary.contains("Overdue"));
    }

    #[test]
    fn care_and_covered_tasks_say_so() {
        let mut care = task();
        care.kind = "care".into();
        care.channel = "letter".into();
        care.tier = String::new();
        care.covering_for = Some("staff/li.na".into());
        let entry = task_entry(&care, day(2027, 1, 1));
        assert_eq!(entry.summary, "Care: letter customers/c1");
        assert!(
            entry
                .description
                .contains("Covering for staff/li.na while they are on leave")
        );
    }

    #[test]
    fn leaves_and_activities_read_from_the_owners_side() {
        let leave = FeedLeave {
            id: "l1".into(),
            staff_member: "staff/li.na".into(),
            stand_in: "staff/wang".into(),
            first: day(2027, 2, 1),
            last: day(2027, 2, 3),
        };
        let own = leave_entry(&leave, "staff/li.na");
        assert_eq!(own.summary, "On leave");
        assert_eq!(
            own.when,
            When::Days {
                first: day(2027, 2, 1),
                last: day(2027, 2, 3)
            }
        );
        assert_eq!(
            leave_entry(&leave, "staff/wang").summary,
            "Covering for staff/li.na (on leave)"
        );
        let start = Utc.with_ymd_and_hms(2027, 9, 15, 2, 0, 0).unwrap();
        let activity = FeedActivity {
            id: "a1".into(),
            title: "中秋 VIP 座谈会".into(),
            kind: ActivityKind::Symposium,
            start,
            end: None,
            location: "Hall 3".into(),
            description: "mooncakes".into(),
            invited: 4,
        };
        let entry = activity_entry(&activity);
        assert_eq!(entry.summary, "Symposium: 中秋 VIP 座谈会");
        assert_eq!(
            entry.description,
            "4 of your customers invited\nmooncakes\nActivity: activities/a1"
        );
        assert_eq!(entry.when, When::Time { start, end: None });
        let feed = calendar(
            "staff/li.na",
            day(2027, 1, 1),
            &[task()],
            &[leave],
            &[activity],
        );
        assert_eq!(feed.entries.len(), 3);
        assert_eq!(feed.name, "Patron: staff/li.na");
    }
}
