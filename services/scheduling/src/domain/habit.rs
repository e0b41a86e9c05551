//! A customer's own stated contact habit (001: "there is no single
//! standard"; the archive's preferred contact time, as the customer put it),
//! read from their words into spans of the day on some days of the week.
//! It overrides the policy's contact window, so it is read strictly: words
//! the reader does not know make the whole text unreadable and the policy's
//! window applies, rather than a guess calling someone at the wrong hour.
//!
//! What it reads, in English or Chinese, clauses joined by `,` `;` `/`
//! `or` `and` `或` `和`:
//! - days: `weekdays`, `weekends`, `Mon-Fri`, `Saturday`, `工作日`, `周末`,
//!   `周一至周五`, `星期六`, `每天`; none named: every day. A clause that
//!   names no days takes the previous clause's ("weekday mornings and
//!   evenings");
//! - times: `19:00-21:00`, `7pm to 9pm`, `晚上7点到9点`, `下午3点半-5点`, or a
//!   part of the day: morning 09:00–12:00, noon 12:00–14:00, afternoon
//!   14:00–18:00, evening 19:00–21:00 (上午, 中午, 下午, 晚上; the company's
//!   choice of hours). A part of the day before a range says which half of
//!   the day its hours are in ("evenings 7-9" is 19:00–21:00).

use std::sync::LazyLock;

use chrono::{Duration, NaiveDate, NaiveDateTime, NaiveTime, Weekday};

/// A stretch of the day on some days of the week. A range whose end is
/// before its start runs past midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    from: NaiveTime,
    to: NaiveTime,
    /// Indexed from Monday; all false: every day.
    days: [bool; 7],
}

/// A customer's own stated contact habit: one or more spans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Habit {
    spans: Vec<Span>,
}

/// Why a stated habit could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HabitError {
    #[error("a preferred time range must not be empty")]
    EmptyRange,
    #[error("nothing to read")]
    Blank,
    #[error("{0:?} is not a day or a time of day this scheduler reads")]
    Unknown(String),
    #[error("{0:?} names days but no time of day")]
    NoTime(String),
    #[error("{0:?} is not a time of day")]
    BadTime(String),
}

fn days_of(days: impl IntoIterator<Item = Weekday>) -> [bool; 7] {
    let mut on = [false; 7];
    for day in days {
        on[day.num_days_from_monday() as usize] = true;
    }
    on
}

impl Habit {
    /// One range on `days` (none: every day).
    pub fn new(
        from: NaiveTime,
        to: NaiveTime,
        days: impl IntoIterator<Item = Weekday>,
    ) -> Result<Self, HabitError> {
        if from == to {
            return Err(HabitError::EmptyRange);
        }
        Ok(Self {
            spans: vec![Span {
                from,
                to,
                days: days_of(days),
            }],
        })
    }

    /// Reads the customer's words (see the module's description).
    pub fn parse(text: &str) -> Result<Self, HabitError> {
        let normal: String = text
            .trim()
            .chars()
            .map(|c| match c {
                '：' => ':',
                '，' | '；' | '/' | '／' | '。' | '\n' => ',',
                '－' | '–' | '—' | '～' | '~' => '-',
                '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
                c => c.to_ascii_lowercase(),
            })
            .collect();
        if normal.is_empty() {
            return Err(HabitError::Blank);
        }
        let mut spans = Vec::new();
        let mut previous_days = [false; 7];
        for clause in clauses(&normal) {
            let tokens = tokens(&clause)?;
            let (days, ranges) = assemble(&tokens, &clause)?;
            if ranges.is_empty() {
                return Err(HabitError::NoTime(clause.trim().to_owned()));
            }
            let days = if days.contains(&true) {
                days
            } else {
                previous_days
            };
            previous_days = days;
            for (from, to) in ranges {
                if from == to {
                    return Err(HabitError::EmptyRange);
                }
                spans.push(Span { from, to, days });
            }
        }
        if spans.is_empty() {
            return Err(HabitError::Blank);
        }
        Ok(Self { spans })
    }

