//! Care (关怀, 000 3.6 and 4.4, 002): a care task some days ahead of a
//! customer's birthday (Gregorian or lunar), wedding anniversary, a family
//! member's date and the three lunar festivals, each with the gift the
//! policy suggests for the customer's tier; and a care task at once for a
//! family event (wedding, funeral, birth, hospital). The preset's
//! `[scheduling.care]` section sets the lead days, how soon a family event is
//! due and the gifts.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Duration, NaiveDate};
use serde::Deserialize;

use super::lunar::{Festival, LunarMonthDay};
use super::policy::Channel;

/// The gifts key that applies to customers with no tier, or a tier the
/// section does not list.
pub const DEFAULT_TIER: &str = "default";

/// The longest lead the section accepts: a care task is a reminder, not a
/// plan for next season.
pub const MAX_LEAD_DAYS: u32 = 60;

/// Why a section was refused: every problem, by field path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .problems.iter().map(|(f, r)| format!("{f}: {r}")).collect::<Vec<_>>().join("; "))]
pub struct SectionError {
    pub problems: Vec<(String, String)>,
}

impl SectionError {
    /// A section that did not even read (a wrong type or an unknown key).
    pub(crate) fn unreadable(field: &str, error: toml::de::Error) -> Self {
        Self {
            problems: vec![(field.to_owned(), error.message().trim().to_owned())],
        }
    }
}

/// What a care task is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Occasion {
    Birthday,
    WeddingAnniversary,
    /// A family member's birthday or other date the archive keeps.
    FamilyDate,
    SpringFestival,
    DragonBoat,
    MidAutumn,
    Wedding,
    Funeral,
    Birth,
    Hospital,
}

impl Occasion {
    /// The name the section uses for it.
    pub fn key(self) -> &'static str {
        match self {
            Occasion::Birthday => "birthday",
            Occasion::WeddingAnniversary => "wedding_anniversary",
            Occasion::FamilyDate => "family_date",
            Occasion::SpringFestival => "spring_festival",
            Occasion::DragonBoat => "dragon_boat",
            Occasion::MidAutumn => "mid_autumn",
            Occasion::Wedding => "wedding",
            Occasion::Funeral => "funeral",
            Occasion::Birth => "birth",
            Occasion::Hospital => "hospital",
        }
    }

    /// Every occasion, dated ones first.
    pub const ALL: [Occasion; 10] = [
        Occasion::Birthday,
        Occasion::WeddingAnniversary,
        Occasion::FamilyDate,
        Occasion::SpringFestival,
        Occasion::DragonBoat,
        Occasion::MidAutumn,
        Occasion::Wedding,
        Occasion::Funeral,
        Occasion::Birth,
        Occasion::Hospital,
    ];

    /// The occasion a section or a stored task names.
    pub fn parse(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.key() == key)
    }

    /// The occasion in words, for a task's rule.
    pub fn words(self) -> &'static str {
        match self {
            Occasion::Birthday => "birthday",
            Occasion::WeddingAnniversary => "wedding anniversary",
            Occasion::FamilyDate => "birthday",
            Occasion::SpringFestival => "Spring Festival",
            Occasion::DragonBoat => "Dragon Boat Festival",
            Occasion::MidAutumn => "Mid-Autumn Festival",
            Occasion::Wedding => "wedding",
            Occasion::Funeral => "funeral",
            Occasion::Birth => "birth",
            Occasion::Hospital => "hospital stay",
        }
    }

    /// A date of the customer's own or their family's that comes back every
    /// year (the archive's facts), not a festival or a family event.
    pub fn is_personal_date(self) -> bool {
        matches!(
            self,
            Occasion::Birthday | Occasion::WeddingAnniversary | Occasion::FamilyDate
        )
    }

    /// The channel a care task for it takes unless the section says
    /// otherwise (the company's choice where the documents are silent): a
    /// greeting call for personal dates (000 3.6: "a word on the customer's
    /// birthday"), a letter for festivals (003: "letters on festivals and
    /// events"), a visit for family events (000 4.4: gifts, money and
    /// condolences are brought).
    pub fn default_channel(self) -> Channel {
        match self {
            Occasion::Birthday | Occasion::WeddingAnniversary | Occasion::FamilyDate => {
                Channel::Phone
            }
            Occasion::SpringFestival | Occasion::DragonBoat | Occasion::MidAutumn => {
                Channel::Letter
            }
            Occasion::Wedding | Occasion::Funeral | Occasion::Birth | Occasion::Hospital => {
                Channel::Visit
            }
        }
    }

    pub fn festival(self) -> Option<Festival> {
        match self {
            Occasion::SpringFestival => Some(Festival::SpringFestival),
            Occasion::DragonBoat => Some(Festival::DragonBoat),
            Occasion::MidAutumn => Some(Festival::MidAutumn),
            _ => None,
        }
    }
}

