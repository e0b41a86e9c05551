//! Points (003 retail): earned per yuan actually paid, kept in lots that
//! expire on 31 December of the year they were earned, spent soonest-expiring
//! first and never below zero. The balance is always the ledger's sum; these
//! are the rules the ledger applies, without I/O.

use chrono::{Datelike, Days, NaiveDate};
use patron_vocab::calendar::last_day_of_month;

/// A scheme's cards and points, from its preset's `[tiering.points]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointsRule {
    /// Points per major unit (yuan) actually paid (003 第十一条: 1).
    pub per_major_unit: i64,
    /// Days before points expire that their holder is warned; 0 for never.
    pub expiry_warning_days: u32,
    /// Days after issue within which registration gives formal VIP status
    /// (003 第七条: 30).
    pub registration_days: u32,
    /// The month cards are exchanged for the next year's (003 第十七条:
    /// December); a card year ends with it.
    pub renewal_month: u32,
}

impl PointsRule {
    /// The last day registration of a card issued on `issued_on` counts.
    pub fn register_by(&self, issued_on: NaiveDate) -> NaiveDate {
        issued_on + Days::new(u64::from(self.registration_days))
    }

    /// The last day of the card year a card issued on `day` belongs to: the
    /// end of the next renewal month. A card issued during the renewal month
    /// is already the coming year's card.
    pub fn valid_through(&self, day: NaiveDate) -> NaiveDate {
        let year = if day.month() >= self.renewal_month {
            day.year() + 1
        } else {
            day.year()
        };
        last_day_of_month(year, self.renewal_month).unwrap_or(day)
    }

    /// The first day a card valid through `valid_through` may be renewed:
    /// the first day of its last month, the renewal month.
    pub fn renewal_opens(&self, valid_through: NaiveDate) -> NaiveDate {
        valid_through.with_day(1).unwrap_or(valid_through)
    }

    /// Whether a card valid through `valid_through` may be renewed `today`.
    pub fn may_renew(&self, valid_through: NaiveDate, today: NaiveDate) -> bool {
        self.renewal_opens(valid_through) <= today && today <= valid_through
    }

    /// The first day points expiring on `expires_on` are warned about;
    /// `None` when the scheme sends no warnings.
    pub fn warn_from(&self, expires_on: NaiveDate) -> Option<NaiveDate> {
        (self.expiry_warning_days > 0)
            .then(|| expires_on - Days::new(u64::from(self.expiry_warning_days)))
    }

    /// The last expiry day holders are warned of on `today` (the inverse of
    /// [`warn_from`](Self::warn_from)); `None` when the scheme sends none.
    pub fn warned_through(&self, today: NaiveDate) -> Option<NaiveDate> {
        (self.expiry_warning_days > 0)
            .then(|| today + Days::new(u64::from(self.expiry_warning_days)))
    }
}

/// Points for an amount actually paid: `per_major_unit` points per yuan
/// (major unit), whole points only, nothing for a part of a yuan.
pub fn earned(paid_minor: i64, exponent: u32, per_major_unit: i64) -> i64 {
    if paid_minor <= 0 || per_major_unit <= 0 {
        return 0;
    }
    let unit = 10i64.pow(exponent);
    (paid_minor / unit).saturating_mul(per_major_unit)
}

/// The last day points earned on `day` count: 31 December of that year.
pub fn expires_on(day: NaiveDate) -> NaiveDate {
    NaiveDate::from_ymd_opt(day.year(), 12, 31).unwrap_or(day)
}

/// A lot of points still available: (lot id, points left, last valid day).
pub type Lot = (i64, i64, NaiveDate);

/// Not enough points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shortage {
    pub wanted: i64,
    pub available: i64,
}

/// Which lots a redemption of `wanted` points takes from, soonest-expiring
/// first (then oldest), given the lots valid `today`. All or nothing.
pub fn allocate(lots: &[Lot], wanted: i64, today: NaiveDate) -> Result<Vec<(i64, i64)>, Shortage> {
    let mut valid: Vec<&Lot> = lots
        .iter()
        .filter(|(_, left, last)| *left > 0 && *last >= today)
        .collect();
    valid.sort_by_key(|(id, _, last)| (*last, *id));
    let available: i64 = valid.iter().map(|(_, left, _)| left).sum();
    if wanted <= 0 || wanted > available {
        return Err(Shortage { wanted, available });
    }
    Ok(take_in_order(&valid, wanted).0)
}