    /// The local stretches that begin on `date`, in order.
    pub fn spans_on(&self, date: NaiveDate) -> Vec<(NaiveDateTime, NaiveDateTime)> {
        use chrono::Datelike;
        let weekday = date.weekday().num_days_from_monday() as usize;
        let mut found: Vec<(NaiveDateTime, NaiveDateTime)> = self
            .spans
            .iter()
            .filter(|s| !s.days.contains(&true) || s.days[weekday])
            .filter_map(|s| {
                let end_day = if s.to < s.from {
                    date.checked_add_signed(Duration::days(1))?
                } else {
                    date
                };
                Some((date.and_time(s.from), end_day.and_time(s.to)))
            })
            .collect();
        found.sort();
        found
    }
}

/// The clauses of a normalised text.
fn clauses(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in text.split(',') {
        let mut rest = part.to_owned();
        for joiner in [" or ", " and ", "或者", "或", "和", "以及", "及"] {
            rest = rest.replace(joiner, ",");
        }
        out.extend(
            rest.split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned),
        );
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Morning,
    Noon,
    Afternoon,
    Evening,
}

impl Part {
    fn hours(self) -> (NaiveTime, NaiveTime) {
        let (from, to) = match self {
            Part::Morning => (9, 12),
            Part::Noon => (12, 14),
            Part::Afternoon => (14, 18),
            Part::Evening => (19, 21),
        };
        (hm(from, 0), hm(to, 0))
    }

    /// Whether an hour written in this part of the day is in the
    /// afternoon: "下午3点" is 15:00, "中午1点" 13:00, "上午9点" 09:00.
    fn means_pm(self, hour: u32) -> bool {
        match self {
            Part::Morning => false,
            Part::Noon => (1..=5).contains(&hour),
            Part::Afternoon | Part::Evening => hour < 12,
        }
    }
}

fn hm(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).expect("a time of day")
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Days(Vec<Weekday>),
    Day(Weekday),
    Part(Part),
    /// An hour (0–24) and minute as written.
    Clock(u32, u32),
    Meridiem {
        pm: bool,
    },
    Until,
}

const WEEK: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

fn english_word(word: &str) -> Option<Option<Token>> {
    use Weekday::*;
    let day = |d| Some(Some(Token::Day(d)));
    let part = |p| Some(Some(Token::Part(p)));
    match word {
        "monday" | "mondays" | "mon" => day(Mon),
        "tuesday" | "tuesdays" | "tue" | "tues" => day(Tue),
        "wednesday" | "wednesdays" | "wed" => day(Wed),
        "thursday" | "thursdays" | "thu" | "thur" | "thurs" => day(Thu),
        "friday" | "fridays" | "fri" => day(Fri),
        "saturday" | "saturdays" | "sat" => day(Sat),
        "sunday" | "sundays" | "sun" => day(Sun),
        "weekday" | "weekdays" | "workday" | "workdays" => {
            Some(Some(Token::Days(vec![Mon, Tue, Wed, Thu, Fri])))
        }
        "weekend" | "weekends" => Some(Some(Token::Days(vec![Sat, Sun]))),
        "daily" | "everyday" | "day" | "days" => Some(Some(Token::Days(WEEK.to_vec()))),
        "morning" | "mornings" => part(Part::Morning),
        "noon" | "lunchtime" | "midday" => part(Part::Noon),
        "afternoon" | "afternoons" => part(Part::Afternoon),
        "evening" | "evenings" | "night" | "nights" => part(Part::Evening),
        "am" => Some(Some(Token::Meridiem { pm: false })),
        "pm" => Some(Some(Token::Meridiem { pm: true })),
        "to" | "until" | "till" => Some(Some(Token::Until)),
        // Words that say nothing of when.
        "on" | "in" | "the" | "at" | "between" | "from" | "only" | "any" | "prefer" | "prefers"
        | "preferred" | "please" | "call" | "calls" | "contact" | "contacted" | "time"
        | "times" | "best" | "during" | "every" | "is" | "are" | "be" | "by" | "phone" | "ok"
        | "fine" | "around" | "about" | "preferably" | "usually" | "h" => Some(None),
        _ => None,
    }
}

