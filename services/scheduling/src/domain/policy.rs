//! The preset's `[scheduling]` section: who must be contacted, by whom, how
//! often and how, per tier (003, 000 3.8, 002) and for the company's top
//! customers (001); who visits which tier (000 3.10); how new customers are
//! followed up until they settle (001); how far ahead tasks are planned; the
//! owners of large projects by amount and signing state (000 3.15); and who
//! approves gift and relationship expenses up to how much (001). A
//! section with any problem is refused whole, each problem naming its field
//! (`scheduling.cadence.A[0].every`).
//!
//! ```toml
//! [scheduling]
//! horizon = "1 month"
//! visitors = { A = "senior_management", B = "middle_management" }
//!
//! [[scheduling.cadence.A]]
//! every = "2 months"
//! channel = "visit"
//! role = "store_manager"
//!
//! [[scheduling.cadence.B]]
//! every = "1 month"
//! channel = "phone"
//! role = "sales_manager"
//! or = { channel = "visit", every = "2 months" }
//!
//! [[scheduling.cadence.B]]
//! at_least = 2
//! per = "month"
//! channel = "phone"
//! also = ["visit", "sms", "email", "fax"]
//! role = "account_manager"
//!
//! [scheduling.top_customers]
//! count = 10
//! [[scheduling.top_customers.cadence]]
//! at_least = 1
//! per = "quarter"
//! channel = "phone"
//! also = ["visit"]
//! role = "responsible_leader"
//! in_person_at_least = 0.5
//!
//! [scheduling.new_customers]
//! every = "2 days"
//! never_more_than = "7 days"
//! channel = "phone"
//! role = "account_manager"
//! settled_after = { days = 30, contacts = 10 }
//!
//! [scheduling.large_projects]
//! threshold = 5000000
//! owners = [
//!   { from = 5000000, before_signing = "quoter", after_signing = "coordinator" },
//!   { from = 10000000, before_signing = "department_head", after_signing = "department_head" },
//! ]
//!
//! # Gifts and relationship expenses (客情费): who approves up to how much
//! # (major units, or "unlimited"), and how far above the approved amount a
//! # spending may go with a note (a share; 0 or absent: never).
//! [scheduling.gift_expenses]
//! approval = { supervisor = 2000, admin = "unlimited" }
//! overspend_up_to = 0.1
//!
//! # Symposiums and reward activities: the year's targets.
//! [scheduling.activities]
//! coverage_target_percent = 100
//! participation_target_percent = 85
//! ```

use super::activities::ActivitySection;
use super::care::CareSection;
use super::contact_window::WindowSection;
use super::gift_expenses::GiftExpensePolicy;
use std::collections::BTreeMap;
use std::fmt;

use chrono::{Datelike, Days, Months, NaiveDate};
use patron_presets::Preset;
use patron_vocab::money;
use serde::Deserialize;

/// The rule key of the new-customer follow-up in tasks and contacts.
pub const NEW_CUSTOMER_RULE: &str = "new_customers";

/// The roles a rule may name: who does the contact or owns the project.
/// A closed list, so a misspelt role is refused rather than giving tasks
/// nobody holds.
pub const ROLES: &[&str] = &[
    "account_manager",
    "group_lead",
    "customer_service",
    "store_manager",
    "sales_manager",
    "outreach_supervisor",
    "outreach_staff",
    "senior_management",
    "middle_management",
    "responsible_leader",
    "quoter",
    "coordinator",
    "department_head",
    "vice_president",
    "general_manager",
];

/// How a contact is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Channel {
    Visit,
    Phone,
    Sms,
    Email,
    Letter,
    Fax,
}

impl Channel {
    pub const ALL: [Channel; 6] = [
        Channel::Visit,
        Channel::Phone,
        Channel::Sms,
        Channel::Email,
        Channel::Letter,
        Channel::Fax,
    ];

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Visit => "visit",
            Channel::Phone => "phone",
            Channel::Sms => "sms",
            Channel::Email => "email",
            Channel::Letter => "letter",
            Channel::Fax => "fax",
        }
    }

    /// Face to face: what "at least half in person" counts.
    pub fn in_person(self) -> bool {
        self == Channel::Visit
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A span of time between contacts, written `3 days`, `2 weeks`, `1 month`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    Days(u32),
    Weeks(u32),
    Months(u32),
}

impl Interval {
    /// `N day(s)`, `N week(s)` or `N month(s)` with N ≥ 1.
    pub fn parse(text: &str) -> Option<Self> {
        let (count, unit) = text.trim().split_once(' ')?;
        let n: u32 = count.parse().ok().filter(|n| (1..=1000).contains(n))?;
        match unit.trim() {
            "day" | "days" => Some(Interval::Days(n)),
            "week" | "weeks" => Some(Interval::Weeks(n)),
            "month" | "months" => Some(Interval::Months(n)),
            _ => None,
        }
    }

