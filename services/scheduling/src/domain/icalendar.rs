//! iCalendar text (RFC 5545) for the managers' calendar feeds: a published
//! calendar (METHOD:PUBLISH) of all-day and timed entries (VEVENT). Written
//! here rather than with a builder crate because it is small and every rule
//! that matters is in view:
//!
//! - lines end in CRLF (§3.1);
//! - a line longer than 75 octets is folded: CRLF and one space, the next
//!   part at most 74 octets, never inside a UTF-8 character (§3.1);
//! - TEXT values escape `\`, `;`, `,` and newlines, and drop the control
//!   characters TEXT may not hold (§3.3.11);
//! - every entry has UID, DTSTAMP and DTSTART; a day is `VALUE=DATE` with
//!   DTEND the day after the last (§3.6.1: DTEND is not included), a time is
//!   UTC (`…Z`, §3.3.5 form 2).

use std::fmt::Write as _;

use chrono::{DateTime, Days, NaiveDate, Utc};

/// The longest a line may be, in octets, CRLF excluded.
pub const MAX_LINE_OCTETS: usize = 75;

/// When an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// All day, from `first` to `last`, both included.
    Days { first: NaiveDate, last: NaiveDate },
    /// From `start` (to `end`, when known), in UTC.
    Time {
        start: DateTime<Utc>,
        end: Option<DateTime<Utc>>,
    },
}

impl When {
    /// All of one day.
    pub fn day(day: NaiveDate) -> Self {
        Self::Days {
            first: day,
            last: day,
        }
    }
}

/// One entry (VEVENT).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Unique and stable across renderings, so a calendar application updates
    /// the entry rather than adding another.
    pub uid: String,
    pub when: When,
    pub summary: String,
    pub description: String,
    pub location: String,
    pub categories: Vec<String>,
    /// Grows with each change of the entry (RFC 5545 §3.8.7.4).
    pub sequence: u32,
}

/// A published calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    /// What a calendar application names it.
    pub name: String,
    /// How often it should be fetched again, in minutes.
    pub refresh_minutes: u32,
    pub entries: Vec<Entry>,
}

