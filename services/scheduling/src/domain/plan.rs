//! Task planning: from a customer's tier and rank, the contacts made with
//! them and the day it is, the contacts due within the planning horizon —
//! which rule asks for each, who makes it, how, and by when. A contact
//! logged without a task counts all the same: every due date is computed
//! from the contacts made, never from the tasks planned before.
//!
//! Deterministic and without I/O; days are the company's calendar days
//! (the caller turns instants into dates in the company's zone).

use chrono::{Datelike, Days, NaiveDate};

use super::policy::{
    CalendarPeriod, Channel, ContactRule, Frequency, NEW_CUSTOMER_RULE, NewCustomers,
    SchedulingPolicy,
};

/// The customer as planning sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Customer<'a> {
    /// The tier code, if graded.
    pub tier: Option<&'a str>,
    /// The customer's place among the company's customers (1 = first), for
    /// the top-customer rules.
    pub rank: Option<u32>,
    /// The day the customer was created: new-customer follow-up runs from it.
    pub created: NaiveDate,
}

/// A contact made with the customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub on: NaiveDate,
    pub channel: Channel,
    /// The role of whoever made it; `None` when not known, and then it
    /// counts toward a rule of any role.
    pub role: Option<String>,
    /// The rule of the task it closed; `None` for a contact logged without
    /// a task, which counts toward every rule of its role and channel.
    pub rule: Option<String>,
}

/// A contact due.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Task {
    pub due: NaiveDate,
    /// The rule's key (`cadence.A[0]`, or [`NEW_CUSTOMER_RULE`]).
    pub rule: String,
    pub role: String,
    pub channel: Channel,
    /// The last day the contact is on time; after `due` only for new
    /// customers (due every two days, late after seven).
    pub latest: NaiveDate,
}

/// The tasks due from `today` to the end of the policy's horizon, with any
/// overdue ones first (their `due` is before `today`).
pub fn plan(
    policy: &SchedulingPolicy,
    customer: Customer<'_>,
    contacts: &[Contact],
    today: NaiveDate,
) -> Vec<Task> {
    plan_until(
        policy,
        customer,
        contacts,
        today,
        policy.horizon.after(today),
    )
}

/// The tasks due before `until` (exclusive), ordered by due date.
pub fn plan_until(
    policy: &SchedulingPolicy,
    customer: Customer<'_>,
    contacts: &[Contact],
    today: NaiveDate,
    until: NaiveDate,
) -> Vec<Task> {
    // A contact dated after today is a typing slip, not a fact yet.
    let made: Vec<&Contact> = contacts.iter().filter(|c| c.on <= today).collect();
    let mut tasks = Vec::new();
    for rule in policy.rules_for(customer.tier, customer.rank) {
        let own: Vec<&Contact> = made
            .iter()
            .copied()
            .filter(|c| belongs_to(rule, c))
            .collect();
        let start = tasks.len();
        match rule.frequency {
            Frequency::Every(_) => plan_interval(rule, &own, today, until, &mut tasks),
            Frequency::AtLeast { times, per } => {
                plan_at_least(rule, times, per, &own, today, until, &mut tasks)
            }
        }
        if let Some(share) = rule.in_person_at_least {
            keep_in_person_share(rule, share, &own, &mut tasks[start..]);
        }
    }
    if let Some(new) = &policy.new_customers {
        plan_follow_up(new, customer.created, &made, today, until, &mut tasks);
    }
    tasks.sort();
    tasks
}

/// A contact belongs to the rule of the task it closed, or, logged without
/// a task, to every rule its maker's role keeps.
fn belongs_to(rule: &ContactRule, contact: &Contact) -> bool {
    match &contact.rule {
        Some(key) => *key == rule.key,
        None => contact.role.as_deref().is_none_or(|role| role == rule.role),
    }
}

