//! Deadlines (001 处理期限): each stage of an open complaint must be done within
//! the time its customer's tier allows, counted on the tier's clock. Waiting
//! on the customer or a third party stops the clock; resuming starts it
//! again with the time already worked kept. Before a deadline the handler is
//! warned; after it the complaint goes up the organisation, one level each
//! time the escalation interval passes.

use chrono::{DateTime, Duration, Utc};

use super::calendar::{Calendar, Clock};

/// What the policy allows a stage, for one tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageLimit {
    pub work: Duration,
    pub clock: Clock,
}

/// The current stage's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageClock {
    /// Working time done before `running_since` (earlier runs of the stage).
    pub worked: Duration,
    /// When the clock last started; `None` while paused.
    pub running_since: Option<DateTime<Utc>>,
}

impl StageClock {
    /// A stage starting at `at`.
    pub fn start(at: DateTime<Utc>) -> Self {
        Self {
            worked: Duration::zero(),
            running_since: Some(at),
        }
    }

    pub fn is_paused(&self) -> bool {
        self.running_since.is_none()
    }

    /// Working time done by `now`.
    pub fn worked_by(
        &self,
        now: DateTime<Utc>,
        limit: StageLimit,
        calendar: &Calendar,
    ) -> Duration {
        match self.running_since {
            Some(since) => self.worked + calendar.between(limit.clock, since, now),
            None => self.worked,
        }
    }

    /// Stops the clock at `now`; a paused clock stays as it is.
    pub fn pause(self, now: DateTime<Utc>, limit: StageLimit, calendar: &Calendar) -> Self {
        Self {
            worked: self.worked_by(now, limit, calendar),
            running_since: None,
        }
    }

    /// Starts the clock again at `now`; a running clock stays as it is.
    pub fn resume(self, now: DateTime<Utc>) -> Self {
        Self {
            worked: self.worked,
            running_since: self.running_since.or(Some(now)),
        }
    }

    /// When the stage must be done; `None` while paused (or for a calendar
    /// with no working time, which the policy check refuses).
    pub fn due(&self, limit: StageLimit, calendar: &Calendar) -> Option<DateTime<Utc>> {
        let since = self.running_since?;
        let left = (limit.work - self.worked).max(Duration::zero());
        calendar.add(limit.clock, since, left)
    }
}

/// When the deadline job should next look at a complaint, and what it will
/// find to do then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alarm {
    /// Warn the handler that the deadline is near.
    Warn(DateTime<Utc>),
    /// Escalate to `level` (1 for the first time past the deadline).
    Escalate { at: DateTime<Utc>, level: i32 },
}

impl Alarm {
    pub fn at(self) -> DateTime<Utc> {
        match self {
            Alarm::Warn(at) | Alarm::Escalate { at, .. } => at,
        }
    }
}

/// How warnings and escalations are paced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Escalation {
    /// Warn this long (wall time) before the deadline.
    pub warn_before: Duration,
    /// Go one level higher each time this passes after the deadline.
    pub every: Duration,
}

/// The next alarm of a stage due at `due`, whose clock last started at
/// `since`, which has been warned about (`warned`) and escalated `level`
/// times so far. The warning comes `warn_before` ahead of the deadline, but
/// never in the first half of the stage's time: a stage allowed less than
/// the warning's lead (a VIP's one-hour acceptance under a two-hour lead)
/// is warned halfway, not the moment it starts.
pub fn next_alarm(
    due: DateTime<Utc>,
    since: DateTime<Utc>,
    warned: bool,
    level: i32,
    pace: Escalation,
) -> Alarm {
    if !warned && level == 0 {
        let halfway = since + (due - since) / 2;
        return Alarm::Warn((due - pace.warn_before).max(halfway));
    }
    Alarm::Escalate {
        at: due + pace.every * level,
        level: level + 1,
    }
}

/// The unit a complaint goes to at `level`: the handler's own unit (its
/// supervisor) first, then each unit above it, stopping at the company.
/// `handler_path` is the handler's unit path from the company down.
pub fn escalation_unit(handler_path: &[String], level: i32) -> Option<&str> {
    let up = usize::try_from(level.max(1) - 1).unwrap_or(0);
    let index = handler_path.len().saturating_sub(1 + up);
    handler_path.get(index).map(String::as_str)
}