/// A TEXT value escaped (RFC 5545 §3.3.11): backslash, semicolon and comma
/// get a backslash, each line break (CRLF, LF or CR) becomes `\n`, and the
/// other control characters, which TEXT cannot hold, are dropped.
pub fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("\\n");
            }
            '\n' => out.push_str("\\n"),
            '\t' => out.push('\t'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends `line` to `out` folded (RFC 5545 §3.1): no physical line longer
/// than 75 octets, each continuation starting with one space, no UTF-8
/// character split; every physical line ended by CRLF.
pub fn fold_into(out: &mut String, line: &str) {
    let mut rest = line;
    let mut room = MAX_LINE_OCTETS;
    loop {
        if rest.len() <= room {
            out.push_str(rest);
            out.push_str("\r\n");
            return;
        }
        let mut cut = room;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        out.push_str(&rest[..cut]);
        out.push_str("\r\n ");
        rest = &rest[cut..];
        // The leading space counts toward the next line's 75 octets.
        room = MAX_LINE_OCTETS - 1;
    }
}

fn date(day: NaiveDate) -> String {
    day.format("%Y%m%d").to_string()
}

fn utc(at: DateTime<Utc>) -> String {
    at.format("%Y%m%dT%H%M%SZ").to_string()
}

impl Calendar {
    /// The calendar's text, stamped `now` (with METHOD:PUBLISH, DTSTAMP is
    /// when the text was made, RFC 5545 §3.8.7.2).
    pub fn render(&self, now: DateTime<Utc>) -> String {
        let mut out = String::new();
        let mut line = |text: &str| fold_into(&mut out, text);
        let stamp = utc(now);
        line("BEGIN:VCALENDAR");
        line("VERSION:2.0");
        line("PRODID:-//Patron//Scheduling//EN");
        line("CALSCALE:GREGORIAN");
        line("METHOD:PUBLISH");
        let name = escape_text(&self.name);
        line(&format!("NAME:{name}"));
        line(&format!("X-WR-CALNAME:{name}"));
        let refresh = format!("PT{}M", self.refresh_minutes.max(1));
        line(&format!("REFRESH-INTERVAL;VALUE=DURATION:{refresh}"));
        line(&format!("X-PUBLISHED-TTL:{refresh}"));
        for entry in &self.entries {
            line("BEGIN:VEVENT");
            line(&format!("UID:{}", escape_text(&entry.uid)));
            line(&format!("DTSTAMP:{stamp}"));
            match entry.when {
                When::Days { first, last } => {
                    let after = last
                        .max(first)
                        .checked_add_days(Days::new(1))
                        .unwrap_or(last);
                    line(&format!("DTSTART;VALUE=DATE:{}", date(first)));
                    line(&format!("DTEND;VALUE=DATE:{}", date(after)));
                    // An all-day reminder does not block the day.
                    line("TRANSP:TRANSPARENT");
                }
                When::Time { start, end } => {
                    line(&format!("DTSTART:{}", utc(start)));
                    if let Some(end) = end.filter(|e| *e >= start) {
                        line(&format!("DTEND:{}", utc(end)));
                    }
                }
            }
            line(&format!("SEQUENCE:{}", entry.sequence));
            line(&format!("SUMMARY:{}", escape_text(&entry.summary)));
            if !entry.description.is_empty() {
                line(&format!("DESCRIPTION:{}", escape_text(&entry.description)));
            }
            if !entry.location.is_empty() {
                line(&format!("LOCATION:{}", escape_text(&entry.location)));
            }
            if !entry.categories.is_empty() {
                let mut list = String::new();
                for (i, c) in entry.categories.iter().enumerate() {
                    if i > 0 {
                        list.push(',');
                    }
                    let _ = write!(list, "{}", escape_text(c));
                }
                line(&format!("CATEGORIES:{list}"));
            }
            line("END:VEVENT");
        }
        line("END:VCALENDAR");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use icalendar::{Component, EventLike};

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// Undoes the folding as RFC 5545 §3.1 says a reader does.
    fn unfold(text: &str) -> String {
        text.replace("\r\n ", "")
    }

    #[test]
    fn text_escapes_the_four_specials_and_every_line_break() {
        assert_eq!(escape_text("plain words"), "plain words");
        assert_eq!(
            escape_text(r"a,b;c\d"),
            r"a\,b\;c\\d",
            "comma, semicolon, backslash"
        );
        assert_eq!(
            escape_text("one\ntwo\r\nthree\rfour"),
            r"one\ntwo\nthree\nfour"
        );
        assert_eq!(escape_text("tab\tkept"), "tab\tkept");
        assert_eq!(escape_text("bell\u{7}and\u{0}nul gone"), "bellandnul gone");
        assert_eq!(escape_text("客户,生日;快乐"), r"客户\,生日\;快乐");
        // A colon needs no escape in a value.
        assert_eq!(escape_text("10:00"), "10:00");
    }

    #[test]
    fn short_lines_are_left_whole_and_long_ones_fold_at_75_octets() {
        let mut out = String::new();
        fold_into(&mut out, &"a".repeat(75));
        assert_eq!(out, format!("{}\r\n", "a".repeat(75)));

        let mut out = String::new();
        fold_into(&mut out, &"b".repeat(76));
        assert_eq!(out, format!("{}\r\n b\r\n", "b".repeat(75)));

        // 75 + 74 + 74 + 1: continuations hold 74 octets after their space.
        let long = "c".repeat(224);
        let mut out = String::new();
        fold_into(&mut out, &long);
        let lines: Vec<&str> = out.trim_end_matches("\r\n").split("\r\n").collect();
        let lengths: Vec<usize> = lines.iter().map(|l| l.len()).collect();
        assert_eq!(lengths, [75, 75, 75, 2]);
        assert_eq!(unfold(&out), format!("{long}\r\n"));
    }

    #[test]
    fn folding_never_splits_a_character() {
        // "SUMMARY:" is 8 octets, each 生 three: a cut at 75 would split one.
        for prefix in ["SUMMARY:", "SUMMARY:x", "SUMMARY:xy"] {
            let line = format!("{prefix}{}", "生日快乐".repeat(30));
            let mut out = String::new();
            fold_into(&mut out, &line);
            for physical in out.split("\r\n").filter(|l| !l.is_empty()) {
                assert!(physical.len() <= MAX_LINE_OCTETS, "{physical:?}");
            }
            // Each piece is valid UTF-8 on its own: the String holds it.
            assert_eq!(unfold(&out), format!("{line}\r\n"));
            assert!(
                out.split("\r\n")
                    .skip(1)
                    .all(|l| l.is_empty() || l.starts_with(' '))
            );
        }
        // A 4-octet character at the boundary moves whole to the next line.
        let line = format!("{}😀", "d".repeat(73));
        let mut out = String::new();
        fold_into(&mut out, &line);
        assert_eq!(out, format!("{}\r\n 😀\r\n", "d".repeat(73)));
    }

    fn sample() -> Calendar {
        Calendar {
            name: "Patron: staff/li.na".into(),
            refresh_minutes: 60,
            entries: vec![
                Entry {
                    uid: "task-1@patron".into(),
                    when: When::day(day(2027, 1, 1)),
                    summary: "Visit 王丽, tier A; store manager".into(),
                    description: "Moved: the customer is travelling\nOn time until 2027-01-05"
                        .into(),
                    location: String::new(),
                    categories: vec!["cadence".into(), "a,b".into()],
                    sequence: 2,
                },
                Entry {
                    uid: "activity-2@patron".into(),
                    when: When::Time {
                        start: Utc.with_ymd_and_hms(2027, 9, 15, 10, 0, 0).unwrap(),
                        end: Some(Utc.with_ymd_and_hms(2027, 9, 15, 12, 30, 0).unwrap()),
                    },
                    summary: "Mid-Autumn symposium".into(),
                    description: String::new(),
                    location: "Hall 3\\B".into(),
                    categories: vec![],
                    sequence: 0,
                },
                Entry {
                    uid: "leave-3@patron".into(),
                    when: When::Days {
                        first: day(2028, 2, 28),
                        last: day(2028, 2, 29),
                    },
                    summary: "On leave".into(),
                    description: String::new(),
                    location: String::new(),
                    categories: vec![],
                    sequence: 0,
                },
            ],
        }
    }

    #[test]
    fn a_calendar_renders_exactly() {
        let now = Utc.with_ymd_and_hms(2026, 12, 31, 15, 59, 0).unwrap();
        let expected = [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//Patron//Scheduling//EN",
            "CALSCALE:GREGORIAN",
            "METHOD:PUBLISH",
            "NAME:Patron: staff/li.na",
            "X-WR-CALNAME:Patron: staff/li.na",
            "REFRESH-INTERVAL;VALUE=DURATION:PT60M",
            "X-PUBLISHED-TTL:PT60M",
            "BEGIN:VEVENT",
            "UID:task-1@patron",
            "DTSTAMP:20261231T155900Z",
            "DTSTART;VALUE=DATE:20270101",
            "DTEND;VALUE=DATE:20270102",
            "TRANSP:TRANSPARENT",
            "SEQUENCE:2",
            r"SUMMARY:Visit 王丽\, tier A\; store manager",
            r"DESCRIPTION:Moved: the customer is travelling\nOn time until 2027-01-05",
            r"CATEGORIES:cadence,a\,b",
            "END:VEVENT",
            "BEGIN:VEVENT",
            "UID:activity-2@patron",
            "DTSTAMP:20261231T155900Z",
            "DTSTART:20270915T100000Z",
            "DTEND:20270915T123000Z",
            "SEQUENCE:0",
            "SUMMARY:Mid-Autumn symposium",
            r"LOCATION:Hall 3\\B",
            "END:VEVENT",
            "BEGIN:VEVENT",
            "UID:leave-3@patron",
            "DTSTAMP:20261231T155900Z",
            "DTSTART;VALUE=DATE:20280228",
            "DTEND;VALUE=DATE:20280301",
            "TRANSP:TRANSPARENT",
            "SEQUENCE:0",
            "SUMMARY:On leave",
            "END:VEVENT",
            "END:VCALENDAR",
        ];
        let mut text = String::new();
        for l in expected {
            text.push_str(l);
            text.push_str("\r\n");
        }
        assert_eq!(sample().render(now), text);
    }

    #[test]
    fn an_independent_reader_gets_back_what_was_written() {
        let now = Utc.with_ymd_and_hms(2028, 2, 29, 4, 0, 0).unwrap();
        let mut calendar = sample();
        let long =
            "客户说下周出差,请在周五之前再打电话; 地址: 上海市浦东新区\\世纪大道 100 号\n第二行"
                .repeat(3);
        calendar.entries[0].description = long.clone();
        let text = calendar.render(now);
        assert!(text.split("\r\n").all(|l| l.len() <= MAX_LINE_OCTETS));
        assert!(!text.replace("\r\n", "").contains('\n'), "bare LF");
        let parsed: icalendar::Calendar = text.parse().expect("it parses");
        let events: Vec<&icalendar::Event> = parsed
            .components
            .iter()
            .filter_map(|c| c.as_event())
            .collect();
        assert_eq!(events.len(), 3);
        assert_eq!(events[0].get_description(), Some(long.as_str()));
        assert_eq!(
            events[0].get_summary(),
            Some("Visit 王丽, tier A; store manager")
        );
        assert_eq!(events[0].get_uid(), Some("task-1@patron"));
        assert_eq!(events[0].get_timestamp(), Some(now));
        assert_eq!(
            events[0].get_start(),
            Some(icalendar::DatePerhapsTime::Date(day(2027, 1, 1)))
        );
        assert_eq!(
            events[1].get_start(),
            Some(icalendar::DatePerhapsTime::DateTime(
                icalendar::CalendarDateTime::Utc(
                    Utc.with_ymd_and_hms(2027, 9, 15, 10, 0, 0).unwrap()
                )
            ))
        );
        assert_eq!(events[1].get_location(), Some("Hall 3\\B"));
        assert_eq!(
            events[2].get_end(),
            Some(icalendar::DatePerhapsTime::Date(day(2028, 3, 1)))
        );
    }
}