/// Whether `contact` keeps the rule's own frequency: its channel counts, or
/// it closed the rule's task by any channel but the alternative's.
fn keeps_frequency(rule: &ContactRule, contact: &Contact) -> bool {
    let by_alternative = rule
        .alternative
        .is_some_and(|alt| alt.channel == contact.channel && !rule.counts(contact.channel));
    rule.counts(contact.channel) || (contact.rule.is_some() && !by_alternative)
}

fn task(rule: &ContactRule, due: NaiveDate) -> Task {
    Task {
        due,
        rule: rule.key.clone(),
        role: rule.role.clone(),
        channel: rule.channel,
        latest: due,
    }
}

/// "Every N": the next contact is due N after the last; with an
/// alternative, whichever way covers the customer longer decides. Never
/// contacted: due today. Later tasks in the horizon follow on from each
/// planned one, or from today when it is already overdue.
fn plan_interval(
    rule: &ContactRule,
    own: &[&Contact],
    today: NaiveDate,
    until: NaiveDate,
    tasks: &mut Vec<Task>,
) {
    let Frequency::Every(every) = rule.frequency else {
        return;
    };
    let last =
        |keeps: &dyn Fn(&Contact) -> bool| own.iter().filter(|c| keeps(c)).map(|c| c.on).max();
    let by_frequency = last(&|c| keeps_frequency(rule, c)).map(|d| every.after(d));
    let by_alternative = rule
        .alternative
        .and_then(|alt| last(&|c| c.channel == alt.channel).map(|d| alt.every.after(d)));
    let mut due = by_frequency.max(by_alternative).unwrap_or(today);
    while due < until {
        tasks.push(task(rule, due));
        due = every.after(due.max(today));
    }
}

/// "At least K per period": each calendar period is cut into K equal parts
/// and the k-th contact is due by the end of the k-th part, unless the
/// period already has k contacts.
fn plan_at_least(
    rule: &ContactRule,
    times: u32,
    per: CalendarPeriod,
    own: &[&Contact],
    today: NaiveDate,
    until: NaiveDate,
    tasks: &mut Vec<Task>,
) {
    let mut day = today;
    while day < until {
        let (first, last) = per.containing(day);
        let done = own
            .iter()
            .filter(|c| keeps_frequency(rule, c) && c.on >= first && c.on <= last)
            .count();
        let length = u64::try_from((last - first).num_days() + 1).unwrap_or(1);
        for k in (done as u64 + 1)..=u64::from(times) {
            // The end of part k: day ⌈k·length / times⌉ of the period.
            let nth = (k * length).div_ceil(u64::from(times));
            let due = first + Days::new(nth - 1);
            if due >= until {
                break;
            }
            tasks.push(task(rule, due));
        }
        match last.succ_opt() {
            Some(next) => day = next,
            None => break,
        }
    }
}

/// "At least half in person" (001): a task proposes a visit whenever
/// another contact by other means would leave the visits of its calendar
/// year below the share; otherwise the rule's own channel.
fn keep_in_person_share(rule: &ContactRule, share: f64, own: &[&Contact], planned: &mut [Task]) {
    planned.sort();
    for i in 0..planned.len() {
        let year = planned[i].due.year();
        let made = own
            .iter()
            .filter(|c| c.on.year() == year && keeps_frequency(rule, c));
        let before = planned[..i].iter().filter(|t| t.due.year() == year);
        let total = made.clone().count() + before.clone().count();
        let in_person = made.filter(|c| c.channel.in_person()).count()
            + before.filter(|t| t.channel.in_person()).count();
        // Shares like 0.5 × 2 are exact; the margin keeps a float's noise
        // from asking for one visit more.
        let needed = (share * (total + 1) as f64 - 1e-9).ceil() as usize;
        if in_person < needed {
            planned[i].channel = Channel::Visit;
        }
    }
}

