//! Archive review (003: archives are dynamic and revisited at least once a
//! year): an archive is due when neither a review nor its creation lies within
//! the review period.

use chrono::{DateTime, Duration, Utc};

/// Archives last reviewed (or, never reviewed, created) before this instant
/// are due.
pub fn due_cutoff(now: DateTime<Utc>, period: Duration) -> DateTime<Utc> {
    now - period
}

/// Whether an archive is due for review.
pub fn is_due(
    created: DateTime<Utc>,
    last_reviewed: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    period: Duration,
) -> bool {
    last_reviewed.unwrap_or(created) < due_cutoff(now, period)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_after_a_period_without_review() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let year = Duration::days(365);
        assert!(
            !is_due(now - Duration::days(30), None, now, year),
            "new archives are not due"
        );
        assert!(
            is_due(now - Duration::days(400), None, now, year),
            "never reviewed, old"
        );
        assert!(!is_due(
            now - Duration::days(800),
            Some(now - Duration::days(10)),
            now,
            year
        ));
        assert!(is_due(
            now - Duration::days(800),
            Some(now - Duration::days(366)),
            now,
            year
        ));
        assert!(
            !is_due(now - year, None, now, year),
            "exactly one period is not yet overdue"
        );
    }
}