    /// The day `self` after `day`. Months keep the day of the month, or the
    /// month's last day when it is shorter (31 January + 1 month = 28
    /// February).
    pub fn after(self, day: NaiveDate) -> NaiveDate {
        let later = match self {
            Interval::Days(n) => day.checked_add_days(Days::new(n.into())),
            Interval::Weeks(n) => day.checked_add_days(Days::new(u64::from(n) * 7)),
            Interval::Months(n) => day.checked_add_months(Months::new(n)),
        };
        later.unwrap_or(NaiveDate::MAX)
    }

    /// The fewest and most days the interval can be.
    pub fn days(self) -> (u32, u32) {
        match self {
            Interval::Days(n) => (n, n),
            Interval::Weeks(n) => (n * 7, n * 7),
            Interval::Months(n) => (n * 28, n * 31),
        }
    }
}

/// A calendar period "at least K times per …" counts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalendarPeriod {
    /// Monday to Sunday.
    Week,
    Month,
    Quarter,
    Year,
}

impl CalendarPeriod {
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim() {
            "week" => Some(Self::Week),
            "month" => Some(Self::Month),
            "quarter" => Some(Self::Quarter),
            "year" => Some(Self::Year),
            _ => None,
        }
    }

    /// The first and last day of the period `day` lies in.
    pub fn containing(self, day: NaiveDate) -> (NaiveDate, NaiveDate) {
        let first = match self {
            Self::Week => day - Days::new(day.weekday().num_days_from_monday().into()),
            Self::Month => day.with_day(1).unwrap_or(day),
            Self::Quarter => {
                NaiveDate::from_ymd_opt(day.year(), (day.month0() / 3) * 3 + 1, 1).unwrap_or(day)
            }
            Self::Year => NaiveDate::from_ymd_opt(day.year(), 1, 1).unwrap_or(day),
        };
        let next = match self {
            Self::Week => first.checked_add_days(Days::new(7)),
            Self::Month => first.checked_add_months(Months::new(1)),
            Self::Quarter => first.checked_add_months(Months::new(3)),
            Self::Year => first.checked_add_months(Months::new(12)),
        };
        let last = next.and_then(|n| n.pred_opt()).unwrap_or(NaiveDate::MAX);
        (first, last)
    }

    /// The fewest days the period has; "K times per period" needs K ≤ this.
    pub fn shortest_days(self) -> u32 {
        match self {
            Self::Week => 7,
            Self::Month => 28,
            Self::Quarter => 90,
            Self::Year => 365,
        }
    }
}

/// How often a rule asks for a contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frequency {
    /// The next contact is due this long after the last one.
    Every(Interval),
    /// At least `times` contacts in each calendar period.
    AtLeast { times: u32, per: CalendarPeriod },
}

/// The other way a rule may be kept: "phones monthly or visits every two
/// months" (003) — a visit covers the customer for its own, longer interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alternative {
    pub channel: Channel,
    pub every: Interval,
}

/// One contact rule: how often, how, and by whom.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactRule {
    /// Where the rule is written, without `scheduling.` (`cadence.A[0]`):
    /// tasks and contacts name their rule by it.
    pub key: String,
    pub frequency: Frequency,
    /// The channel tasks propose.
    pub channel: Channel,
    /// Other channels whose contacts count toward the rule.
    pub also: Vec<Channel>,
    pub role: String,
    pub alternative: Option<Alternative>,
    /// The share of the rule's contacts in a calendar year that must be
    /// visits (001: "at least half in person").
    pub in_person_at_least: Option<f64>,
}

impl ContactRule {
    /// Whether a contact on `channel` counts toward the rule's own
    /// frequency (an alternative's channel counts toward the alternative).
    pub fn counts(&self, channel: Channel) -> bool {
        self.channel == channel || self.also.contains(&channel)
    }
}

/// Rules for the company's top customers by rank, whatever their tier
/// (001: the top 10 are visited by the responsible leader).
#[derive(Debug, Clone, PartialEq)]
pub struct TopCustomers {
    /// Customers ranked 1..=count.
    pub count: u32,
    pub rules: Vec<ContactRule>,
}

/// When a new customer is settled and the follow-up stops; whichever comes
/// first of the two that are given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settling {
    /// Days after the customer's creation.
    pub after_days: Option<u32>,
    /// Follow-up contacts made.
    pub after_contacts: Option<u32>,
}

