//! The suite's notion of "now", injected so tests can move time.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

/// Something that tells the time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// A clock shared by a service's parts.
pub type SharedClock = Arc<dyn Clock>;

/// Today's date in the company's time zone: the zone, not UTC, decides
/// "today", month boundaries and whether a birthday is in the future.
pub fn today(clock: &dyn Clock, zone: chrono_tz::Tz) -> chrono::NaiveDate {
    clock.now().with_timezone(&zone).date_naive()
}

/// The company's time zone from `PATRON_TIME_ZONE` (default Asia/Shanghai).
pub fn zone_from_env() -> Result<chrono_tz::Tz, crate::config::ConfigError> {
    let raw = crate::config::env_or("PATRON_TIME_ZONE", "Asia/Shanghai");
    raw.parse().map_err(|_| crate::config::ConfigError {
        name: "PATRON_TIME_ZONE".into(),
        reason: format!("{raw:?} is not an IANA time zone such as Asia/Shanghai"),
    })
}

/// The real time of the machine.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        // Postgres keeps microseconds; rounding here keeps what a caller is
        // told equal to what a later read returns.
        let now = Utc::now();
        DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
    }
}

/// A clock that stands still until told to move; for tests.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self(Arc::new(Mutex::new(start)))
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *now += by;
    }

    pub fn set(&self, to: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);
        clock.advance(Duration::hours(2));
        assert_eq!(clock.now(), start + Duration::hours(2));
    }

    #[test]
    fn today_follows_the_company_zone() {
        // 2026-11-22 17:30 UTC is already the 23rd in Shanghai (UTC+8).
        let clock = ManualClock::new(DateTime::from_timestamp(1_795_368_600, 0).unwrap());
        assert_eq!(clock.now().date_naive().to_string(), "2026-11-22");
        assert_eq!(
            today(&clock, chrono_tz::Asia::Shanghai).to_string(),
            "2026-11-23"
        );
        assert_eq!(today(&clock, chrono_tz::UTC).to_string(), "2026-11-22");
    }

    #[test]
    fn system_clock_has_microsecond_precision() {
        assert_eq!(SystemClock.now().timestamp_subsec_nanos() % 1000, 0);
    }
}