/// A family event recorded against a customer (000 4.4, 红白喜事): care
/// at once, not ahead of a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FamilyEvent {
    Wedding,
    Funeral,
    Birth,
    Hospital,
}

impl FamilyEvent {
    pub const ALL: [FamilyEvent; 4] = [
        FamilyEvent::Wedding,
        FamilyEvent::Funeral,
        FamilyEvent::Birth,
        FamilyEvent::Hospital,
    ];

    pub fn occasion(self) -> Occasion {
        match self {
            FamilyEvent::Wedding => Occasion::Wedding,
            FamilyEvent::Funeral => Occasion::Funeral,
            FamilyEvent::Birth => Occasion::Birth,
            FamilyEvent::Hospital => Occasion::Hospital,
        }
    }
}

/// How soon a family event's care task is due after it is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Due {
    Today,
    Tomorrow,
}

/// Days ahead of each dated occasion that its care task is due.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LeadDays {
    pub birthday: u32,
    pub wedding_anniversary: u32,
    pub family_date: u32,
    pub spring_festival: u32,
    pub dragon_boat: u32,
    pub mid_autumn: u32,
}

/// The company's choice where the documents are silent: three days for a
/// greeting and a small gift, a week before Spring Festival and Mid-Autumn
/// (mooncakes must be bought and delivered, 002 §3).
impl Default for LeadDays {
    fn default() -> Self {
        Self {
            birthday: 3,
            wedding_anniversary: 3,
            family_date: 3,
            spring_festival: 7,
            dragon_boat: 3,
            mid_autumn: 7,
        }
    }
}

impl LeadDays {
    /// The lead of a dated occasion; family events have none.
    pub fn of(&self, occasion: Occasion) -> Option<u32> {
        Some(match occasion {
            Occasion::Birthday => self.birthday,
            Occasion::WeddingAnniversary => self.wedding_anniversary,
            Occasion::FamilyDate => self.family_date,
            Occasion::SpringFestival => self.spring_festival,
            Occasion::DragonBoat => self.dragon_boat,
            Occasion::MidAutumn => self.mid_autumn,
            _ => return None,
        })
    }
}

/// When each family event's care task is due.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FamilyEventDue {
    pub wedding: Due,
    pub funeral: Due,
    pub birth: Due,
    pub hospital: Due,
}

/// Condolences and a hospital visit cannot wait; congratulations may
/// (company's choice, 000 4.4 says only "at once").
impl Default for FamilyEventDue {
    fn default() -> Self {
        Self {
            wedding: Due::Tomorrow,
            funeral: Due::Today,
            birth: Due::Tomorrow,
            hospital: Due::Today,
        }
    }
}

impl FamilyEventDue {
    pub fn of(&self, event: FamilyEvent) -> Due {
        match event {
            FamilyEvent::Wedding => self.wedding,
            FamilyEvent::Funeral => self.funeral,
            FamilyEvent::Birth => self.birth,
            FamilyEvent::Hospital => self.hospital,
        }
    }
}

/// The preset's `[scheduling.care]` section. Read it with
/// [`CareSection::from_toml`], which also checks it against the preset's
/// tiers; a preset without the section gets [`CareSection::default`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CareSection {
    pub lead_days: LeadDays,
    pub family_events: FamilyEventDue,
    /// The festivals the company marks; all three unless it says otherwise.
    pub festivals: Vec<Occasion>,
    /// Per tier code (or [`DEFAULT_TIER`]), per occasion: the gift to
    /// suggest. An occasion without one gets a greeting only.
    pub gifts: BTreeMap<String, BTreeMap<Occasion, String>>,
    /// Per occasion, how its care task is made (`visit`, `phone`, `sms`,
    /// `email`, `letter`, `fax`); an occasion left out takes
    /// [`Occasion::default_channel`].
    pub channels: BTreeMap<Occasion, String>,
}

impl Default for CareSection {
    fn default() -> Self {
        Self {
            lead_days: LeadDays::default(),
            family_events: FamilyEventDue::default(),
            festivals: vec![
                Occasion::SpringFestival,
                Occasion::DragonBoat,
                Occasion::MidAutumn,
            ],
            gifts: BTreeMap::new(),
            channels: BTreeMap::new(),
        }
    }
}

impl CareSection {
    /// Reads and checks `section` (the `[scheduling.care]` table) against
    /// the preset's tier codes.
    pub fn from_toml(section: &toml::Value, tiers: &[String]) -> Result<Self, SectionError> {
        let care: CareSection = section
            .clone()
            .try_into()
            .map_err(|e| SectionError::unreadable("scheduling.care", e))?;
        care.check(tiers)?;
        Ok(care)
    }