/// Chinese words, longest first, so `周末` is read before `周` could be.
static CHINESE: LazyLock<Vec<(&'static str, Option<Token>)>> = LazyLock::new(|| {
    use Weekday::*;
    let day = |d| Some(Token::Day(d));
    let weekdays = Some(Token::Days(vec![Mon, Tue, Wed, Thu, Fri]));
    let weekend = Some(Token::Days(vec![Sat, Sun]));
    let every = Some(Token::Days(WEEK.to_vec()));
    let morning = Some(Token::Part(Part::Morning));
    let noon = Some(Token::Part(Part::Noon));
    let afternoon = Some(Token::Part(Part::Afternoon));
    let evening = Some(Token::Part(Part::Evening));
    let mut words = vec![
        ("周一", day(Mon)),
        ("周二", day(Tue)),
        ("周三", day(Wed)),
        ("周四", day(Thu)),
        ("周五", day(Fri)),
        ("周六", day(Sat)),
        ("周日", day(Sun)),
        ("周天", day(Sun)),
        ("星期一", day(Mon)),
        ("星期二", day(Tue)),
        ("星期三", day(Wed)),
        ("星期四", day(Thu)),
        ("星期五", day(Fri)),
        ("星期六", day(Sat)),
        ("星期日", day(Sun)),
        ("星期天", day(Sun)),
        ("礼拜一", day(Mon)),
        ("礼拜二", day(Tue)),
        ("礼拜三", day(Wed)),
        ("礼拜四", day(Thu)),
        ("礼拜五", day(Fri)),
        ("礼拜六", day(Sat)),
        ("礼拜日", day(Sun)),
        ("礼拜天", day(Sun)),
        ("工作日", weekdays),
        ("周末", weekend.clone()),
        ("双休日", weekend),
        ("每天", every.clone()),
        ("天天", every.clone()),
        ("每日", every),
        ("上午", morning.clone()),
        ("早上", morning.clone()),
        ("早晨", morning),
        ("中午", noon.clone()),
        ("午间", noon),
        ("下午", afternoon),
        ("晚上", evening.clone()),
        ("傍晚", evening.clone()),
        ("晚间", evening.clone()),
        ("夜里", evening),
        ("至", Some(Token::Until)),
        ("到", Some(Token::Until)),
    ];
    // Words that say nothing of when.
    for filler in [
        "的",
        "在",
        "请",
        "联系",
        "时间",
        "最好",
        "比较",
        "方便",
        "每周",
        "每逢",
        "打电话",
        "来电",
        "电话",
        "可以",
        "时段",
        "期间",
        "左右",
        "之间",
        "都",
        "均",
        "为",
        "是",
        "喜欢",
        "希望",
        "、",
        "时",
    ] {
        words.push((filler, None));
    }
    words.sort_by_key(|(w, _)| std::cmp::Reverse(w.chars().count()));
    words
});

/// A clause's tokens; an unknown word makes the clause unreadable.
fn tokens(clause: &str) -> Result<Vec<Token>, HabitError> {
    let chars: Vec<char> = clause.chars().collect();
    let unknown = || HabitError::Unknown(clause.trim().to_owned());
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() || c == '.' {
            i += 1;
        } else if c == '-' {
            out.push(Token::Until);
            i += 1;
        } else if c.is_ascii_alphabetic() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_alphabetic() {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if let Some(token) = english_word(&word).ok_or_else(unknown)? {
                out.push(token);
            }
        } else if c.is_ascii_digit() {
            let (token, next) = clock(&chars, i, clause)?;
            out.push(token);
            i = next;
        } else {
            let rest: String = chars[i..].iter().collect();
            let (word, token) = CHINESE
                .iter()
                .find(|(w, _)| rest.starts_with(w))
                .ok_or_else(unknown)?;
            if let Some(token) = token {
                out.push(token.clone());
            }
            i += word.chars().count();
        }
    }
    Ok(out)
}

