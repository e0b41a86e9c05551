//! Service plans and work logs (002 §1: every account manager plans each
//! year's, month's and week's service to VIP customers and keeps a work
//! log; each unit reviews and checks the plans and logs regularly). A plan
//! is written, submitted, then signed off by a supervisor or returned with
//! a note to be reworked; a period's log (the contact log) is signed off or
//! returned the same way. Nobody reviews their own.

use std::fmt;

use chrono::{Datelike, Days, Months, NaiveDate, Weekday};

/// The span a plan or a log review covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeriodKind {
    Year,
    Month,
    Week,
}

impl PeriodKind {
    pub const ALL: [PeriodKind; 3] = [PeriodKind::Year, PeriodKind::Month, PeriodKind::Week];

    pub fn as_str(self) -> &'static str {
        match self {
            PeriodKind::Year => "year",
            PeriodKind::Month => "month",
            PeriodKind::Week => "week",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// What a period of this kind must start on, in words.
    pub fn starts_on(self) -> &'static str {
        match self {
            PeriodKind::Year => "1 January",
            PeriodKind::Month => "the first day of a month",
            PeriodKind::Week => "a Monday",
        }
    }
}

/// A year, month or week, by its first and last day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub kind: PeriodKind,
    pub start: NaiveDate,
}

/// A period that does not start where its kind starts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a {} starts on {}; {start} is not one", .kind.as_str(), .kind.starts_on())]
pub struct MisalignedPeriod {
    pub kind: PeriodKind,
    pub start: NaiveDate,
}

impl Period {
    /// The period of `kind` starting on `start`, which must be its first day.
    pub fn new(kind: PeriodKind, start: NaiveDate) -> Result<Self, MisalignedPeriod> {
        let aligned = match kind {
            PeriodKind::Year => start.month() == 1 && start.day() == 1,
            PeriodKind::Month => start.day() == 1,
            PeriodKind::Week => start.weekday() == Weekday::Mon,
        };
        if aligned {
            Ok(Self { kind, start })
        } else {
            Err(MisalignedPeriod { kind, start })
        }
    }

    /// The period's last day, included.
    pub fn end(&self) -> NaiveDate {
        let next = match self.kind {
            PeriodKind::Year => self.start.checked_add_months(Months::new(12)),
            PeriodKind::Month => self.start.checked_add_months(Months::new(1)),
            PeriodKind::Week => self.start.checked_add_days(Days::new(7)),
        };
        next.and_then(|d| d.pred_opt()).unwrap_or(NaiveDate::MAX)
    }

    /// Whether the period has begun by `today`: a log can be reviewed only
    /// then.
    pub fn has_begun(&self, today: NaiveDate) -> bool {
        self.start <= today
    }
}

/// Where a plan stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlanState {
    Draft,
    Submitted,
    SignedOff,
    Returned,
}

impl PlanState {
    pub const ALL: [PlanState; 4] = [
        PlanState::Draft,
        PlanState::Submitted,
        PlanState::SignedOff,
        PlanState::Returned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PlanState::Draft => "draft",
            PlanState::Submitted => "submitted",
            PlanState::SignedOff => "signed_off",
            PlanState::Returned => "returned",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for PlanState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str().replace('_', " "))
    }
}

/// A step asked of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanMove {
    /// Its author changes the text or items.
    Edit,
    /// Its author hands it in for review.
    Submit,
    /// A supervisor signs it off.
    SignOff,
    /// A supervisor returns it with a note.
    Return,
}

impl PlanMove {
    pub const ALL: [PlanMove; 4] = [
        PlanMove::Edit,
        PlanMove::Submit,
        PlanMove::SignOff,
        PlanMove::Return,
    ];

    /// The step's name in the history.
    pub fn action(self) -> &'static str {
        match self {
            PlanMove::Edit => "edited",
            PlanMove::Submit => "submitted",
            PlanMove::SignOff => "signed_off",
            PlanMove::Return => "returned",
        }
    }

    fn words(self) -> &'static str {
        match self {
            PlanMove::Edit => "only a draft or returned plan can be changed",
            PlanMove::Submit => "only a draft or returned plan can be submitted",
            PlanMove::SignOff => "only a submitted plan can be signed off",
            PlanMove::Return => "only a submitted plan can be returned",
        }
    }
}

/// A step that does not follow from where the plan stands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the plan is {from}; {}", .attempted.words())]
pub struct WrongPlanMove {
    pub from: PlanState,
    pub attempted: PlanMove,
}

/// Where `attempted` takes a plan that is `from`.
pub fn next(from: PlanState, attempted: PlanMove) -> Result<PlanState, WrongPlanMove> {
    use PlanMove as M;
    use PlanState as S;
    match (from, attempted) {
        (S::Draft | S::Returned, M::Edit) => Ok(from),
        (S::Draft | S::Returned, M::Submit) => Ok(S::Submitted),
        (S::Submitted, M::SignOff) => Ok(S::SignedOff),
        (S::Submitted, M::Return) => Ok(S::Returned),
        _ => Err(WrongPlanMove { from, attempted }),
    }
}

/// What a reviewer decides of a plan or a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    SignOff,
    Return,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::SignOff => "signed_off",
            Decision::Return => "returned",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Decision::SignOff, Decision::Return]
            .into_iter()
            .find(|d| d.as_str() == text)
    }

    pub fn plan_move(self) -> PlanMove {
        match self {
            Decision::SignOff => PlanMove::SignOff,
            Decision::Return => PlanMove::Return,
        }
    }
}

/// Why a review is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReviewRefused {
    #[error("nobody reviews their own plan or log")]
    OwnWork,
    #[error("a plan or log is returned with a note saying what to rework")]
    NoteNeeded,
}