    /// Every problem of the section, by field path.
    pub fn check(&self, tiers: &[String]) -> Result<(), SectionError> {
        let mut problems = Vec::new();
        for occasion in [
            Occasion::Birthday,
            Occasion::WeddingAnniversary,
            Occasion::FamilyDate,
            Occasion::SpringFestival,
            Occasion::DragonBoat,
            Occasion::MidAutumn,
        ] {
            if self.lead_days.of(occasion).unwrap_or(0) > MAX_LEAD_DAYS {
                problems.push((
                    format!("scheduling.care.lead_days.{}", occasion.key()),
                    format!("must be 0 to {MAX_LEAD_DAYS} days"),
                ));
            }
        }
        let mut seen = BTreeSet::new();
        for (i, occasion) in self.festivals.iter().enumerate() {
            let field = format!("scheduling.care.festivals[{i}]");
            if occasion.festival().is_none() {
                problems.push((
                    field,
                    format!(
                        "{} is not a festival (spring_festival, dragon_boat, mid_autumn)",
                        occasion.key()
                    ),
                ));
            } else if !seen.insert(occasion) {
                problems.push((field, format!("{} is listed twice", occasion.key())));
            }
        }
        for (tier, gifts) in &self.gifts {
            if tier != DEFAULT_TIER && !tiers.contains(tier) {
                problems.push((
                    format!("scheduling.care.gifts.{tier}"),
                    format!(
                        "no tier {tier} in this preset (tiers: {}; or `{DEFAULT_TIER}`)",
                        tiers.join(", ")
                    ),
                ));
            }
            for (occasion, gift) in gifts {
                if gift.trim().is_empty() {
                    problems.push((
                        format!("scheduling.care.gifts.{tier}.{}", occasion.key()),
                        "must not be blank; leave the occasion out for a greeting only".into(),
                    ));
                }
            }
        }
        for (occasion, channel) in &self.channels {
            if Channel::parse(channel).is_none() {
                problems.push((
                    format!("scheduling.care.channels.{}", occasion.key()),
                    format!(
                        "{channel:?} is not a channel ({})",
                        Channel::ALL.map(Channel::as_str).join(", ")
                    ),
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(SectionError { problems })
        }
    }

    /// How a care task for `occasion` is made.
    pub fn channel(&self, occasion: Occasion) -> Channel {
        self.channels
            .get(&occasion)
            .and_then(|c| Channel::parse(c))
            .unwrap_or_else(|| occasion.default_channel())
    }

    /// The gift suggested for `occasion` to a customer of `tier`.
    pub fn gift(&self, tier: Option<&str>, occasion: Occasion) -> Option<&str> {
        tier.and_then(|t| self.gifts.get(t))
            .and_then(|g| g.get(&occasion))
            .or_else(|| self.gifts.get(DEFAULT_TIER)?.get(&occasion))
            .map(String::as_str)
    }
}

/// A date that comes back every year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YearlyDate {
    Gregorian { month: u32, day: u32 },
    Lunar(LunarMonthDay),
}

impl YearlyDate {
    /// A Gregorian month and day; 29 February is allowed (a leap-day birthday).
    pub fn gregorian(month: u32, day: u32) -> Result<Self, &'static str> {
        if patron_vocab::calendar::date_exists(0, month, day) {
            Ok(YearlyDate::Gregorian { month, day })
        } else {
            Err("is not a day of the year")
        }
    }

    /// Its dates from `from` to `to`, both included. A 29 February date is
    /// kept on 28 February in common years, the last day of February there
    /// (the customer still hears from us before the day is over).
    pub fn between(self, from: NaiveDate, to: NaiveDate) -> Vec<NaiveDate> {
        match self {
            YearlyDate::Lunar(lunar) => lunar.between(from, to),
            YearlyDate::Gregorian { month, day } => (from.year()..=to.year())
                .filter_map(|year| {
                    NaiveDate::from_ymd_opt(year, month, day).or_else(|| {
                        (month == 2 && day == 29)
                            .then(|| NaiveDate::from_ymd_opt(year, 2, 28))
                            .flatten()
                    })
                })
                .filter(|date| (from..=to).contains(date))
                .collect(),
        }
    }
}

/// A family member's date the archive keeps (a spouse's or a child's
/// birthday, say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamilyDate {
    pub name: String,
    pub relation: String,
    pub date: YearlyDate,
}

/// What care knows of a customer, from profile's events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CareFacts {
    /// The customer's tier code; `None` when not graded.
    pub tier: Option<String>,
    pub birthday: Option<YearlyDate>,
    pub wedding_anniversary: Option<YearlyDate>,
    pub family: Vec<FamilyDate>,
}

impl CareFacts {
    /// The customer's own and their family's yearly dates.
    fn personal_dates(&self) -> Vec<(Occasion, Whom, YearlyDate)> {
        let mut dated = Vec::new();
        if let Some(date) = self.birthday {
            dated.push((Occasion::Birthday, Whom::Customer, date));
        }
        if let Some(date) = self.wedding_anniversary {
            dated.push((Occasion::WeddingAnniversary, Whom::Customer, date));
        }
        for member in &self.family {
            let whom = Whom::Family {
                name: member.name.clone(),
                relation: member.relation.clone(),
            };
            dated.push((Occasion::FamilyDate, whom, member.date));
        }
        dated
    }