/// New customers (001): the next follow-up is due `every` after the last
/// contact (or the creation) and late after `never_more_than`; any contact
/// by a channel the rule names counts, whoever made it. Follow-up stops
/// once the customer is settled.
fn plan_follow_up(
    new: &NewCustomers,
    created: NaiveDate,
    made: &[&Contact],
    today: NaiveDate,
    until: NaiveDate,
    tasks: &mut Vec<Task>,
) {
    let follow_ups: Vec<NaiveDate> = made
        .iter()
        .filter(|c| c.on >= created && new.counts(c.channel))
        .map(|c| c.on)
        .collect();
    let settles_on = new
        .settled
        .after_days
        .and_then(|days| created.checked_add_days(Days::new(days.into())));
    let settled_by = |count: usize| {
        new.settled
            .after_contacts
            .is_some_and(|n| count >= n as usize)
    };
    if settles_on.is_some_and(|d| today >= d) {
        return;
    }
    let mut count = follow_ups.len();
    let mut last = follow_ups.into_iter().max().unwrap_or(created);
    loop {
        let due = new.every.after(last);
        if settled_by(count) || settles_on.is_some_and(|d| due >= d) || due >= until {
            break;
        }
        tasks.push(Task {
            due,
            rule: NEW_CUSTOMER_RULE.to_owned(),
            role: new.role.clone(),
            channel: new.channel,
            latest: new.never_more_than.after(last),
        });
        count += 1;
        last = due.max(today);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::domain::policy::{self, Interval};

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn shipped(name: &str) -> SchedulingPolicy {
        let text = patron_presets::shipped::shipped(name).unwrap();
        policy::parse(&patron_presets::parse(text).unwrap()).unwrap()
    }

    fn customer(tier: &str) -> Customer<'_> {
        Customer {
            tier: Some(tier),
            rank: None,
            created: day(2020, 1, 1),
        }
    }

    /// A year in which every task is done on its due day, as a manager who
    /// keeps every date would: the contacts made. No task is ever seen
    /// overdue.
    fn simulate_year(
        policy: &SchedulingPolicy,
        customer: Customer<'_>,
        year: i32,
        mut contacts: Vec<Contact>,
    ) -> Vec<Contact> {
        let mut today = day(year, 1, 1);
        while today.year() == year {
            for task in plan(policy, customer, &contacts, today) {
                assert!(task.due >= today, "{task:?} overdue on {today}");
                if task.due == today {
                    contacts.push(Contact {
                        on: today,
                        channel: task.channel,
                        role: Some(task.role),
                        rule: Some(task.rule),
                    });
                }
            }
            today = today.succ_opt().unwrap();
        }
        contacts.retain(|c| c.on.year() == year);
        contacts
    }

    fn by_role<'c>(contacts: &'c [Contact], role: &str) -> Vec<&'c Contact> {
        contacts
            .iter()
            .filter(|c| c.role.as_deref() == Some(role))
            .collect()
    }

    /// Contacts per calendar month, January first.
    fn per_month(contacts: &[&Contact]) -> [usize; 12] {
        let mut months = [0; 12];
        for c in contacts {
            months[c.on.month0() as usize] += 1;
        }
        months
    }

    #[test]
    fn health_chain_a_has_six_store_manager_and_twelve_sales_manager_visits_a_year() {
        let policy = shipped("health-chain");
        let year = simulate_year(&policy, customer("A"), 2027, vec![]);
        let store = by_role(&year, "store_manager");
        let sales = by_role(&year, "sales_manager");
        assert_eq!(store.len(), 6);
        assert_eq!(sales.len(), 12);
        assert_eq!(year.len(), 18, "nobody else");
        assert!(year.iter().all(|c| c.channel == Channel::Visit));
        assert_eq!(per_month(&sales), [1; 12]);
        assert_eq!(per_month(&store), [1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0]);
    }

    #[test]
    fn health_chain_b_to_e_are_called_monthly_by_their_role() {
        let policy = shipped("health-chain");
        for (tier, role) in [
            ("B", "sales_manager"),
            ("C", "outreach_supervisor"),
            ("D", "outreach_staff"),
            ("E", "outreach_staff"),
        ] {
            let year = simulate_year(&policy, customer(tier), 2027, vec![]);
            assert_eq!(year.len(), 12, "{tier}");
            assert!(
                year.iter()
                    .all(|c| c.channel == Channel::Phone && c.role.as_deref() == Some(role)),
                "{tier}: {year:?}"
            );
        }
    }

    #[test]
    fn a_visit_covers_a_b_customer_for_two_months() {
        let policy = shipped("health-chain");
        // The sales manager visits on 10 March, without a task.
        let visit = Contact {
            on: day(2027, 3, 10),
            channel: Channel::Visit,
            role: Some("sales_manager".into()),
            rule: None,
        };
        let tasks = plan(
            &policy,
            customer("B"),
            std::slice::from_ref(&visit),
            day(2027, 3, 12),
        );
        assert_eq!(tasks, [], "nothing due before the horizon's end");
        let tasks = plan(&policy, customer("B"), &[visit], day(2027, 4, 20));
        assert_eq!(tasks.len(), 1);
        assert_eq!(tasks[0].due, day(2027, 5, 10), "two months after the visit");
        assert_eq!(tasks[0].channel, Channel::Phone);
    }

    #[test]
    fn industrial_vips_are_contacted_at_least_twice_every_month() {
        let policy = shipped("industrial-b2b");
        for (tier, visitor, visits) in [
            ("A", "senior_management", 4),
            ("B", "middle_management", 2),
            ("C", "middle_management", 2),
        ] {
            let year = simulate_year(&policy, customer(tier), 2027, vec![]);
            let staff = by_role(&year, "account_manager");
            assert_eq!(staff.len(), 24, "{tier}: at least 24, and no more asked");
            assert_eq!(per_month(&staff), [2; 12], "{tier}");
            let management = by_role(&year, visitor);
            assert_eq!(management.len(), visits, "{tier}");
            assert!(management.iter().all(|c| c.channel == Channel::Visit));
        }
    }

    #[test]
    fn telecom_diamond_and_gold_monthly_silver_quarterly() {
        let policy = shipped("telecom-vip");
        for card in ["diamond", "gold"] {
            let year = simulate_year(&policy, customer(card), 2027, vec![]);
            assert_eq!(year.len(), 12, "{card}");
            assert!(
                per_month(&year.iter().collect::<Vec<_>>())
                    .iter()
                    .all(|n| *n >= 1)
            );
        }
        let silver = simulate_year(&policy, customer("silver"), 2027, vec![]);
        assert_eq!(silver.len(), 4);
        let quarters = silver.iter().fold([0; 4], |mut q, c| {
            q[c.on.month0() as usize / 3] += 1;
            q
        });
        assert!(quarters.iter().all(|n| *n >= 1), "{quarters:?}");
    }

    #[test]
    fn postal_top_ten_every_quarter_at_least_half_in_person() {
        let policy = shipped("postal-key-accounts");
        let top = Customer {
            tier: Some("diamond"),
            rank: Some(10),
            created: day(2020, 1, 1),
        };
        let year = simulate_year(&policy, top, 2027, vec![]);
        let leader = by_role(&year, "responsible_leader");
        let quarters = leader.iter().fold([0; 4], |mut q, c| {
            q[c.on.month0() as usize / 3] += 1;
            q
        });
        assert_eq!(quarters, [1; 4]);
        let in_person = leader.iter().filter(|c| c.channel.in_person()).count();
        assert!(in_person * 2 >= leader.len(), "{leader:?}");
        assert!(in_person < leader.len(), "the rest may be calls");

        let eleventh = Customer {
            rank: Some(11),
            ..top
        };
        assert_eq!(simulate_year(&policy, eleventh, 2027, vec![]), []);
    }

    #[test]
    fn the_share_in_person_counts_visits_already_made() {
        let policy = shipped("postal-key-accounts");
        let top = Customer {
            tier: None,
            rank: Some(1),
            created: day(2020, 1, 1),
        };
        // Two calls in the first half, without tasks: the rest must be visits.
        let calls: Vec<Contact> = [day(2027, 2, 1), day(2027, 5, 1)]
            .map(|on| Contact {
                on,
                channel: Channel::Phone,
                role: Some("responsible_leader".into()),
                rule: None,
            })
            .to_vec();
        let tasks = plan_until(&policy, top, &calls, day(2027, 7, 1), day(2028, 1, 1));
        let channels: Vec<Channel> = tasks.iter().map(|t| t.channel).collect();
        assert_eq!(channels, [Channel::Visit, Channel::Visit]);
    }

    #[test]
    fn retail_vips_are_called_each_quarter_and_revisited_yearly() {
        let policy = shipped("retail-store");
        let year = simulate_year(&policy, customer("VIP"), 2027, vec![]);
        assert_eq!(by_role(&year, "account_manager").len(), 4);
        assert_eq!(by_role(&year, "customer_service").len(), 1);
    }

    #[test]
    fn a_contact_logged_without_a_task_counts_toward_the_cadence() {
        let policy = shipped("industrial-b2b");
        let email = |role: &str| Contact {
            on: day(2027, 1, 3),
            channel: Channel::Email,
            role: Some(role.into()),
            rule: None,
        };
        let rule_tasks = |contacts: &[Contact]| -> Vec<NaiveDate> {
            plan(&policy, customer("B"), contacts, day(2027, 1, 4))
                .into_iter()
                .filter(|t| t.rule == "cadence.B[0]" && t.due.month() == 1)
                .map(|t| t.due)
                .collect()
        };
        assert_eq!(rule_tasks(&[]), [day(2027, 1, 16), day(2027, 1, 31)]);
        assert_eq!(
            rule_tasks(&[email("account_manager")]),
            [day(2027, 1, 31)],
            "the e-mail is January's first contact"
        );
        assert_eq!(
            rule_tasks(&[email("quoter")]),
            [day(2027, 1, 16), day(2027, 1, 31)],
            "another role's e-mail keeps another rule"
        );
        let letter = Contact {
            channel: Channel::Letter,
            ..email("account_manager")
        };
        assert_eq!(
            rule_tasks(&[letter]).len(),
            2,
            "a letter is not a contact 3.8 names"
        );
    }

    #[test]
    fn the_horizon_bounds_the_plan_and_an_overdue_task_comes_first() {
        let policy = shipped("health-chain");
        let a = customer("A");
        let tasks = plan(&policy, a, &[], day(2027, 1, 1));
        let dues: Vec<(NaiveDate, &str)> = tasks.iter().map(|t| (t.due, t.role.as_str())).collect();
        assert_eq!(
            dues,
            [
                (day(2027, 1, 1), "store_manager"),
                (day(2027, 1, 1), "sales_manager")
            ],
            "the next ones fall on 1 February, outside a month"
        );

        let long = SchedulingPolicy {
            horizon: Interval::Months(3),
            ..policy.clone()
        };
        assert_eq!(plan(&long, a, &[], day(2027, 1, 1)).len(), 5);

        // Last visited by the sales manager in October: overdue since
        // November, and the next follows a month after today.
        let october = Contact {
            on: day(2026, 10, 5),
            channel: Channel::Visit,
            role: Some("sales_manager".into()),
            rule: Some("cadence.A[1]".into()),
        };
        let sales: Vec<NaiveDate> =
            plan_until(&policy, a, &[october], day(2027, 1, 10), day(2027, 3, 1))
                .into_iter()
                .filter(|t| t.role == "sales_manager")
                .map(|t| t.due)
                .collect();
        assert_eq!(sales, [day(2026, 11, 5), day(2027, 2, 10)]);
    }

    #[test]
    fn interval_tasks_follow_on_within_the_horizon() {
        let mut policy = shipped("health-chain");
        policy.cadence = BTreeMap::from([(
            "A".to_owned(),
            vec![ContactRule {
                frequency: Frequency::Every(Interval::Weeks(1)),
                ..policy.cadence["A"][1].clone()
            }],
        )]);
        let dues: Vec<NaiveDate> = plan(&policy, customer("A"), &[], day(2027, 2, 1))
            .into_iter()
            .map(|t| t.due)
            .collect();
        assert_eq!(
            dues,
            [1, 8, 15, 22].map(|d| day(2027, 2, d)),
            "weekly through February, none on 1 March"
        );
    }

    fn new_customer(created: NaiveDate) -> Customer<'static> {
        Customer {
            tier: None,
            rank: None,
            created,
        }
    }

    fn follow_ups(contacts: &[Contact]) -> Vec<NaiveDate> {
        contacts
            .iter()
            .filter(|c| c.rule.as_deref() == Some(NEW_CUSTOMER_RULE))
            .map(|c| c.on)
            .collect()
    }

    #[test]
    fn a_new_customer_is_followed_up_every_two_days_until_settled() {
        // Postal: every 2 days, settled after 10 follow-ups or 30 days.
        let policy = shipped("postal-key-accounts");
        let created = day(2027, 3, 5);
        let year = simulate_year(&policy, new_customer(created), 2027, vec![]);
        let days = follow_ups(&year);
        assert_eq!(days.len(), 10, "settled by the tenth");
        assert_eq!(days[0], day(2027, 3, 7));
        assert!(days.windows(2).all(|w| (w[1] - w[0]).num_days() == 2));
        assert_eq!(
            plan(&policy, new_customer(created), &year, day(2027, 6, 1)),
            []
        );
    }

    #[test]
    fn a_new_customer_settles_after_the_days_the_policy_gives() {
        let mut policy = shipped("postal-key-accounts");
        let new = policy.new_customers.as_mut().unwrap();
        new.settled.after_contacts = None;
        new.settled.after_days = Some(10);
        let created = day(2027, 3, 5);
        let year = simulate_year(&policy, new_customer(created), 2027, vec![]);
        // Due on the 7th … 13th; the 15th is the tenth day: settled.
        assert_eq!(follow_ups(&year), [7, 9, 11, 13].map(|d| day(2027, 3, d)));
    }

    #[test]
    fn a_follow_up_is_late_after_seven_days_and_any_contact_counts() {
        let policy = shipped("postal-key-accounts");
        let created = day(2027, 3, 5);
        let tasks = plan(&policy, new_customer(created), &[], day(2027, 3, 5));
        let first = &tasks[0];
        assert_eq!(
            (first.due, first.latest),
            (day(2027, 3, 7), day(2027, 3, 12))
        );
        assert_eq!(first.role, "account_manager");

        // A manager who always waits to the last day: never more than 7 apart.
        let mut contacts = Vec::new();
        let mut today = created;
        while today < day(2027, 5, 1) {
            let next = plan(&policy, new_customer(created), &contacts, today)
                .into_iter()
                .find(|t| t.rule == NEW_CUSTOMER_RULE);
            if next.as_ref().is_some_and(|t| t.latest == today) {
                contacts.push(Contact {
                    on: today,
                    channel: Channel::Sms,
                    role: Some("group_lead".into()),
                    rule: None,
                });
            }
            today = today.succ_opt().unwrap();
        }
        let days: Vec<NaiveDate> = contacts.iter().map(|c| c.on).collect();
        assert_eq!(days.first(), Some(&day(2027, 3, 12)));
        assert!(
            days.windows(2).all(|w| (w[1] - w[0]).num_days() == 7),
            "{days:?}"
        );
        // 30 days from 5 March: the follow-up due on or after 4 April is
        // not asked for.
        assert!(days.iter().all(|d| *d <= day(2027, 4, 4)), "{days:?}");
    }
}