/// New customers (001): followed up often, never more than a week apart,
/// until they settle.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCustomers {
    /// When the next follow-up is due after the last (or the creation).
    pub every: Interval,
    /// The longest the customer may wait: a follow-up later is late.
    pub never_more_than: Interval,
    pub channel: Channel,
    pub also: Vec<Channel>,
    pub role: String,
    pub settled: Settling,
}

impl NewCustomers {
    pub fn counts(&self, channel: Channel) -> bool {
        self.channel == channel || self.also.contains(&channel)
    }
}

/// Who owns a large project of at least `from_minor`, up to the next band.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerBand {
    pub from_minor: i64,
    pub before_signing: String,
    pub after_signing: String,
}

/// Large projects (000 3.15): tracked from a threshold, owned by amount and
/// signing state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LargeProjects {
    pub threshold_minor: i64,
    /// Ascending by `from_minor`, the first at the threshold.
    pub bands: Vec<OwnerBand>,
}

/// A checked `[scheduling]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct SchedulingPolicy {
    /// How far ahead tasks are planned.
    pub horizon: Interval,
    /// Per tier code.
    pub cadence: BTreeMap<String, Vec<ContactRule>>,
    /// Who visits each tier (000 3.10); a visit rule without a role takes it.
    pub visitors: BTreeMap<String, String>,
    pub top_customers: Option<TopCustomers>,
    pub new_customers: Option<NewCustomers>,
    pub large_projects: Option<LargeProjects>,
    /// Care tasks: lead days, family events, festivals, gifts.
    pub care: CareSection,
    /// When customers welcome contact.
    pub contact_windows: WindowSection,
    /// Who approves gift and relationship expenses, up to how much.
    pub gift_expenses: GiftExpensePolicy,
    /// Symposiums and reward activities: the year's targets.
    pub activities: ActivitySection,
}

impl SchedulingPolicy {
    /// The rules that apply to a customer of `tier` ranked `rank` among the
    /// company's customers.
    pub fn rules_for(&self, tier: Option<&str>, rank: Option<u32>) -> Vec<&ContactRule> {
        let by_tier = tier.and_then(|t| self.cadence.get(t)).into_iter().flatten();
        let by_rank = self
            .top_customers
            .as_ref()
            .filter(|top| rank.is_some_and(|r| r >= 1 && r <= top.count))
            .into_iter()
            .flat_map(|top| &top.rules);
        by_tier.chain(by_rank).collect()
    }

    /// Who visits customers of `tier`.
    pub fn visitor(&self, tier: &str) -> Option<&str> {
        self.visitors.get(tier).map(String::as_str)
    }
}