    /// Whether these facts give a personal occasion with `key` (see
    /// [`CareTask::key`]) on `date`: a care task made for one they no longer
    /// give (a birthday corrected) is withdrawn.
    pub fn backs(&self, key: &str, date: NaiveDate) -> bool {
        self.personal_dates()
            .into_iter()
            .any(|(occasion, whom, yearly)| {
                occasion_key(occasion, &whom) == key && yearly.between(date, date) == [date]
            })
    }
}

/// What tells an occasion from the customer's others of the same date.
fn occasion_key(occasion: Occasion, whom: &Whom) -> String {
    match whom {
        Whom::Customer => occasion.key().to_owned(),
        Whom::Family { name, relation } => format!("{}:{relation}:{name}", occasion.key()),
    }
}

/// Whom a care task is for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Whom {
    Customer,
    Family { name: String, relation: String },
}

/// One piece of care to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CareTask {
    pub occasion: Occasion,
    pub whom: Whom,
    /// The day itself (the birthday, the festival, the family event).
    pub date: NaiveDate,
    /// When the manager should act: the lead days before `date`, or at once.
    pub due: NaiveDate,
    pub gift: Option<String>,
}

impl CareTask {
    /// What tells this occasion from the customer's others of the same
    /// date: the occasion, and for a family member whose. With the date it
    /// makes a care task once, however often the customer is planned.
    pub fn key(&self) -> String {
        occasion_key(self.occasion, &self.whom)
    }

    /// The task's rule, in words: what, whose, when, and the gift.
    pub fn words(&self) -> String {
        let whose = match &self.whom {
            Whom::Customer if self.occasion.festival().is_some() => String::new(),
            Whom::Customer => "the customer's ".to_owned(),
            Whom::Family { name, relation } if name.is_empty() => format!("the {relation}'s "),
            Whom::Family { name, relation } => format!("{name} ({relation})'s "),
        };
        let gift = match &self.gift {
            Some(gift) => format!("suggested gift: {gift}"),
            None => "a greeting".to_owned(),
        };
        format!(
            "care: {whose}{} on {}; {gift}",
            self.occasion.words(),
            self.date
        )
    }
}

/// The care tasks due from `today` to `horizon_days` after it, ordered by due
/// date. An occasion whose lead point has passed but whose day has not (a
/// birthday just recorded) is due today, so nothing ahead is missed; the
/// caller keeps one task per (customer, occasion, whom, date).
pub fn care_tasks(
    facts: &CareFacts,
    today: NaiveDate,
    horizon_days: u32,
    section: &CareSection,
) -> Vec<CareTask> {
    let last_due = today + Duration::days(i64::from(horizon_days));
    let tier = facts.tier.as_deref();
    let dated = facts.personal_dates();
    let mut tasks = Vec::new();
    let mut push = |occasion: Occasion, whom: &Whom, date: NaiveDate, lead: Duration| {
        let due = (date - lead).max(today);
        if due <= last_due {
            tasks.push(CareTask {
                occasion,
                whom: whom.clone(),
                date,
                due,
                gift: section.gift(tier, occasion).map(str::to_owned),
            });
        }
    };
    let lead_of = |occasion| Duration::days(i64::from(section.lead_days.of(occasion).unwrap_or(0)));
    // The festivals' dates are the same for every customer: from a table
    // computed once, not again for each.
    for occasion in &section.festivals {
        if let Some(festival) = occasion.festival() {
            let lead = lead_of(*occasion);
            for date in festival.between(today, last_due + lead) {
                push(*occasion, &Whom::Customer, date, lead);
            }
        }
    }
    for (occasion, whom, yearly) in dated {
        let lead = lead_of(occasion);
        for date in yearly.between(today, last_due + lead) {
            push(occasion, &whom, date, lead);
        }
    }
    tasks.sort_by_key(|t| (t.due, t.date, t.occasion));
    tasks
}