/// Takes up to `wanted` points from `lots` in the order given: the takes,
/// and what could not be taken.
fn take_in_order(lots: &[&Lot], wanted: i64) -> (Vec<(i64, i64)>, i64) {
    let mut remaining = wanted.max(0);
    let mut taken = Vec::new();
    for (id, left, _) in lots {
        if remaining == 0 {
            break;
        }
        let take = remaining.min(*left);
        taken.push((*id, take));
        remaining -= take;
    }
    (taken, remaining)
}

/// A refund takes back the points its purchase earned, from the lots still
/// holding points, newest first; what was already spent cannot be taken back
/// (points are never negative). Returns the takes and the points not recovered.
pub fn reverse(lots: &[Lot], points: i64, today: NaiveDate) -> (Vec<(i64, i64)>, i64) {
    let mut valid: Vec<&Lot> = lots
        .iter()
        .filter(|(_, left, last)| *left > 0 && *last >= today)
        .collect();
    valid.sort_by_key(|(id, _, last)| std::cmp::Reverse((*last, *id)));
    take_in_order(&valid, points)
}

/// The lots that have expired by `today`, with the points they lose.
pub fn expired(lots: &[Lot], today: NaiveDate) -> Vec<(i64, i64)> {
    lots.iter()
        .filter(|(_, left, last)| *left > 0 && *last < today)
        .map(|(id, left, _)| (*id, *left))
        .collect()
}

/// The points that lapse soonest among `lots` valid `today`: the day and
/// how many points of every lot ending that day; `None` when none are left.
pub fn next_expiry(lots: &[Lot], today: NaiveDate) -> Option<(NaiveDate, i64)> {
    let first = lots
        .iter()
        .filter(|(_, left, last)| *left > 0 && *last >= today)
        .map(|(_, _, last)| *last)
        .min()?;
    let points = lots
        .iter()
        .filter(|(_, left, last)| *left > 0 && *last == first)
        .map(|(_, left, _)| left)
        .sum();
    Some((first, points))
}

