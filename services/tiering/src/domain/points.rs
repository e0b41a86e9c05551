//! Points (003 retail): earned per yuan actually paid, kept in lots that
//! expire on 31 December of the year they were earned, spent soonest-expiring
//! first and never below zero. The balance is always the ledger's sum; these
//! are the rules the ledger applies, without I/O.

use chrono::{Datelike, NaiveDate};

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

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
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