/// Why a section was refused: every problem, by field path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .problems.iter().map(|(f, r)| format!("{f}: {r}")).collect::<Vec<_>>().join("; "))]
pub struct PolicyError {
    pub problems: Vec<(String, String)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Section {
    #[serde(default)]
    horizon: Option<String>,
    #[serde(default)]
    cadence: BTreeMap<String, Vec<RawRule>>,
    #[serde(default)]
    visitors: BTreeMap<String, String>,
    #[serde(default)]
    top_customers: Option<RawTop>,
    #[serde(default)]
    new_customers: Option<RawNew>,
    #[serde(default)]
    large_projects: Option<RawProjects>,
    /// Read by `care` and `contact_window`, which check their own parts.
    #[serde(default)]
    care: Option<toml::Value>,
    #[serde(default)]
    contact_windows: Option<toml::Value>,
    #[serde(default)]
    gift_expenses: Option<toml::Value>,
    activities: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(default)]
    every: Option<String>,
    #[serde(default)]
    at_least: Option<i64>,
    #[serde(default)]
    per: Option<String>,
    channel: String,
    #[serde(default)]
    also: Vec<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default, rename = "or")]
    alternative: Option<RawAlternative>,
    #[serde(default)]
    in_person_at_least: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlternative {
    channel: String,
    every: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTop {
    count: i64,
    cadence: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNew {
    every: String,
    never_more_than: String,
    channel: String,
    #[serde(default)]
    also: Vec<String>,
    role: String,
    settled_after: RawSettling,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettling {
    #[serde(default)]
    days: Option<i64>,
    #[serde(default)]
    contacts: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProjects {
    threshold: i64,
    owners: Vec<RawBand>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBand {
    from: i64,
    before_signing: String,
    after_signing: String,
}

struct Problems(Vec<(String, String)>);

impl Problems {
    fn add(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.0.push((field.into(), reason.into()));
    }

    fn role(&mut self, field: String, role: &str) -> String {
        if !ROLES.contains(&role) {
            self.add(
                field,
                format!("{role:?} is not a role ({})", ROLES.join(", ")),
            );
        }
        role.to_owned()
    }

    fn channel(&mut self, field: String, text: &str) -> Channel {
        Channel::parse(text).unwrap_or_else(|| {
            let names: Vec<&str> = Channel::ALL.iter().map(|c| c.as_str()).collect();
            self.add(
                field,
                format!("{text:?} is not a channel ({})", names.join(", ")),
            );
            Channel::Phone
        })
    }

    fn interval(&mut self, field: String, text: &str) -> Interval {
        Interval::parse(text).unwrap_or_else(|| {
            self.add(
                field,
                format!("{text:?} is not an interval like \"2 days\", \"1 week\" or \"2 months\""),
            );
            Interval::Days(1)
        })
    }
}

/// Checks the preset's `[scheduling]` section against its tier codes;
/// amounts are in the currency's major units.
pub fn parse(preset: &Preset) -> Result<SchedulingPolicy, PolicyError> {
    let raw: Section = preset.section("scheduling").map_err(|e| PolicyError {
        problems: e.problems.into_iter().map(name_the_field).collect(),
    })?;
    let mut problems = Problems(Vec::new());
    let digits = match money::Currency::parse(&preset.header.currency) {
        Ok(currency) => currency.digits(),
        Err(reason) => {
            problems.add("preset.currency", reason);
            2
        }
    };
    let tiers = preset.tier_codes();

    let horizon = match &raw.horizon {
        None => Interval::Months(1),
        Some(text) => {
            let horizon = problems.interval("scheduling.horizon".into(), text);
            if horizon.days().1 > 366 {
                problems.add("scheduling.horizon", "plan at most a year ahead");
            }
            horizon
        }
    };

    let mut visitors = BTreeMap::new();
    for (tier, role) in &raw.visitors {
        let field = format!("scheduling.visitors.{tier}");
        if !tiers.contains(tier) {
            problems.add(field.clone(), not_a_tier(tier, tiers));
        }
        visitors.insert(tier.clone(), problems.role(field, role));
    }

    let mut cadence = BTreeMap::new();
    for (tier, rules) in &raw.cadence {
        if !tiers.contains(tier) {
            problems.add(
                format!("scheduling.cadence.{tier}"),
                not_a_tier(tier, tiers),
            );
        }
        let checked = rules
            .iter()
            .enumerate()
            .map(|(i, rule)| {
                check_rule(
                    format!("cadence.{tier}[{i}]"),
                    rule,
                    visitors.get(tier),
                    &mut problems,
                )
            })
            .collect();
        cadence.insert(tier.clone(), checked);
    }

    let top_customers = raw.top_customers.as_ref().map(|top| {
        let count = match u32::try_from(top.count) {
            Ok(n) if n >= 1 => n,
            _ => {
                problems.add("scheduling.top_customers.count", "must be at least 1");
                1
            }
        };
        if top.cadence.is_empty() {
            problems.add("scheduling.top_customers.cadence", "list at least one rule");
        }
        let rules = top
            .cadence
            .iter()
            .enumerate()
            .map(|(i, rule)| {
                check_rule(
                    format!("top_customers.cadence[{i}]"),
                    rule,
                    None,
                    &mut problems,
                )
            })
            .collect();
        TopCustomers { count, rules }
    });

    let new_customers = raw
        .new_customers
        .as_ref()
        .map(|new| check_new_customers(new, &mut problems));
    let large_projects = raw
        .large_projects
        .as_ref()
        .map(|projects| check_large_projects(projects, digits, &mut problems));

    let care = match &raw.care {
        None => CareSection::default(),
        Some(value) => CareSection::from_toml(value, tiers).unwrap_or_else(|e| {
            problems.0.extend(e.problems);
            CareSection::default()
        }),
    };
    let contact_windows = match &raw.contact_windows {
        None => WindowSection::default(),
        Some(value) => WindowSection::from_toml(value).unwrap_or_else(|e| {
            problems.0.extend(e.problems);
            WindowSection::default()
        }),
    };

    let gift_expenses = match &raw.gift_expenses {
        None => GiftExpensePolicy::default(),
        Some(value) => GiftExpensePolicy::from_toml(value, digits).unwrap_or_else(|found| {
            problems.0.extend(found);
            GiftExpensePolicy::default()
        }),
    };
    let activities = match &raw.activities {
        None => ActivitySection::default(),
        Some(value) => ActivitySection::from_toml(value).unwrap_or_else(|e| {
            problems.0.extend(e.problems);
            ActivitySection::default()
        }),
    };

    if !problems.0.is_empty() {
        return Err(PolicyError {
            problems: problems.0,
        });
    }
    Ok(SchedulingPolicy {
        horizon,
        cadence,
        visitors,
        top_customers,
        new_customers,
        large_projects,
        care,
        contact_windows,
        gift_expenses,
        activities,
    })
}

/// The presets crate names a shape problem by line, with the field path at
/// the head of the reason; the path becomes the field here, the line goes
/// to the end of the reason.
fn name_the_field((place, reason): (String, String)) -> (String, String) {
    match reason.split_once(": ") {
        Some((path, rest)) if path.starts_with("scheduling") => {
            (path.to_owned(), format!("{rest} ({place})"))
        }
        _ => (place, reason),
    }
}

fn not_a_tier(tier: &str, tiers: &[String]) -> String {
    format!("{tier} is not one of the tiers ({})", tiers.join(", "))
}

fn check_rule(
    key: String,
    raw: &RawRule,
    visitor: Option<&String>,
    problems: &mut Problems,
) -> ContactRule {
    let field = format!("scheduling.{key}");
    let frequency = match (&raw.every, raw.at_least) {
        (Some(every), None) => {
            if raw.per.is_some() {
                problems.add(format!("{field}.per"), "`per` goes with `at_least`");
            }
            Frequency::Every(problems.interval(format!("{field}.every"), every))
        }
        (None, Some(times)) => {
            let per = match raw.per.as_deref().map(|p| (p, CalendarPeriod::parse(p))) {
                Some((_, Some(per))) => per,
                Some((text, None)) => {
                    problems.add(
                        format!("{field}.per"),
                        format!("{text:?} is not a period (week, month, quarter, year)"),
                    );
                    CalendarPeriod::Month
                }
                None => {
                    problems.add(
                        format!("{field}.per"),
                        "say per week, month, quarter or year",
                    );
                    CalendarPeriod::Month
                }
            };
            // Each contact gets a part of the period of at least a day.
            let times = match u32::try_from(times) {
                Ok(n) if n >= 1 && n <= per.shortest_days() => n,
                _ => {
                    problems.add(
                        format!("{field}.at_least"),
                        format!("must be 1 to {} times", per.shortest_days()),
                    );
                    1
                }
            };
            Frequency::AtLeast { times, per }
        }
        _ => {
            problems.add(
                field.clone(),
                "give either `every` or `at_least` with `per`",
            );
            Frequency::Every(Interval::Months(1))
        }
    };
    let channel = problems.channel(format!("{field}.channel"), &raw.channel);
    let also: Vec<Channel> = raw
        .also
        .iter()
        .enumerate()
        .map(|(i, text)| problems.channel(format!("{field}.also[{i}]"), text))
        .collect();
    let role = match (&raw.role, visitor) {
        (Some(role), _) => problems.role(format!("{field}.role"), role),
        // 000 3.10: the tier's visitor makes its visits.
        (None, Some(visitor)) if channel == Channel::Visit => visitor.clone(),
        (None, _) => {
            problems.add(
                format!("{field}.role"),
                "name who makes the contact (only a visit to a tier with a visitor may leave it out)",
            );
            String::new()
        }
    };
    let alternative = raw.alternative.as_ref().map(|alt| {
        if !matches!(frequency, Frequency::Every(_)) {
            problems.add(format!("{field}.or"), "an alternative goes with `every`");
        }
        Alternative {
            channel: problems.channel(format!("{field}.or.channel"), &alt.channel),
            every: problems.interval(format!("{field}.or.every"), &alt.every),
        }
    });
    if let Some(share) = raw.in_person_at_least {
        if !(share > 0.0 && share <= 1.0) {
            problems.add(
                format!("{field}.in_person_at_least"),
                "must be a share above 0 and at most 1",
            );
        }
        if channel != Channel::Visit && !also.contains(&Channel::Visit) {
            problems.add(
                format!("{field}.in_person_at_least"),
                "needs \"visit\" as the channel or in `also`",
            );
        }
    }
    ContactRule {
        key,
        frequency,
        channel,
        also,
        role,
        alternative,
        in_person_at_least: raw.in_person_at_least,
    }
}

fn check_new_customers(raw: &RawNew, problems: &mut Problems) -> NewCustomers {
    let field = "scheduling.new_customers";
    let every = problems.interval(format!("{field}.every"), &raw.every);
    let never_more_than =
        problems.interval(format!("{field}.never_more_than"), &raw.never_more_than);
    if every.days().1 > never_more_than.days().0 {
        problems.add(
            format!("{field}.every"),
            format!(
                "must not be longer than never_more_than ({:?})",
                raw.never_more_than
            ),
        );
    }
    let channel = problems.channel(format!("{field}.channel"), &raw.channel);
    let also = raw
        .also
        .iter()
        .enumerate()
        .map(|(i, text)| problems.channel(format!("{field}.also[{i}]"), text))
        .collect();
    let role = problems.role(format!("{field}.role"), &raw.role);
    let mut count = |name: &str, value: Option<i64>| {
        value.and_then(|n| match u32::try_from(n) {
            Ok(n) if n >= 1 => Some(n),
            _ => {
                problems.add(
                    format!("{field}.settled_after.{name}"),
                    "must be at least 1",
                );
                None
            }
        })
    };
    let settled = Settling {
        after_days: count("days", raw.settled_after.days),
        after_contacts: count("contacts", raw.settled_after.contacts),
    };
    if raw.settled_after.days.is_none() && raw.settled_after.contacts.is_none() {
        problems.add(
            format!("{field}.settled_after"),
            "say after how many days or contacts a new customer is settled",
        );
    }
    NewCustomers {
        every,
        never_more_than,
        channel,
        also,
        role,
        settled,
    }
}

fn check_large_projects(raw: &RawProjects, digits: u32, problems: &mut Problems) -> LargeProjects {
    let field = "scheduling.large_projects";
    let mut minor = |field: String, major: i64| -> i64 {
        match 10i64
            .checked_pow(digits)
            .and_then(|scale| major.checked_mul(scale))
            .filter(|m| *m > 0)
            .map(money::bounded)
        {
            Some(Ok(m)) => m,
            _ => {
                problems.add(field, "must be a positive amount within 10^15 minor units");
                0
            }
        }
    };
    let threshold_minor = minor(format!("{field}.threshold"), raw.threshold);
    let froms: Vec<i64> = raw
        .owners
        .iter()
        .enumerate()
        .map(|(i, band)| minor(format!("{field}.owners[{i}].from"), band.from))
        .collect();
    let bands: Vec<OwnerBand> = raw
        .owners
        .iter()
        .zip(froms)
        .enumerate()
        .map(|(i, (band, from_minor))| OwnerBand {
            from_minor,
            before_signing: problems.role(
                format!("{field}.owners[{i}].before_signing"),
                &band.before_signing,
            ),
            after_signing: problems.role(
                format!("{field}.owners[{i}].after_signing"),
                &band.after_signing,
            ),
        })
        .collect();
    match bands.first() {
        None => problems.add(format!("{field}.owners"), "list at least one owner band"),
        Some(first) if first.from_minor != threshold_minor => problems.add(
            format!("{field}.owners[0].from"),
            "the first band starts at the threshold",
        ),
        Some(_) => {}
    }
    for i in 1..bands.len() {
        if bands[i].from_minor <= bands[i - 1].from_minor {
            problems.add(
                format!("{field}.owners[{i}].from"),
                "bands go up: each starts above the one before",
            );
        }
    }
    LargeProjects {
        threshold_minor,
        bands,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[preset]
id = "mini"
title = "Mini"

[tiering]
tiers = [{ code = "A" }, { code = "B" }]

[scheduling]
horizon = "4 weeks"
visitors = { A = "senior_management", B = "middle_management" }

[[scheduling.cadence.A]]
every = "2 months"
channel = "visit"

[[scheduling.cadence.A]]
at_least = 2
per = "month"
channel = "phone"
also = ["visit", "sms"]
role = "account_manager"

[[scheduling.cadence.B]]
every = "1 month"
channel = "phone"
role = "sales_manager"
or = { channel = "visit", every = "2 months" }

[scheduling.top_customers]
count = 10
[[scheduling.top_customers.cadence]]
at_least = 1
per = "quarter"
channel = "phone"
also = ["visit"]
role = "responsible_leader"
in_person_at_least = 0.5

[scheduling.new_customers]
every = "2 days"
never_more_than = "7 days"
channel = "phone"
also = ["visit", "sms"]
role = "account_manager"
settled_after = { days = 30, contacts = 10 }

[scheduling.large_projects]
threshold = 5000000
owners = [
  { from = 5000000, before_signing = "quoter", after_signing = "coordinator" },
  { from = 10000000, before_signing = "department_head", after_signing = "department_head" },
  { from = 15000000, before_signing = "vice_president", after_signing = "vice_president" },
]
"#;

    fn read(text: &str) -> Result<SchedulingPolicy, PolicyError> {
        parse(&patron_presets::parse(text).unwrap())
    }

    fn fields(err: &PolicyError) -> Vec<&str> {
        err.problems.iter().map(|(f, _)| f.as_str()).collect()
    }

    #[test]
    fn a_good_section_reads_whole() {
        let policy = read(GOOD).unwrap();
        assert_eq!(policy.horizon, Interval::Weeks(4));
        let a = &policy.cadence["A"];
        assert_eq!(a[0].key, "cadence.A[0]");
        assert_eq!(a[0].frequency, Frequency::Every(Interval::Months(2)));
        assert_eq!(a[0].role, "senior_management", "the tier's visitor visits");
        assert_eq!(
            a[1].frequency,
            Frequency::AtLeast {
                times: 2,
                per: CalendarPeriod::Month
            }
        );
        assert!(a[1].counts(Channel::Sms) && !a[1].counts(Channel::Fax));
        assert_eq!(
            policy.cadence["B"][0].alternative,
            Some(Alternative {
                channel: Channel::Visit,
                every: Interval::Months(2)
            })
        );
        let top = policy.top_customers.as_ref().unwrap();
        assert_eq!(top.count, 10);
        assert_eq!(top.rules[0].key, "top_customers.cadence[0]");
        assert_eq!(top.rules[0].in_person_at_least, Some(0.5));
        assert_eq!(policy.rules_for(Some("A"), None).len(), 2);
        assert_eq!(policy.rules_for(Some("B"), Some(10)).len(), 2);
        assert_eq!(policy.rules_for(None, Some(11)).len(), 0);
        assert_eq!(policy.visitor("B"), Some("middle_management"));
        let new = policy.new_customers.as_ref().unwrap();
        assert_eq!(new.every, Interval::Days(2));
        assert_eq!(
            new.settled,
            Settling {
                after_days: Some(30),
                after_contacts: Some(10)
            }
        );
        let projects = policy.large_projects.as_ref().unwrap();
        assert_eq!(projects.threshold_minor, 500_000_000, "yuan in fen");
        assert_eq!(projects.bands[2].from_minor, 1_500_000_000);
    }

    #[test]
    fn the_horizon_is_a_month_unless_said() {
        let policy = read(&GOOD.replace("horizon = \"4 weeks\"", "")).unwrap();
        assert_eq!(policy.horizon, Interval::Months(1));
    }

    #[test]
    fn every_problem_is_named_by_field() {
        let bad = GOOD
            .replace(
                "every = \"2 months\"\nchannel = \"visit\"",
                "every = \"bimonthly\"\nchannel = \"pigeon\"",
            )
            .replace("per = \"month\"", "per = \"fortnight\"")
            .replace("role = \"sales_manager\"", "role = \"sales manger\"")
            .replace("[[scheduling.cadence.B]]", "[[scheduling.cadence.Z]]")
            .replace("in_person_at_least = 0.5", "in_person_at_least = 1.5")
            .replace("count = 10", "count = 0")
            .replace(
                "never_more_than = \"7 days\"",
                "never_more_than = \"1 day\"",
            )
            .replace(
                "settled_after = { days = 30, contacts = 10 }",
                "settled_after = {}",
            )
            .replace("{ from = 10000000", "{ from = 20000000")
            .replace(
                "after_signing = \"coordinator\"",
                "after_signing = \"intern\"",
            )
            .replace("horizon = \"4 weeks\"", "horizon = \"2 years\"");
        let err = read(&bad).unwrap_err();
        let fields = fields(&err);
        for expected in [
            "scheduling.horizon",
            "scheduling.cadence.A[0].every",
            "scheduling.cadence.A[0].channel",
            "scheduling.cadence.A[1].per",
            "scheduling.cadence.Z",
            "scheduling.cadence.Z[0].role",
            "scheduling.top_customers.count",
            "scheduling.top_customers.cadence[0].in_person_at_least",
            "scheduling.new_customers.every",
            "scheduling.new_customers.settled_after",
            "scheduling.large_projects.owners[0].after_signing",
            "scheduling.large_projects.owners[2].from",
        ] {
            assert!(fields.contains(&expected), "{expected} in {fields:?}");
        }
    }

    #[test]
    fn a_rule_says_one_frequency_and_who_makes_it() {
        let bad = GOOD
            .replace(
                "at_least = 2\nper = \"month\"",
                "every = \"1 month\"\nat_least = 2",
            )
            .replace(
                "every = \"1 month\"\nchannel = \"phone\"\nrole = \"sales_manager\"",
                "every = \"1 month\"\nper = \"month\"\nchannel = \"phone\"",
            )
            .replace(
                "also = [\"visit\"]\nrole = \"responsible_leader\"",
                "role = \"responsible_leader\"",
            )
            .replace(
                "at_least = 1\nper = \"quarter\"",
                "at_least = 100\nper = \"quarter\"",
            );
        let err = read(&bad).unwrap_err();
        let fields = fields(&err);
        for expected in [
            "scheduling.cadence.A[1]",
            "scheduling.cadence.B[0].per",
            "scheduling.cadence.B[0].role",
            "scheduling.top_customers.cadence[0].at_least",
            "scheduling.top_customers.cadence[0].in_person_at_least",
        ] {
            assert!(fields.contains(&expected), "{expected} in {fields:?}");
        }
    }

    #[test]
    fn unknown_keys_are_refused_by_their_path() {
        let err = read(&GOOD.replace(
            "every = \"2 months\"\nchannel",
            "evry = \"2 months\"\nchannel",
        ))
        .unwrap_err();
        assert_eq!(err.problems.len(), 1, "{err}");
        let (field, reason) = &err.problems[0];
        assert_eq!(field, "scheduling.cadence.A[0].evry");
        assert!(
            reason.contains("evry") && reason.contains("(line "),
            "{reason}"
        );

        let err = read(&GOOD.replace("horizon =", "planning_horizon =")).unwrap_err();
        assert!(err.to_string().contains("planning_horizon"), "{err}");
        let err = read(&GOOD.replace("[scheduling]\n", "[not_scheduling]\n")).unwrap_err();
        assert!(err.to_string().contains("scheduling"), "{err}");
    }

    /// Each shipped preset's section reads, keyed by that preset's tiers,
    /// and says what its document says.
    #[test]
    fn every_shipped_preset_has_a_good_scheduling_section() {
        for (name, text) in patron_presets::BUILT_IN {
            let preset = patron_presets::parse(text).unwrap();
            let policy = parse(&preset).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(policy.horizon, Interval::Months(1), "{name}");
            let covered = preset
                .tier_codes()
                .iter()
                .filter(|t| !policy.rules_for(Some(t), None).is_empty())
                .count();
            let has_top = policy.top_customers.is_some();
            assert!(
                covered > 0 || has_top,
                "{name}: some customers have a cadence"
            );
        }
        let policy = |name| {
            parse(&patron_presets::parse(patron_presets::shipped::shipped(name).unwrap()).unwrap())
                .unwrap()
        };

        let health = policy("health-chain");
        let roles: Vec<&str> = health.cadence["A"]
            .iter()
            .map(|r| r.role.as_str())
            .collect();
        assert_eq!(roles, ["store_manager", "sales_manager"]);
        assert_eq!(
            health.cadence["B"][0].alternative.unwrap().channel,
            Channel::Visit
        );

        let industrial = policy("industrial-b2b");
        assert_eq!(industrial.visitor("A"), Some("senior_management"));
        assert_eq!(industrial.cadence["C"][1].role, "middle_management");
        assert!(industrial.large_projects.is_some());

        let telecom = policy("telecom-vip");
        assert_eq!(
            telecom.cadence["silver"][0].frequency,
            Frequency::AtLeast {
                times: 1,
                per: CalendarPeriod::Quarter
            }
        );

        let postal = policy("postal-key-accounts");
        assert_eq!(postal.top_customers.as_ref().unwrap().count, 10);
        assert!(postal.new_customers.is_some());

        // Every preset says who approves gift expenses, up to how much.
        for (name, text) in patron_presets::BUILT_IN {
            let preset = patron_presets::parse(text).unwrap();
            let gifts = parse(&preset).unwrap().gift_expenses;
            assert!(
                gifts.limit_of(&["supervisor".to_owned()]).is_some(),
                "{name}: supervisors approve gift expenses"
            );
            assert_eq!(
                gifts.limit_of(&["account_manager".to_owned()]),
                None,
                "{name}: managers ask, they do not approve"
            );
        }
        assert_eq!(
            industrial.gift_expenses.approval["supervisor"],
            super::super::gift_expenses::ApprovalLimit::UpTo(500_000)
        );
    }

    #[test]
    fn intervals_and_periods() {
        assert_eq!(Interval::parse("1 day"), Some(Interval::Days(1)));
        assert_eq!(Interval::parse("3 weeks"), Some(Interval::Weeks(3)));
        assert_eq!(Interval::parse("2 months"), Some(Interval::Months(2)));
        for bad in ["monthly", "0 days", "2", "two months", "2 fortnights", ""] {
            assert_eq!(Interval::parse(bad), None, "{bad}");
        }
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(
            Interval::Months(1).after(day(2027, 1, 31)),
            day(2027, 2, 28)
        );
        assert_eq!(Interval::Weeks(1).after(day(2027, 12, 28)), day(2028, 1, 4));
        assert_eq!(
            CalendarPeriod::Quarter.containing(day(2027, 8, 15)),
            (day(2027, 7, 1), day(2027, 9, 30))
        );
        assert_eq!(
            CalendarPeriod::Week.containing(day(2027, 1, 1)),
            (day(2026, 12, 28), day(2027, 1, 3))
        );
        assert_eq!(
            CalendarPeriod::Month.containing(day(2028, 2, 10)),
            (day(2028, 2, 1), day(2028, 2, 29))
        );
    }
}