/// Whether `reviewer` may decide `decision` on `author`'s plan or log,
/// with or without a note.
pub fn check_review(
    reviewer: &str,
    author: &str,
    decision: Decision,
    has_note: bool,
) -> Result<(), ReviewRefused> {
    if reviewer == author {
        return Err(ReviewRefused::OwnWork);
    }
    if decision == Decision::Return && !has_note {
        return Err(ReviewRefused::NoteNeeded);
    }
    Ok(())
}

/// Why a log cannot be reviewed for a period.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogReviewRefused {
    #[error("the {} from {start} has not begun: there is no log to review yet", .kind.as_str())]
    NotBegun { kind: PeriodKind, start: NaiveDate },
    #[error("the log of the {} from {start} is already signed off", .kind.as_str())]
    AlreadySignedOff { kind: PeriodKind, start: NaiveDate },
}

/// Whether a period's log may be reviewed on `today`, given whether it was
/// signed off already (a returned log may be reviewed again).
pub fn check_log_review(
    period: Period,
    today: NaiveDate,
    signed_off_already: bool,
) -> Result<(), LogReviewRefused> {
    if !period.has_begun(today) {
        return Err(LogReviewRefused::NotBegun {
            kind: period.kind,
            start: period.start,
        });
    }
    if signed_off_already {
        return Err(LogReviewRefused::AlreadySignedOff {
            kind: period.kind,
            start: period.start,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn periods_start_where_their_kind_starts() {
        let year = Period::new(PeriodKind::Year, day(2028, 1, 1)).unwrap();
        assert_eq!(year.end(), day(2028, 12, 31));
        let february = Period::new(PeriodKind::Month, day(2028, 2, 1)).unwrap();
        assert_eq!(february.end(), day(2028, 2, 29), "a leap year");
        assert_eq!(
            Period::new(PeriodKind::Month, day(2027, 2, 1))
                .unwrap()
                .end(),
            day(2027, 2, 28)
        );
        assert_eq!(
            Period::new(PeriodKind::Month, day(2026, 12, 1))
                .unwrap()
                .end(),
            day(2026, 12, 31)
        );
        // 28 December 2026 is a Monday; its week ends in 2027.
        let week = Period::new(PeriodKind::Week, day(2026, 12, 28)).unwrap();
        assert_eq!(week.end(), day(2027, 1, 3));
        for (kind, start) in [
            (PeriodKind::Year, day(2027, 1, 2)),
            (PeriodKind::Year, day(2027, 2, 1)),
            (PeriodKind::Month, day(2027, 3, 2)),
            (PeriodKind::Week, day(2027, 1, 3)),
        ] {
            let err = Period::new(kind, start).unwrap_err();
            assert!(err.to_string().contains(kind.starts_on()), "{err}");
        }
    }

    #[test]
    fn every_state_and_move() {
        use PlanMove as M;
        use PlanState as S;
        for from in PlanState::ALL {
            for attempted in PlanMove::ALL {
                let expected = match (from, attempted) {
                    (S::Draft, M::Edit) => Some(S::Draft),
                    (S::Returned, M::Edit) => Some(S::Returned),
                    (S::Draft, M::Submit) | (S::Returned, M::Submit) => Some(S::Submitted),
                    (S::Submitted, M::SignOff) => Some(S::SignedOff),
                    (S::Submitted, M::Return) => Some(S::Returned),
                    _ => None,
                };
                assert_eq!(next(from, attempted).ok(), expected, "{from} {attempted:?}");
            }
        }
        assert_eq!(
            next(PlanState::SignedOff, PlanMove::Edit)
                .unwrap_err()
                .to_string(),
            "the plan is signed off; only a draft or returned plan can be changed"
        );
        assert_eq!(
            next(PlanState::Draft, PlanMove::SignOff)
                .unwrap_err()
                .to_string(),
            "the plan is draft; only a submitted plan can be signed off"
        );
    }

    #[test]
    fn nobody_reviews_their_own_and_a_return_says_why() {
        assert_eq!(
            check_review("li", "li", Decision::SignOff, true),
            Err(ReviewRefused::OwnWork)
        );
        assert_eq!(
            check_review("wang", "li", Decision::Return, false),
            Err(ReviewRefused::NoteNeeded)
        );
        assert_eq!(check_review("wang", "li", Decision::Return, true), Ok(()));
        assert_eq!(check_review("wang", "li", Decision::SignOff, false), Ok(()));
    }

    #[test]
    fn a_log_is_reviewed_once_its_period_began_and_signed_off_once() {
        let week = Period::new(PeriodKind::Week, day(2027, 1, 4)).unwrap();
        assert!(matches!(
            check_log_review(week, day(2027, 1, 3), false),
            Err(LogReviewRefused::NotBegun { .. })
        ));
        assert_eq!(check_log_review(week, day(2027, 1, 4), false), Ok(()));
        assert_eq!(check_log_review(week, day(2027, 2, 1), false), Ok(()));
        assert!(matches!(
            check_log_review(week, day(2027, 2, 1), true),
            Err(LogReviewRefused::AlreadySignedOff { .. })
        ));
    }

    #[test]
    fn names_round_trip() {
        for kind in PeriodKind::ALL {
            assert_eq!(PeriodKind::parse(kind.as_str()), Some(kind));
        }
        for state in PlanState::ALL {
            assert_eq!(PlanState::parse(state.as_str()), Some(state));
        }
        for decision in [Decision::SignOff, Decision::Return] {
            assert_eq!(Decision::parse(decision.as_str()), Some(decision));
            assert_eq!(decision.plan_move().action(), decision.as_str());
        }
        assert_eq!(PeriodKind::parse("fortnight"), None);
    }
}