/// Reads a time at `i`: `19`, `19:30`, `7点`, `7点半`, `7点30分`.
fn clock(chars: &[char], mut i: usize, clause: &str) -> Result<(Token, usize), HabitError> {
    let bad = || HabitError::BadTime(clause.trim().to_owned());
    let number = |i: &mut usize| {
        let start = *i;
        while *i < chars.len() && chars[*i].is_ascii_digit() {
            *i += 1;
        }
        let digits: String = chars[start..*i].iter().collect();
        (digits.len() <= 2)
            .then(|| digits.parse::<u32>().ok())
            .flatten()
    };
    let hour = number(&mut i).ok_or_else(bad)?;
    let mut minute = 0;
    if chars.get(i) == Some(&':') {
        i += 1;
        if !chars.get(i).is_some_and(char::is_ascii_digit) {
            return Err(bad());
        }
        minute = number(&mut i).ok_or_else(bad)?;
    } else if chars.get(i) == Some(&'点') {
        i += 1;
        if chars.get(i) == Some(&'半') {
            minute = 30;
            i += 1;
        } else if chars.get(i).is_some_and(char::is_ascii_digit) {
            minute = number(&mut i).ok_or_else(bad)?;
            if chars.get(i) == Some(&'分') {
                i += 1;
            }
        }
    }
    if hour > 24 || minute > 59 || (hour == 24 && minute > 0) {
        return Err(bad());
    }
    Ok((Token::Clock(hour, minute), i))
}

/// A clock reading as a time of day: `pm` (or the part of the day it was
/// said in) moves a morning hour to the afternoon; 24:00 is midnight.
fn time_of_day(hour: u32, minute: u32, meridiem: Option<bool>, part: Option<Part>) -> NaiveTime {
    let hour = match meridiem {
        Some(true) if hour < 12 => hour + 12,
        Some(false) if hour == 12 => 0,
        None if part.is_some_and(|p| p.means_pm(hour)) => hour + 12,
        _ => hour,
    };
    hm(hour % 24, minute)
}

/// A stretch of the day, `from` to `to`.
type Range = (NaiveTime, NaiveTime);