/// An expiry entry in words: how many points lapsed and the last day they
/// were valid, e.g. "120 points valid through 2025-12-31 expired".
pub fn expiry_note(points: i64, valid_through: &[NaiveDate]) -> String {
    let mut days: Vec<String> = valid_through.iter().map(NaiveDate::to_string).collect();
    days.sort();
    days.dedup();
    let days = match days.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => return format!("{points} points expired"),
    };
    format!("{points} points valid through {days} expired")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn retail() -> PointsRule {
        PointsRule {
            per_major_unit: 1,
            expiry_warning_days: 30,
            registration_days: 30,
            renewal_month: 12,
        }
    }

    #[test]
    fn registration_closes_thirty_days_after_issue() {
        assert_eq!(retail().register_by(day(2026, 3, 2)), day(2026, 4, 1));
        assert_eq!(retail().register_by(day(2026, 12, 15)), day(2027, 1, 14));
    }

    #[test]
    fn a_card_lasts_to_the_end_of_its_year_and_one_issued_in_december_is_next_years() {
        let rule = retail();
        assert_eq!(rule.valid_through(day(2026, 1, 1)), day(2026, 12, 31));
        assert_eq!(rule.valid_through(day(2026, 11, 30)), day(2026, 12, 31));
        assert_eq!(rule.valid_through(day(2026, 12, 1)), day(2027, 12, 31));
        assert_eq!(rule.valid_through(day(2026, 12, 31)), day(2027, 12, 31));
    }

    #[test]
    fn renewal_is_open_during_the_renewal_month_only() {
        let rule = retail();
        let through = day(2026, 12, 31);
        assert!(!rule.may_renew(through, day(2026, 11, 30)));
        assert!(rule.may_renew(through, day(2026, 12, 1)));
        assert!(rule.may_renew(through, day(2026, 12, 31)));
        assert!(
            !rule.may_renew(through, day(2027, 1, 1)),
            "void after December"
        );
        // Renewed in December, the new card is the coming year's.
        assert_eq!(rule.valid_through(day(2026, 12, 20)), day(2027, 12, 31));
    }

    #[test]
    fn another_renewal_month_shifts_the_card_year() {
        let rule = PointsRule {
            renewal_month: 6,
            ..retail()
        };
        assert_eq!(rule.valid_through(day(2026, 3, 1)), day(2026, 6, 30));
        assert_eq!(rule.valid_through(day(2026, 6, 1)), day(2027, 6, 30));
        assert_eq!(rule.valid_through(day(2026, 8, 1)), day(2027, 6, 30));
        assert_eq!(rule.renewal_opens(day(2027, 6, 30)), day(2027, 6, 1));
        let february = PointsRule {
            renewal_month: 2,
            ..retail()
        };
        assert_eq!(february.valid_through(day(2027, 1, 5)), day(2027, 2, 28));
        assert_eq!(february.valid_through(day(2027, 3, 5)), day(2028, 2, 29));
    }

    #[test]
    fn expiry_is_warned_the_configured_days_ahead() {
        assert_eq!(
            retail().warn_from(day(2026, 12, 31)),
            Some(day(2026, 12, 1))
        );
        assert_eq!(
            retail().warned_through(day(2026, 12, 1)),
            Some(day(2026, 12, 31))
        );
        assert_eq!(
            retail().warned_through(day(2026, 11, 30)),
            Some(day(2026, 12, 30))
        );
        let silent = PointsRule {
            expiry_warning_days: 0,
            ..retail()
        };
        assert_eq!(silent.warn_from(day(2026, 12, 31)), None);
        assert_eq!(silent.warned_through(day(2026, 12, 31)), None);
    }

    #[test]
    fn one_point_per_whole_yuan_paid() {
        assert_eq!(earned(128_050, 2, 1), 1_280);
        assert_eq!(earned(99, 2, 1), 0, "less than a yuan earns nothing");
        assert_eq!(earned(-500, 2, 1), 0, "refunds earn nothing");
        assert_eq!(earned(1_500, 0, 1), 1_500, "currencies without minor units");
        assert_eq!(earned(10_000, 2, 2), 200);
    }

    #[test]
    fn points_expire_at_the_end_of_their_year() {
        assert_eq!(expires_on(day(2026, 1, 1)), day(2026, 12, 31));
        assert_eq!(expires_on(day(2026, 12, 31)), day(2026, 12, 31));
    }

    #[test]
    fn redemption_spends_the_soonest_expiring_first_all_or_nothing() {
        let lots = [
            (3, 50, day(2027, 12, 31)),
            (1, 30, day(2026, 12, 31)),
            (2, 40, day(2026, 12, 31)),
            (4, 100, day(2025, 12, 31)),
        ];
        let today = day(2026, 6, 1);
        assert_eq!(allocate(&lots, 60, today), Ok(vec![(1, 30), (2, 30)]));
        assert_eq!(
            allocate(&lots, 120, today),
            Ok(vec![(1, 30), (2, 40), (3, 50)])
        );
        assert_eq!(
            allocate(&lots, 121, today),
            Err(Shortage {
                wanted: 121,
                available: 120
            }),
            "expired lots do not count"
        );
        assert!(allocate(&lots, 0, today).is_err());
        assert!(allocate(&lots, -5, today).is_err());
    }

    #[test]
    fn refunds_take_back_what_is_left_newest_first() {
        let lots = [(1, 30, day(2026, 12, 31)), (2, 10, day(2027, 12, 31))];
        let today = day(2026, 6, 1);
        assert_eq!(reverse(&lots, 25, today), (vec![(2, 10), (1, 15)], 0));
        assert_eq!(
            reverse(&lots, 55, today),
            (vec![(2, 10), (1, 30)], 15),
            "spent points stay spent"
        );
    }

    #[test]
    fn the_next_expiry_sums_the_soonest_lots_still_valid() {
        let lots = [
            (1, 50, day(2025, 12, 31)),
            (2, 30, day(2026, 12, 31)),
            (3, 20, day(2026, 12, 31)),
            (4, 0, day(2026, 6, 30)),
            (5, 40, day(2027, 12, 31)),
        ];
        assert_eq!(
            next_expiry(&lots, day(2026, 3, 1)),
            Some((day(2026, 12, 31), 50)),
            "lapsed and empty lots do not count"
        );
        assert_eq!(
            next_expiry(&lots, day(2025, 12, 31)),
            Some((day(2025, 12, 31), 50))
        );
        assert_eq!(next_expiry(&lots, day(2028, 1, 1)), None);
    }

    #[test]
    fn an_expiry_reads_as_a_sentence_with_its_dates() {
        assert_eq!(
            expiry_note(120, &[day(2025, 12, 31)]),
            "120 points valid through 2025-12-31 expired"
        );
        assert_eq!(
            expiry_note(
                200,
                &[day(2025, 12, 31), day(2024, 12, 31), day(2025, 12, 31)]
            ),
            "200 points valid through 2024-12-31 and 2025-12-31 expired"
        );
    }

    #[test]
    fn expiry_takes_what_is_left_in_past_years() {
        let lots = [
            (1, 30, day(2025, 12, 31)),
            (2, 0, day(2025, 12, 31)),
            (3, 10, day(2026, 12, 31)),
        ];
        assert_eq!(expired(&lots, day(2026, 1, 1)), vec![(1, 30)]);
        assert!(
            expired(&lots, day(2025, 12, 31)).is_empty(),
            "valid through 31 December"
        );
    }
}