/// Whether a stage finished at `done` met its deadline.
pub fn on_time(due: Option<DateTime<Utc>>, done: DateTime<Utc>) -> bool {
    due.is_none_or(|due| done <= due)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const SHANGHAI: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

    fn at(d: u32, h: u32, m: u32) -> DateTime<Utc> {
        SHANGHAI
            .with_ymd_and_hms(2026, 9, d, h, m, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn office() -> Calendar {
        Calendar::office(SHANGHAI)
    }

    const DAY: StageLimit = StageLimit {
        work: Duration::hours(24),
        clock: Clock::RoundTheClock,
    };

    fn business(hours: i64) -> StageLimit {
        StageLimit {
            work: Duration::hours(hours),
            clock: Clock::BusinessHours,
        }
    }

    #[test]
    fn a_running_stage_is_due_after_its_limit() {
        let clock = StageClock::start(at(1, 10, 0));
        assert_eq!(clock.due(DAY, &office()), Some(at(2, 10, 0)));
        // Tuesday 29 September 16:00 + 8 business hours → Wednesday 15:00.
        let clock = StageClock::start(at(29, 16, 0));
        assert_eq!(clock.due(business(8), &office()), Some(at(30, 15, 0)));
    }

    #[test]
    fn a_pause_stops_the_clock_and_a_resume_keeps_the_time_worked() {
        let c = office();
        let clock = StageClock::start(at(1, 10, 0));
        let paused = clock.pause(at(1, 16, 0), DAY, &c);
        assert!(paused.is_paused());
        assert_eq!(paused.due(DAY, &c), None, "no deadline while paused");
        assert_eq!(paused.worked, Duration::hours(6));
        // Three days waiting on the supplier, then 18 hours are left.
        let resumed = paused.resume(at(4, 16, 0));
        assert_eq!(resumed.due(DAY, &c), Some(at(5, 10, 0)));
        assert_eq!(
            resumed.worked_by(at(4, 20, 0), DAY, &c),
            Duration::hours(10)
        );
    }

    #[test]
    fn pausing_twice_or_resuming_twice_changes_nothing() {
        let c = office();
        let paused = StageClock::start(at(1, 10, 0)).pause(at(1, 12, 0), DAY, &c);
        assert_eq!(paused.pause(at(1, 20, 0), DAY, &c), paused);
        let running = paused.resume(at(2, 9, 0));
        assert_eq!(running.resume(at(2, 11, 0)), running);
    }

    #[test]
    fn business_hours_pauses_count_working_time_only() {
        let c = office();
        // Tuesday 29th 17:00 start, paused Wednesday 10:00: 2 working hours.
        let paused = StageClock::start(at(29, 17, 0)).pause(at(30, 10, 0), business(4), &c);
        assert_eq!(paused.worked, Duration::hours(2));
        // Resumed Thursday 1 October 17:00 (no holidays in this calendar):
        // one hour that day, one the next morning.
        let due = paused.resume(
            SHANGHAI
                .with_ymd_and_hms(2026, 10, 1, 17, 0, 0)
                .unwrap()
                .with_timezone(&Utc),
        );
        assert_eq!(
            due.due(business(4), &c),
            Some(
                SHANGHAI
                    .with_ymd_and_hms(2026, 10, 2, 10, 0, 0)
                    .unwrap()
                    .with_timezone(&Utc)
            )
        );
    }

    #[test]
    fn a_stage_past_its_time_when_resumed_is_due_at_once() {
        let c = office();
        let paused = StageClock::start(at(1, 0, 0)).pause(at(2, 6, 0), DAY, &c);
        assert_eq!(paused.resume(at(3, 0, 0)).due(DAY, &c), Some(at(3, 0, 0)));
    }

    #[test]
    fn alarms_warn_first_then_escalate_level_by_level() {
        let pace = Escalation {
            warn_before: Duration::hours(2),
            every: Duration::hours(4),
        };
        let due = at(2, 10, 0);
        let since = at(1, 10, 0);
        assert_eq!(
            next_alarm(due, since, false, 0, pace),
            Alarm::Warn(at(2, 8, 0))
        );
        assert_eq!(
            next_alarm(due, since, true, 0, pace),
            Alarm::Escalate { at: due, level: 1 }
        );
        assert_eq!(
            next_alarm(due, since, true, 1, pace),
            Alarm::Escalate {
                at: at(2, 14, 0),
                level: 2
            }
        );
        // A stage that was never warned (it was created past its warning
        // time and escalated straight away) keeps escalating.
        assert_eq!(
            next_alarm(due, since, false, 2, pace),
            Alarm::Escalate {
                at: at(2, 18, 0),
                level: 3
            }
        );
    }

    #[test]
    fn a_stage_shorter_than_the_warnings_lead_is_warned_halfway() {
        let pace = Escalation {
            warn_before: Duration::hours(2),
            every: Duration::hours(4),
        };
        // One hour to accept, a two-hour lead: warned at half past, not at
        // intake (nor before it).
        let since = at(2, 9, 0);
        assert_eq!(
            next_alarm(at(2, 10, 0), since, false, 0, pace),
            Alarm::Warn(at(2, 9, 30))
        );
        // Exactly the lead: still halfway.
        assert_eq!(
            next_alarm(at(2, 11, 0), since, false, 0, pace),
            Alarm::Warn(at(2, 10, 0))
        );
        // A resumed clock counts from its restart.
        assert_eq!(
            next_alarm(at(2, 10, 0), at(2, 9, 40), false, 0, pace),
            Alarm::Warn(at(2, 9, 50))
        );
    }

    #[test]
    fn escalation_climbs_the_handlers_units_to_the_company() {
        let path: Vec<String> = ["company", "east", "shanghai"].map(String::from).to_vec();
        assert_eq!(escalation_unit(&path, 1), Some("shanghai"));
        assert_eq!(escalation_unit(&path, 2), Some("east"));
        assert_eq!(escalation_unit(&path, 3), Some("company"));
        assert_eq!(escalation_unit(&path, 9), Some("company"));
        assert_eq!(escalation_unit(&[], 1), None);
    }

    #[test]
    fn on_time_means_by_the_deadline() {
        assert!(on_time(Some(at(2, 10, 0)), at(2, 10, 0)));
        assert!(!on_time(Some(at(2, 10, 0)), at(2, 10, 1)));
        assert!(on_time(None, at(2, 10, 1)));
    }
}