/// The days and the ranges a clause names.
fn assemble(tokens: &[Token], clause: &str) -> Result<([bool; 7], Vec<Range>), HabitError> {
    let bad = || HabitError::BadTime(clause.trim().to_owned());
    let mut days = [false; 7];
    let mut parts = Vec::new();
    let mut clocks: Vec<(u32, u32, Option<bool>)> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            Token::Days(list) => {
                for d in list {
                    days[d.num_days_from_monday() as usize] = true;
                }
            }
            Token::Day(first) => {
                // `Mon-Fri`, `周一至周五`: a run of days.
                if let (Some(Token::Until), Some(Token::Day(last))) =
                    (tokens.get(i + 1), tokens.get(i + 2))
                {
                    let (a, b) = (first.num_days_from_monday(), last.num_days_from_monday());
                    let mut d = a;
                    loop {
                        days[d as usize] = true;
                        if d == b {
                            break;
                        }
                        d = (d + 1) % 7;
                    }
                    i += 2;
                } else {
                    days[first.num_days_from_monday() as usize] = true;
                }
            }
            Token::Part(part) => parts.push(*part),
            Token::Clock(h, m) => {
                let meridiem = match tokens.get(i + 1) {
                    Some(Token::Meridiem { pm }) => {
                        i += 1;
                        Some(*pm)
                    }
                    _ => None,
                };
                clocks.push((*h, *m, meridiem));
            }
            Token::Meridiem { .. } => return Err(bad()),
            Token::Until => {
                if clocks.len() % 2 != 1 {
                    return Err(bad());
                }
            }
        }
        i += 1;
    }
    let part = parts.first().copied();
    let ranges = if clocks.is_empty() {
        parts.iter().map(|p| p.hours()).collect()
    } else {
        // Times come in pairs, `from` to `to`; a lone time is no range.
        if !clocks.len().is_multiple_of(2) {
            return Err(bad());
        }
        clocks
            .chunks(2)
            .map(|pair| {
                let (fh, fm, f_meridiem) = pair[0];
                let (th, tm, t_meridiem) = pair[1];
                // "7-9pm": the meridiem of the end speaks for both.
                let f_meridiem = f_meridiem.or(t_meridiem.filter(|_| fh <= th));
                (
                    time_of_day(fh, fm, f_meridiem, part),
                    time_of_day(th, tm, t_meridiem, part),
                )
            })
            .collect()
    };
    Ok((days, ranges))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Weekday::*;

    fn day(d: u32) -> NaiveDate {
        // March 2026: the 2nd is a Monday, the 7th a Saturday.
        NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
    }

    /// The (from, to) of each span on 2–8 March 2026, as "d HH:MM-HH:MM".
    fn week(habit: &Habit) -> Vec<String> {
        (2..=8)
            .flat_map(|d| habit.spans_on(day(d)))
            .map(|(from, to)| {
                format!(
                    "{} {}-{}",
                    from.format("%a"),
                    from.format("%H:%M"),
                    to.format("%H:%M")
                )
            })
            .collect()
    }

    fn read(text: &str) -> Vec<String> {
        week(&Habit::parse(text).unwrap_or_else(|e| panic!("{text}: {e}")))
    }

    fn every_day(range: &str) -> Vec<String> {
        ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
            .iter()
            .map(|d| format!("{d} {range}"))
            .collect()
    }

    #[test]
    fn ranges_every_day() {
        assert_eq!(read("19:00-21:00"), every_day("19:00-21:00"));
        assert_eq!(read("19:00 – 21:30"), every_day("19:00-21:30"));
        assert_eq!(read("7pm to 9pm"), every_day("19:00-21:00"));
        assert_eq!(read("7-9pm"), every_day("19:00-21:00"));
        assert_eq!(read("11am-1pm"), every_day("11:00-13:00"));
        assert_eq!(read("9-11"), every_day("09:00-11:00"));
        assert_eq!(read("晚上7点到9点"), every_day("19:00-21:00"));
        assert_eq!(read("下午3点半至5点"), every_day("15:30-17:00"));
        assert_eq!(read("19点30分～21点"), every_day("19:30-21:00"));
        assert_eq!(read("19：00－21：00"), every_day("19:00-21:00"));
        assert_eq!(read("22:00-24:00"), every_day("22:00-00:00"));
        assert_eq!(read("23:00-01:00"), every_day("23:00-01:00"));
    }

    #[test]
    fn parts_of_the_day() {
        assert_eq!(read("evenings"), every_day("19:00-21:00"));
        assert_eq!(read("Mornings"), every_day("09:00-12:00"));
        assert_eq!(read("中午"), every_day("12:00-14:00"));
        assert_eq!(read("下午"), every_day("14:00-18:00"));
        assert_eq!(read("evenings 7-9"), every_day("19:00-21:00"));
        assert_eq!(read("中午12点到1点半"), every_day("12:00-13:30"));
        assert_eq!(read("上午9点-11点"), every_day("09:00-11:00"));
        assert_eq!(read("１９:００-２１:００"), every_day("19:00-21:00"));
        assert_eq!(read("19h-21h"), every_day("19:00-21:00"));
    }

    #[test]
    fn days_of_the_week() {
        assert_eq!(
            read("weekday evenings"),
            ["Mon", "Tue", "Wed", "Thu", "Fri"].map(|d| format!("{d} 19:00-21:00"))
        );
        assert_eq!(
            read("工作日晚上"),
            ["Mon", "Tue", "Wed", "Thu", "Fri"].map(|d| format!("{d} 19:00-21:00"))
        );
        assert_eq!(
            read("weekends 10:00-11:30"),
            ["Sat 10:00-11:30", "Sun 10:00-11:30"]
        );
        assert_eq!(read("周末上午"), ["Sat 09:00-12:00", "Sun 09:00-12:00"]);
        assert_eq!(
            read("Mon-Wed afternoons"),
            ["Mon 14:00-18:00", "Tue 14:00-18:00", "Wed 14:00-18:00"]
        );
        assert_eq!(
            read("周五至周一 晚上"),
            [
                "Mon 19:00-21:00",
                "Fri 19:00-21:00",
                "Sat 19:00-21:00",
                "Sun 19:00-21:00"
            ],
            "a run of days across the week's end"
        );
        assert_eq!(
            read("星期二、星期四下午"),
            ["Tue 14:00-18:00", "Thu 14:00-18:00"]
        );
        assert_eq!(read("每天晚上"), every_day("19:00-21:00"));
        assert_eq!(read("Saturday morning"), ["Sat 09:00-12:00"]);
    }

    #[test]
    fn several_clauses() {
        assert_eq!(
            read("weekday evenings and weekend mornings"),
            [
                "Mon 19:00-21:00",
                "Tue 19:00-21:00",
                "Wed 19:00-21:00",
                "Thu 19:00-21:00",
                "Fri 19:00-21:00",
                "Sat 09:00-12:00",
                "Sun 09:00-12:00",
            ]
        );
        // A clause without days takes the one before's.
        assert_eq!(
            read("weekends mornings or evenings"),
            [
                "Sat 09:00-12:00",
                "Sat 19:00-21:00",
                "Sun 09:00-12:00",
                "Sun 19:00-21:00"
            ]
        );
        assert_eq!(
            read("工作日中午，周六下午"),
            [
                "Mon 12:00-14:00",
                "Tue 12:00-14:00",
                "Wed 12:00-14:00",
                "Thu 12:00-14:00",
                "Fri 12:00-14:00",
                "Sat 14:00-18:00",
            ]
        );
        let mut twice = Vec::new();
        for d in ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"] {
            twice.push(format!("{d} 09:00-10:00"));
            twice.push(format!("{d} 16:00-17:00"));
        }
        assert_eq!(
            read("prefers calls between 9:00-10:00 or 16:00-17:00"),
            twice
        );
    }

    #[test]
    fn what_it_does_not_read_it_refuses_whole() {
        for text in [
            "after dinner",
            "weekday evenings after dinner",
            "weekends",
            "周末",
            "any time",
            "19:00",
            "25:00-26:00",
            "19:75-20:00",
            "19:00-19:00",
            "7:-9",
            "pm",
            "123-456",
            "随时",
            "",
            "  ",
        ] {
            assert!(Habit::parse(text).is_err(), "{text:?} was read");
        }
        assert_eq!(
            Habit::parse("after dinner"),
            Err(HabitError::Unknown("after dinner".into()))
        );
        assert_eq!(
            Habit::parse("weekends"),
            Err(HabitError::NoTime("weekends".into()))
        );
    }

    #[test]
    fn new_makes_one_span() {
        let habit = Habit::new(hm(9, 0), hm(11, 0), [Sat]).unwrap();
        assert_eq!(week(&habit), ["Sat 09:00-11:00"]);
        assert_eq!(
            Habit::new(hm(9, 0), hm(9, 0), []),
            Err(HabitError::EmptyRange)
        );
    }
}