/// The care task for a family event on `date` recorded on `recorded_on`:
/// due that day or the next, as the section says, whenever the event itself
/// is (a wedding announced weeks ahead is congratulated now).
pub fn family_event_task(
    event: FamilyEvent,
    whom: Whom,
    date: NaiveDate,
    recorded_on: NaiveDate,
    tier: Option<&str>,
    section: &CareSection,
) -> CareTask {
    let due = match section.family_events.of(event) {
        Due::Today => recorded_on,
        Due::Tomorrow => recorded_on + Duration::days(1),
    };
    CareTask {
        occasion: event.occasion(),
        whom,
        date,
        due,
        gift: section.gift(tier, event.occasion()).map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn tiers() -> Vec<String> {
        ["A", "B", "C"].map(String::from).to_vec()
    }

    fn section(text: &str) -> Result<CareSection, SectionError> {
        let file: toml::Table = toml::from_str(text).unwrap();
        CareSection::from_toml(&file["scheduling"]["care"], &tiers())
    }

    const GOOD: &str = r#"
        [scheduling.care]
        festivals = ["spring_festival", "mid_autumn"]
        [scheduling.care.lead_days]
        birthday = 5
        mid_autumn = 10
        [scheduling.care.family_events]
        wedding = "today"
        [scheduling.care.gifts.A]
        birthday = "tea set"
        mid_autumn = "mooncakes (premium box)"
        funeral = "condolence money"
        [scheduling.care.gifts.default]
        birthday = "greeting card"
        mid_autumn = "mooncakes"
    "#;

    fn only_festivals() -> CareSection {
        CareSection {
            festivals: vec![],
            ..CareSection::default()
        }
    }

    #[test]
    fn a_good_section_reads_and_fills_defaults() {
        let care = section(GOOD).unwrap();
        assert_eq!(care.lead_days.birthday, 5);
        assert_eq!(care.lead_days.mid_autumn, 10);
        assert_eq!(care.lead_days.spring_festival, 7, "default");
        assert_eq!(care.family_events.wedding, Due::Today);
        assert_eq!(care.family_events.funeral, Due::Today, "default");
        assert_eq!(care.family_events.birth, Due::Tomorrow, "default");
        assert_eq!(care.gift(Some("A"), Occasion::Birthday), Some("tea set"));
        assert_eq!(
            care.gift(Some("B"), Occasion::Birthday),
            Some("greeting card"),
            "B falls back to the default row"
        );
        assert_eq!(care.gift(None, Occasion::MidAutumn), Some("mooncakes"));
        assert_eq!(care.gift(Some("B"), Occasion::Hospital), None);
        assert_eq!(CareSection::default().check(&tiers()), Ok(()));
    }

    #[test]
    fn every_problem_is_named_by_field() {
        let bad = GOOD
            .replace("birthday = 5", "birthday = 90")
            .replace(
                "[\"spring_festival\", \"mid_autumn\"]",
                "[\"mid_autumn\", \"birthday\", \"mid_autumn\"]",
            )
            .replace("[scheduling.care.gifts.A]", "[scheduling.care.gifts.Z]")
            .replace("\"greeting card\"", "\" \"");
        let err = section(&bad).unwrap_err();
        let fields: Vec<&str> = err.problems.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "scheduling.care.lead_days.birthday",
                "scheduling.care.festivals[1]",
                "scheduling.care.festivals[2]",
                "scheduling.care.gifts.Z",
                "scheduling.care.gifts.default.birthday",
            ]
        );
    }

    #[test]
    fn unknown_keys_and_occasions_are_refused() {
        let err = section(&GOOD.replace("birthday = 5", "birth_day = 5")).unwrap_err();
        assert!(err.to_string().contains("birth_day"), "{err}");
        let err = section(&GOOD.replace("funeral = ", "graduation = ")).unwrap_err();
        assert!(err.to_string().contains("graduation"), "{err}");
        let err = section(&GOOD.replace("wedding = \"today\"", "wedding = \"soon\"")).unwrap_err();
        assert!(err.to_string().contains("soon"), "{err}");
    }

    #[test]
    fn a_birthday_is_due_its_lead_days_ahead_with_the_tiers_gift() {
        let care = section(GOOD).unwrap();
        let facts = CareFacts {
            tier: Some("A".into()),
            birthday: Some(YearlyDate::gregorian(3, 8).unwrap()),
            ..CareFacts::default()
        };
        let care = CareSection {
            festivals: vec![],
            ..care
        };
        // Lead 5: due 3 March. A horizon ending 2 March does not reach it.
        assert!(care_tasks(&facts, day(2027, 2, 1), 29, &care).is_empty());
        let tasks = care_tasks(&facts, day(2027, 2, 1), 30, &care);
        assert_eq!(
            tasks,
            [CareTask {
                occasion: Occasion::Birthday,
                whom: Whom::Customer,
                date: day(2027, 3, 8),
                due: day(2027, 3, 3),
                gift: Some("tea set".into()),
            }]
        );
        // Recorded late, two days before: due at once.
        let late = care_tasks(&facts, day(2027, 3, 6), 0, &care);
        assert_eq!(late[0].due, day(2027, 3, 6));
        // The day itself has passed: next year's.
        let after = care_tasks(&facts, day(2027, 3, 9), 365, &care);
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].date, day(2028, 3, 8));
    }

    #[test]
    fn a_leap_day_birthday_falls_on_28_february_in_common_years() {
        let facts = CareFacts {
            birthday: Some(YearlyDate::gregorian(2, 29).unwrap()),
            ..CareFacts::default()
        };
        let tasks = care_tasks(&facts, day(2027, 1, 1), 365 * 2, &only_festivals());
        let dates: Vec<NaiveDate> = tasks.iter().map(|t| t.date).collect();
        assert_eq!(dates, [day(2027, 2, 28), day(2028, 2, 29)]);
        assert!(YearlyDate::gregorian(2, 30).is_err());
    }

    #[test]
    fn a_lunar_birthday_moves_with_the_lunar_year() {
        // 八月十五 is Mid-Autumn: 2026-09-25, 2027-09-15.
        let facts = CareFacts {
            birthday: Some(YearlyDate::Lunar(LunarMonthDay::new(8, 15).unwrap())),
            ..CareFacts::default()
        };
        let tasks = care_tasks(&facts, day(2026, 1, 1), 640, &only_festivals());
        let got: Vec<(NaiveDate, NaiveDate)> = tasks.iter().map(|t| (t.date, t.due)).collect();
        assert_eq!(
            got,
            [
                (day(2026, 9, 25), day(2026, 9, 22)),
                (day(2027, 9, 15), day(2027, 9, 12)),
            ]
        );
    }

    #[test]
    fn festivals_anniversaries_and_family_dates_in_one_list() {
        let care = section(GOOD).unwrap();
        let facts = CareFacts {
            tier: Some("C".into()),
            wedding_anniversary: Some(YearlyDate::gregorian(10, 1).unwrap()),
            family: vec![FamilyDate {
                name: "张伟".into(),
                relation: "spouse".into(),
                date: YearlyDate::gregorian(9, 20).unwrap(),
            }],
            ..CareFacts::default()
        };
        let tasks = care_tasks(&facts, day(2026, 9, 1), 30, &care);
        let got: Vec<(Occasion, NaiveDate, Option<&str>)> = tasks
            .iter()
            .map(|t| (t.occasion, t.due, t.gift.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                // Mid-Autumn 2026-09-25, lead 10; C has no row: the default gift.
                (Occasion::MidAutumn, day(2026, 9, 15), Some("mooncakes")),
                (Occasion::FamilyDate, day(2026, 9, 17), None),
                (Occasion::WeddingAnniversary, day(2026, 9, 28), None),
            ]
        );
        assert!(matches!(&tasks[1].whom, Whom::Family { relation, .. } if relation == "spouse"));
    }

    #[test]
    fn all_three_festivals_by_default() {
        let tasks = care_tasks(
            &CareFacts::default(),
            day(2026, 1, 1),
            365,
            &CareSection::default(),
        );
        let got: Vec<(Occasion, NaiveDate)> = tasks.iter().map(|t| (t.occasion, t.date)).collect();
        assert_eq!(
            got,
            [
                (Occasion::SpringFestival, day(2026, 2, 17)),
                (Occasion::DragonBoat, day(2026, 6, 19)),
                (Occasion::MidAutumn, day(2026, 9, 25)),
            ]
        );
    }

    #[test]
    fn a_family_event_is_due_at_once() {
        let care = section(GOOD).unwrap();
        let funeral = family_event_task(
            FamilyEvent::Funeral,
            Whom::Customer,
            day(2026, 5, 3),
            day(2026, 5, 4),
            Some("A"),
            &care,
        );
        assert_eq!(funeral.date, day(2026, 5, 3), "the day it happened");
        assert_eq!(funeral.due, day(2026, 5, 4));
        assert_eq!(funeral.gift.as_deref(), Some("condolence money"));
        let birth = family_event_task(
            FamilyEvent::Birth,
            Whom::Customer,
            day(2026, 12, 31),
            day(2026, 12, 31),
            Some("B"),
            &care,
        );
        assert_eq!(birth.due, day(2027, 1, 1), "tomorrow, across the year");
        assert_eq!(birth.gift, None);
        let wedding = family_event_task(
            FamilyEvent::Wedding,
            Whom::Family {
                name: "王小丽".into(),
                relation: "daughter".into(),
            },
            day(2026, 6, 20),
            day(2026, 5, 4),
            None,
            &care,
        );
        assert_eq!(wedding.due, day(2026, 5, 4), "the section says today");
        assert_eq!(wedding.date, day(2026, 6, 20), "announced ahead");
    }

    #[test]
    fn lead_days_reach_back_across_the_year_end() {
        let facts = CareFacts {
            birthday: Some(YearlyDate::gregorian(1, 2).unwrap()),
            family: vec![FamilyDate {
                name: "王芳".into(),
                relation: "mother".into(),
                date: YearlyDate::gregorian(1, 1).unwrap(),
            }],
            ..CareFacts::default()
        };
        let section = only_festivals();
        let got = |today, horizon| -> Vec<(Occasion, NaiveDate, NaiveDate)> {
            care_tasks(&facts, today, horizon, &section)
                .iter()
                .map(|t| (t.occasion, t.date, t.due))
                .collect()
        };
        // Three days ahead: due in December of the year before.
        assert_eq!(
            got(day(2026, 12, 20), 10),
            [
                (Occasion::FamilyDate, day(2027, 1, 1), day(2026, 12, 29)),
                (Occasion::Birthday, day(2027, 1, 2), day(2026, 12, 30)),
            ]
        );
        // On 31 December both lead points have passed: due at once.
        assert_eq!(
            got(day(2026, 12, 31), 0),
            [
                (Occasion::FamilyDate, day(2027, 1, 1), day(2026, 12, 31)),
                (Occasion::Birthday, day(2027, 1, 2), day(2026, 12, 31)),
            ]
        );
        // On 1 January the mother's day is today, the birthday tomorrow.
        assert_eq!(
            got(day(2027, 1, 1), 0),
            [
                (Occasion::FamilyDate, day(2027, 1, 1), day(2027, 1, 1)),
                (Occasion::Birthday, day(2027, 1, 2), day(2027, 1, 1)),
            ]
        );
        // A festival's long lead crosses the year end too: Spring Festival
        // 2028 is 26 January; thirty days before is 27 December 2027.
        let long = CareSection {
            festivals: vec![Occasion::SpringFestival],
            lead_days: LeadDays {
                spring_festival: 30,
                ..LeadDays::default()
            },
            ..CareSection::default()
        };
        let tasks = care_tasks(&CareFacts::default(), day(2027, 12, 20), 10, &long);
        assert_eq!(tasks.len(), 1, "{tasks:?}");
        assert_eq!(tasks[0].date, day(2028, 1, 26));
        assert_eq!(tasks[0].due, day(2027, 12, 27));
    }

    #[test]
    fn a_leap_day_birthdays_lead_counts_from_the_day_kept() {
        let facts = CareFacts {
            birthday: Some(YearlyDate::gregorian(2, 29).unwrap()),
            ..CareFacts::default()
        };
        let section = only_festivals();
        // 2027: kept on 28 February, due three days before.
        let tasks = care_tasks(&facts, day(2027, 2, 20), 10, &section);
        assert_eq!(
            tasks.iter().map(|t| (t.date, t.due)).collect::<Vec<_>>(),
            [(day(2027, 2, 28), day(2027, 2, 25))]
        );
        // 2028 is a leap year: the day itself, due 26 February.
        let tasks = care_tasks(&facts, day(2028, 2, 20), 10, &section);
        assert_eq!(
            tasks.iter().map(|t| (t.date, t.due)).collect::<Vec<_>>(),
            [(day(2028, 2, 29), day(2028, 2, 26))]
        );
        // On 29 February 2028 itself: due at once; the next is 2029's 28th.
        let tasks = care_tasks(&facts, day(2028, 2, 29), 365, &section);
        assert_eq!(
            tasks.iter().map(|t| (t.date, t.due)).collect::<Vec<_>>(),
            [
                (day(2028, 2, 29), day(2028, 2, 29)),
                (day(2029, 2, 28), day(2029, 2, 25))
            ]
        );
        // The day after a common year's 28 February: nothing until next year.
        assert!(care_tasks(&facts, day(2027, 3, 1), 300, &section).is_empty());
    }

    /// The festivals care plans for 2026–2028, each against 6tail's tyme
    /// (an independent lunar calendar), with their lead days.
    #[test]
    fn festival_care_lands_on_the_lunar_dates_2026_to_2028() {
        use tyme4rs::tyme::lunar::LunarDay;
        let section = CareSection::default();
        let tasks = care_tasks(
            &CareFacts::default(),
            day(2026, 1, 1),
            365 * 3 - 1,
            &section,
        );
        assert_eq!(tasks.len(), 9, "three festivals a year: {tasks:?}");
        for task in &tasks {
            let lunar = task.occasion.festival().unwrap().lunar_day();
            let solar = LunarDay::from_ymd(
                task.date.year() as isize,
                lunar.month() as isize,
                lunar.day() as usize,
            )
            .get_solar_day();
            let by_tyme = day(
                solar.get_year() as i32,
                solar.get_month() as u32,
                solar.get_day() as u32,
            );
            assert_eq!(task.date, by_tyme, "{:?} {}", task.occasion, task.date);
            let lead = section.lead_days.of(task.occasion).unwrap();
            assert_eq!(
                task.due,
                task.date - Duration::days(i64::from(lead)),
                "{task:?}"
            );
            assert_eq!(task.whom, Whom::Customer);
        }
        let spring: Vec<NaiveDate> = tasks
            .iter()
            .filter(|t| t.occasion == Occasion::SpringFestival)
            .map(|t| t.date)
            .collect();
        assert_eq!(
            spring,
            [day(2026, 2, 17), day(2027, 2, 6), day(2028, 1, 26)]
        );
    }

    #[test]
    fn a_task_is_told_apart_by_occasion_and_whose() {
        let task = |occasion, whom| CareTask {
            occasion,
            whom,
            date: day(2027, 3, 8),
            due: day(2027, 3, 5),
            gift: None,
        };
        let spouse = Whom::Family {
            name: "张伟".into(),
            relation: "spouse".into(),
        };
        assert_eq!(task(Occasion::Birthday, Whom::Customer).key(), "birthday");
        assert_eq!(
            task(Occasion::FamilyDate, spouse.clone()).key(),
            "family_date:spouse:张伟"
        );
        assert_eq!(
            task(Occasion::Birthday, Whom::Customer).words(),
            "care: the customer's birthday on 2027-03-08; a greeting"
        );
        assert_eq!(
            CareTask {
                gift: Some("tea".into()),
                ..task(Occasion::FamilyDate, spouse)
            }
            .words(),
            "care: 张伟 (spouse)'s birthday on 2027-03-08; suggested gift: tea"
        );
        assert_eq!(
            task(Occasion::MidAutumn, Whom::Customer).words(),
            "care: Mid-Autumn Festival on 2027-03-08; a greeting"
        );
        for occasion in Occasion::ALL {
            assert_eq!(Occasion::parse(occasion.key()), Some(occasion));
        }
        assert_eq!(Occasion::parse("graduation"), None);
    }

    #[test]
    fn the_facts_back_only_their_own_dates() {
        let facts = CareFacts {
            birthday: Some(YearlyDate::gregorian(2, 29).unwrap()),
            family: vec![FamilyDate {
                name: "张伟".into(),
                relation: "spouse".into(),
                date: YearlyDate::gregorian(9, 20).unwrap(),
            }],
            ..CareFacts::default()
        };
        assert!(facts.backs("birthday", day(2028, 2, 29)));
        assert!(
            facts.backs("birthday", day(2027, 2, 28)),
            "kept on the 28th"
        );
        assert!(
            !facts.backs("birthday", day(2028, 2, 28)),
            "2028 has the 29th"
        );
        assert!(facts.backs("family_date:spouse:张伟", day(2027, 9, 20)));
        assert!(!facts.backs("family_date:spouse:张三", day(2027, 9, 20)));
        assert!(!facts.backs("wedding_anniversary", day(2027, 9, 20)));
        assert!(
            !facts.backs("mid_autumn", day(2026, 9, 25)),
            "not a personal date"
        );
        for task in care_tasks(&facts, day(2027, 1, 1), 365, &only_festivals()) {
            assert!(facts.backs(&task.key(), task.date), "{task:?}");
        }
    }

    #[test]
    fn each_occasion_has_a_channel() {
        let care = section(
            r#"
            [scheduling.care.channels]
            birthday = "visit"
            mid_autumn = "email"
        "#,
        )
        .unwrap();
        assert_eq!(care.channel(Occasion::Birthday), Channel::Visit);
        assert_eq!(care.channel(Occasion::MidAutumn), Channel::Email);
        assert_eq!(care.channel(Occasion::WeddingAnniversary), Channel::Phone);
        assert_eq!(care.channel(Occasion::SpringFestival), Channel::Letter);
        assert_eq!(care.channel(Occasion::Hospital), Channel::Visit);
        let err = section(
            r#"
            [scheduling.care.channels]
            birthday = "pigeon"
        "#,
        )
        .unwrap_err();
        assert_eq!(err.problems[0].0, "scheduling.care.channels.birthday");
        assert!(err.problems[0].1.contains("pigeon"), "{err}");
    }

    /// Each shipped preset's `[scheduling.care]` and
    /// `[scheduling.contact_windows]` read through these types, keyed by
    /// that preset's tiers.
    #[test]
    fn every_shipped_preset_has_good_care_and_window_sections() {
        use crate::domain::contact_window::WindowSection;
        let shipped = [
            include_str!("../../../../deploy/presets/health-chain.toml"),
            include_str!("../../../../deploy/presets/industrial-b2b.toml"),
            include_str!("../../../../deploy/presets/postal-key-accounts.toml"),
            include_str!("../../../../deploy/presets/retail-store.toml"),
            include_str!("../../../../deploy/presets/telecom-vip.toml"),
        ];
        for text in shipped {
            let file: toml::Table = toml::from_str(text).unwrap();
            let id = file["preset"]["id"].as_str().unwrap();
            let tiers: Vec<String> = file["tiering"]["tiers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["code"].as_str().unwrap().to_owned())
                .collect();
            let care = CareSection::from_toml(&file["scheduling"]["care"], &tiers)
                .unwrap_or_else(|e| panic!("{id}: {e}"));
            assert_eq!(care.festivals.len(), 3, "{id}: all three festivals");
            assert_eq!(
                care.channels.len(),
                Occasion::ALL.len(),
                "{id}: says how each occasion's care is made"
            );
            let top = tiers.first().map(String::as_str);
            assert!(
                care.gift(top, Occasion::MidAutumn).is_some(),
                "{id}: a Mid-Autumn gift for the top tier"
            );
            let windows = WindowSection::from_toml(&file["scheduling"]["contact_windows"])
                .unwrap_or_else(|e| panic!("{id}: {e}"));
            assert_eq!(windows, WindowSection::default(), "{id}: 001's hours");
        }
    }
}
