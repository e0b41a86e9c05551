//! How a complaint is being handled: its state, the current stage's clock,
//! pauses, warnings, escalations and the record of finished stages. Every
//! change a person or the deadline job makes goes through here, so the rules
//! (a move ends a pause, a finished stage is measured against its deadline,
//! a sign-off must cover the loss, reopening has a window) hold in one place.

use chrono::{DateTime, Duration, Utc};

use super::deadlines::{self, Alarm, StageClock};
use super::policy::ComplaintPolicy;
use super::sign_off::Authority;
use super::workflow::{self, Circumstances, Move, MoveRefused, State};

/// Waiting on the customer or a third party.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pause {
    pub reason: String,
    pub since: DateTime<Utc>,
}

/// The mutable part of a complaint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handling {
    pub state: State,
    /// The customer's tier at intake: its deadlines apply throughout.
    pub tier: String,
    pub stage_started_at: DateTime<Utc>,
    pub clock: StageClock,
    /// Paused time within the current stage.
    pub stage_paused: Duration,
    pub pause: Option<Pause>,
    /// Paused time over the complaint's life.
    pub paused_total: Duration,
    pub due_at: Option<DateTime<Utc>>,
    pub warned: bool,
    pub escalation_level: i32,
    /// Some stage finished after its deadline.
    pub overdue: bool,
    pub reopen_count: i32,
    pub closed_at: Option<DateTime<Utc>>,
    /// The resolution's loss, once resolved.
    pub loss_minor: Option<i64>,
}

/// One line for the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub kind: &'static str,
    pub from: Option<State>,
    pub to: Option<State>,
    pub note: String,
}

/// A stage that ended, measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedStage {
    pub stage: State,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub worked: Duration,
    pub paused: Duration,
    pub on_time: bool,
}

/// What a change did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outcome {
    pub steps: Vec<Step>,
    pub finished: Option<FinishedStage>,
    /// The state moved (from, to).
    pub moved: Option<(State, State)>,
}

impl Outcome {
    /// A change that moves nothing and says so on the timeline.
    pub fn noted(kind: &'static str, note: String) -> Self {
        Self {
            steps: vec![Step {
                kind,
                from: None,
                to: None,
                note,
            }],
            ..Self::default()
        }
    }
}

/// What the deadline job did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fired {
    Warned,
    Escalated {
        stage: State,
        level: i32,
        unit: Option<String>,
        due_at: DateTime<Utc>,
    },
}

/// Why a change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(transparent)]
    Move(#[from] MoveRefused),
    #[error(
        "a complaint that is {0} cannot be paused; only accepted, investigating, resolved and feedback-given complaints wait on someone"
    )]
    NotPausable(State),
    #[error("the complaint is already paused ({0})")]
    AlreadyPaused(String),
    #[error("the complaint is not paused")]
    NotPaused,
    #[error(
        "a loss of {loss_minor} minor units is above your sign-off authority of {authority_minor}"
    )]
    AboveAuthority {
        loss_minor: i64,
        authority_minor: i64,
    },
    #[error("the complaint closed on {closed_at} and may be reopened within {days} days only")]
    ReopenWindowPassed { closed_at: DateTime<Utc>, days: u32 },
}

/// What a move needs beyond the complaint itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MoveFacts {
    /// For resolve: the resolution's loss.
    pub loss_minor: Option<i64>,
    /// The person's sign-off authority.
    pub authority: Authority,
}

impl Handling {
    /// A complaint received `at` from a customer of `tier`.
    pub fn received(at: DateTime<Utc>, tier: &str, policy: &ComplaintPolicy) -> Self {
        let mut handling = Self {
            state: State::Received,
            tier: tier.to_owned(),
            stage_started_at: at,
            clock: StageClock::start(at),
            stage_paused: Duration::zero(),
            pause: None,
            paused_total: Duration::zero(),
            due_at: None,
            warned: false,
            escalation_level: 0,
            overdue: false,
            reopen_count: 0,
            closed_at: None,
            loss_minor: None,
        };
        handling.due_at = handling.compute_due(policy);
        handling
    }

    fn compute_due(&self, policy: &ComplaintPolicy) -> Option<DateTime<Utc>> {
        let limit = policy.limit(&self.tier, self.state)?;
        self.clock.due(limit, &policy.calendar)
    }

    /// When the deadline job should next look, or `None` (finished, paused).
    pub fn next_alarm(&self, policy: &ComplaintPolicy) -> Option<Alarm> {
        let due = self.due_at?;
        if !self.state.is_open() || self.pause.is_some() {
            return None;
        }
        Some(deadlines::next_alarm(
            due,
            self.clock.running_since.unwrap_or(due),
            self.warned,
            self.escalation_level,
            policy.escalation,
        ))
    }

    /// The current stage's deadline has passed by `now`.
    pub fn past_deadline(&self, now: DateTime<Utc>) -> bool {
        self.state.is_open() && self.due_at.is_some_and(|due| due < now)
    }

    /// Applies a person's move at `now`.
    pub fn advance(
        &mut self,
        attempted: Move,
        now: DateTime<Utc>,
        policy: &ComplaintPolicy,
        facts: MoveFacts,
        note: &str,
    ) -> Result<Outcome, Refusal> {
        let needs_sign_off =
            attempted == Move::Resolve && !facts.authority.covers(facts.loss_minor.unwrap_or(0));
        let to = workflow::next(self.state, attempted, Circumstances { needs_sign_off })?;
        if attempted == Move::SignOff {
            let loss = self.loss_minor.unwrap_or(0);
            if !facts.authority.covers(loss) {
                return Err(Refusal::AboveAuthority {
                    loss_minor: loss,
                    authority_minor: match facts.authority {
                        Authority::UpTo(limit) => limit,
                        Authority::Unlimited => i64::MAX,
                    },
                });
            }
        }
        if attempted == Move::Reopen {
            let closed_at = self.closed_at.unwrap_or(self.stage_started_at);
            if now - closed_at > Duration::days(i64::from(policy.reopen_window_days)) {
                return Err(Refusal::ReopenWindowPassed {
                    closed_at,
                    days: policy.reopen_window_days,
                });
            }
        }
        let mut outcome = Outcome::default();
        // Moving on means whoever the company waited on has answered.
        if self.pause.is_some() {
            outcome
                .steps
                .push(self.end_pause(now, policy, "resumed by the next step"));
        }
        let from = self.state;
        if from.is_open() {
            outcome.finished = Some(self.finish_stage(now, policy));
        }
        if attempted == Move::Resolve {
            self.loss_minor = facts.loss_minor;
        }
        if attempted == Move::Reopen {
            self.reopen_count += 1;
            self.closed_at = None;
        }
        self.state = to;
        if !to.is_open() {
            self.closed_at = Some(now);
        }
        self.start_stage(now, policy);
        outcome.steps.push(Step {
            kind: attempted.timeline_kind(),
            from: Some(from),
            to: Some(to),
            note: note.to_owned(),
        });
        outcome.moved = Some((from, to));
        Ok(outcome)
    }

    fn finish_stage(&mut self, now: DateTime<Utc>, policy: &ComplaintPolicy) -> FinishedStage {
        let worked = match policy.limit(&self.tier, self.state) {
            Some(limit) => self.clock.worked_by(now, limit, &policy.calendar),
            None => now - self.stage_started_at,
        };
        let on_time = deadlines::on_time(self.due_at, now);
        self.overdue |= !on_time;
        FinishedStage {
            stage: self.state,
            started_at: self.stage_started_at,
            ended_at: now,
            worked,
            paused: self.stage_paused,
            on_time,
        }
    }

    fn start_stage(&mut self, now: DateTime<Utc>, policy: &ComplaintPolicy) {
        self.stage_started_at = now;
        self.clock = StageClock::start(now);
        self.stage_paused = Duration::zero();
        self.warned = false;
        self.escalation_level = 0;
        self.due_at = self.compute_due(policy);
    }

    /// Stops the clock while the company waits on someone.
    pub fn pause(
        &mut self,
        reason: &str,
        now: DateTime<Utc>,
        policy: &ComplaintPolicy,
    ) -> Result<Outcome, Refusal> {
        if let Some(pause) = &self.pause {
            return Err(Refusal::AlreadyPaused(pause.reason.clone()));
        }
        if !self.state.may_pause() {
            return Err(Refusal::NotPausable(self.state));
        }
        if let Some(limit) = policy.limit(&self.tier, self.state) {
            self.clock = self.clock.pause(now, limit, &policy.calendar);
        }
        self.pause = Some(Pause {
            reason: reason.to_owned(),
            since: now,
        });
        self.due_at = None;
        Ok(Outcome::noted("paused", reason.to_owned()))
    }

    /// Starts the clock again.
    pub fn resume(
        &mut self,
        now: DateTime<Utc>,
        policy: &ComplaintPolicy,
        note: &str,
    ) -> Result<Outcome, Refusal> {
        if self.pause.is_none() {
            return Err(Refusal::NotPaused);
        }
        Ok(Outcome {
            steps: vec![self.end_pause(now, policy, note)],
            ..Outcome::default()
        })
    }

    fn end_pause(&mut self, now: DateTime<Utc>, policy: &ComplaintPolicy, note: &str) -> Step {
        if let Some(pause) = self.pause.take() {
            let waited = (now - pause.since).max(Duration::zero());
            self.stage_paused += waited;
            self.paused_total += waited;
        }
        self.clock = self.clock.resume(now);
        self.due_at = self.compute_due(policy);
        Step {
            kind: "resumed",
            from: None,
            to: None,
            note: note.to_owned(),
        }
    }

    /// What the deadline job does at `now`: one warning or one escalation,
    /// when one is due. `handler_path` is the handler's unit path.
    pub fn fire_alarm(
        &mut self,
        now: DateTime<Utc>,
        policy: &ComplaintPolicy,
        handler_path: &[String],
    ) -> Option<(Fired, Step)> {
        let alarm = self.next_alarm(policy)?;
        if alarm.at() > now {
            return None;
        }
        let due_at = self.due_at?;
        match alarm {
            // A warning that comes after the deadline itself is pointless:
            // the complaint escalates instead.
            Alarm::Warn(_) if now < due_at => {
                self.warned = true;
                Some((
                    Fired::Warned,
                    Step {
                        kind: "deadline_warning",
                        from: None,
                        to: None,
                        note: format!("the {} stage is due at {due_at}", self.state),
                    },
                ))
            }
            Alarm::Warn(_) | Alarm::Escalate { .. } => {
                let level = self.escalation_level + 1;
                self.warned = true;
                self.escalation_level = level;
                let unit = deadlines::escalation_unit(handler_path, level).map(str::to_owned);
                let note = format!(
                    "the {} stage was due at {due_at}; escalated to level {level}{}",
                    self.state,
                    unit.as_deref()
                        .map(|u| format!(" (orgUnits/{u})"))
                        .unwrap_or_default()
                );
                Some((
                    Fired::Escalated {
                        stage: self.state,
                        level,
                        unit,
                        due_at,
                    },
                    Step {
                        kind: "escalated",
                        from: None,
                        to: None,
                        note,
                    },
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::calendar::Calendar;
    use crate::domain::deadlines::Escalation;
    use crate::domain::policy::{DEFAULT_TIER, STAGES};
    use crate::domain::sign_off::AuthorityTable;
    use chrono::TimeZone;
    use std::collections::BTreeMap;

    const SHANGHAI: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

    fn at(d: u32, h: u32) -> DateTime<Utc> {
        SHANGHAI
            .with_ymd_and_hms(2026, 12, d, h, 0, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    /// Tier A: every stage 4 hours round the clock; others: 8 business hours.
    fn policy() -> ComplaintPolicy {
        let mut deadlines = BTreeMap::new();
        deadlines.insert("A".to_string(), [Duration::hours(4); 6]);
        deadlines.insert(DEFAULT_TIER.to_string(), [Duration::hours(8); 6]);
        assert_eq!(STAGES.len(), 6);
        ComplaintPolicy {
            deadlines,
            round_the_clock: ["A".to_string()].into(),
            calendar: Calendar::office(SHANGHAI),
            authority: AuthorityTable::default(),
            root_causes: vec!["other".into()],
            repeat_window_days: 7,
            reopen_window_days: 30,
            escalation: Escalation {
                warn_before: Duration::hours(1),
                every: Duration::hours(2),
            },
            on_time_target: 0.99,
            repeat_target: 0.03,
        }
    }

    const ANYONE: MoveFacts = MoveFacts {
        loss_minor: None,
        authority: Authority::UpTo(0),
    };

    fn run(h: &mut Handling, steps: &[(Move, DateTime<Utc>)]) {
        for (m, now) in steps {
            h.advance(*m, *now, &policy(), ANYONE, "").unwrap();
        }
    }

    #[test]
    fn a_vip_complaint_is_due_on_the_24_hour_clock() {
        // Tuesday 1 December 2026, 22:00.
        let h = Handling::received(at(1, 22), "A", &policy());
        assert_eq!(h.due_at, Some(at(2, 2)));
        let other = Handling::received(at(1, 22), "B", &policy());
        assert_eq!(
            other.due_at,
            Some(at(2, 17)),
            "8 business hours from the next opening"
        );
    }

    #[test]
    fn each_stage_is_measured_against_its_own_deadline() {
        let p = policy();
        let mut h = Handling::received(at(1, 10), "A", &p);
        let out = h.advance(Move::Accept, at(1, 13), &p, ANYONE, "").unwrap();
        let stage = out.finished.unwrap();
        assert_eq!(stage.stage, State::Received);
        assert_eq!(stage.worked, Duration::hours(3));
        assert!(stage.on_time);
        assert_eq!(h.due_at, Some(at(1, 17)));
        let out = h
            .advance(Move::Investigate, at(1, 18), &p, ANYONE, "")
            .unwrap();
        assert!(!out.finished.unwrap().on_time);
        assert!(h.overdue, "one late stage makes the complaint late");
        assert_eq!(out.moved, Some((State::Accepted, State::Investigating)));
    }

    #[test]
    fn a_pause_holds_the_deadline_and_the_time_is_kept_apart() {
        let p = policy();
        let mut h = Handling::received(at(1, 10), "A", &p);
        run(&mut h, &[(Move::Accept, at(1, 10))]);
        h.pause("waiting on the supplier's inspection", at(1, 11), &p)
            .unwrap();
        assert_eq!(h.due_at, None);
        assert_eq!(h.next_alarm(&p), None, "no alarms while paused");
        h.resume(at(3, 11), &p, "inspection report received")
            .unwrap();
        assert_eq!(h.due_at, Some(at(3, 14)), "3 of 4 hours were left");
        let out = h
            .advance(Move::Investigate, at(3, 12), &p, ANYONE, "")
            .unwrap();
        let stage = out.finished.unwrap();
        assert!(stage.on_time);
        assert_eq!(stage.worked, Duration::hours(2));
        assert_eq!(stage.paused, Duration::hours(48));
        assert_eq!(h.paused_total, Duration::hours(48));
        assert_eq!(
            h.stage_paused,
            Duration::zero(),
            "a new stage starts unpaused"
        );
    }

    #[test]
    fn a_move_while_paused_resumes_first() {
        let p = policy();
        let mut h = Handling::received(at(1, 10), "A", &p);
        run(&mut h, &[(Move::Accept, at(1, 10))]);
        h.pause("customer to send photos", at(1, 11), &p).unwrap();
        let out = h
            .advance(Move::Investigate, at(1, 15), &p, ANYONE, "")
            .unwrap();
        let kinds: Vec<&str> = out.steps.iter().map(|s| s.kind).collect();
        assert_eq!(kinds, ["resumed", "investigating"]);
        assert_eq!(out.finished.unwrap().paused, Duration::hours(4));
        assert!(h.pause.is_none());
    }

    #[test]
    fn pauses_are_refused_where_nobody_is_waited_on() {
        let p = policy();
        let mut h = Handling::received(at(1, 10), "A", &p);
        assert_eq!(
            h.pause("x", at(1, 10), &p),
            Err(Refusal::NotPausable(State::Received))
        );
        assert_eq!(h.resume(at(1, 10), &p, ""), Err(Refusal::NotPaused));
        run(&mut h, &[(Move::Accept, at(1, 10))]);
        h.pause("x", at(1, 11), &p).unwrap();
        assert_eq!(
            h.pause("y", at(1, 12), &p),
            Err(Refusal::AlreadyPaused("x".into()))
        );
    }

    #[test]
    fn a_large_loss_waits_for_someone_whose_authority_covers_it() {
        let p = policy();
        let mut h = Handling::received(at(1, 10), "A", &p);
        run(
            &mut h,
            &[(Move::Accept, at(1, 10)), (Move::Investigate, at(1, 11))],
        );
        let clerk = MoveFacts {
            loss_minor: Some(500_000),
            authority: Authority::UpTo(100_000),
        };
        h.advance(Move::Resolve, at(1, 12), &p, clerk, "refund")
            .unwrap();
        assert_eq!(h.state, State::AwaitingSignOff);
        let supervisor = MoveFacts {
            loss_minor: None,
            authority: Authority::UpTo(200_000),
        };
        assert_eq!(
            h.advance(Move::SignOff, at(1, 13), &p, supervisor, ""),
            Err(Refusal::AboveAuthority {
                loss_minor: 500_000,
                authority_minor: 200_000
            })
        );
        assert_eq!(h.state, State::AwaitingSignOff, "a refusal changes nothing");
        let manager = MoveFacts {
            loss_minor: None,
            authority: Authority::Unlimited,
        };
        h.advance(Move::SignOff, at(1, 13), &p, manager, "approved")
            .unwrap();
        assert_eq!(h.state, State::Resolved);
        // Within authority: straight to resolved.
        let mut small = Handling::received(at(1, 10), "A", &p);
        run(
            &mut small,
            &[(Move::Accept, at(1, 10)), (Move::Investigate, at(1, 11))],
        );
        let within = MoveFacts {
            loss_minor: Some(100_000),
            authority: Authority::UpTo(100_000),
        };
        small
            .advance(Move::Resolve, at(1, 12), &p, within, "")
            .unwrap();
        assert_eq!(small.state, State::Resolved);
    }

    #[test]
    fn closing_records_the_time_and_reopening_has_a_window() {
        let p = policy();
        let mut h = Handling::received(at(1, 10), "A", &p);
        run(
            &mut h,
            &[
                (Move::Accept, at(1, 10)),
                (Move::Investigate, at(1, 11)),
                (Move::Resolve, at(1, 12)),
                (Move::GiveFeedback, at(1, 13)),
                (Move::Close, at(1, 14)),
            ],
        );
        assert_eq!(h.closed_at, Some(at(1, 14)));
        assert_eq!(h.due_at, None);
        assert_eq!(h.next_alarm(&p), None);
        let late = at(1, 14) + Duration::days(31);
        assert!(matches!(
            h.clone()
                .advance(Move::Reopen, late, &p, ANYONE, "still broken"),
            Err(Refusal::ReopenWindowPassed { days: 30, .. })
        ));
        h.advance(Move::Reopen, at(20, 9), &p, ANYONE, "still broken")
            .unwrap();
        assert_eq!(h.state, State::Accepted);
        assert_eq!(h.reopen_count, 1);
        assert_eq!(h.closed_at, None);
        assert_eq!(h.due_at, Some(at(20, 13)));
    }

    #[test]
    fn the_deadline_job_warns_then_escalates_once_per_alarm() {
        let p = policy();
        let path: Vec<String> = ["company", "east", "sh"].map(String::from).to_vec();
        let mut h = Handling::received(at(1, 10), "A", &p); // due 14:00
        assert_eq!(h.fire_alarm(at(1, 12), &p, &path), None, "too early");
        let (fired, _) = h.fire_alarm(at(1, 13), &p, &path).unwrap();
        assert_eq!(fired, Fired::Warned);
        assert_eq!(h.fire_alarm(at(1, 13), &p, &path), None, "warned once");
        let (fired, step) = h
            .fire_alarm(at(1, 14) + Duration::minutes(1), &p, &path)
            .unwrap();
        assert_eq!(
            fired,
            Fired::Escalated {
                stage: State::Received,
                level: 1,
                unit: Some("sh".into()),
                due_at: at(1, 14)
            }
        );
        assert_eq!(step.kind, "escalated");
        assert_eq!(h.fire_alarm(at(1, 15), &p, &path), None, "once per alarm");
        let (fired, _) = h.fire_alarm(at(1, 16), &p, &path).unwrap();
        assert!(
            matches!(fired, Fired::Escalated { level: 2, unit: Some(ref u), .. } if u == "east")
        );
    }

    #[test]
    fn a_deadline_found_passed_escalates_without_a_late_warning() {
        let p = policy();
        let path: Vec<String> = vec!["company".into()];
        let mut h = Handling::received(at(1, 10), "A", &p);
        let (fired, _) = h.fire_alarm(at(1, 15), &p, &path).unwrap();
        assert!(matches!(fired, Fired::Escalated { level: 1, .. }));
        assert!(h.past_deadline(at(1, 15)));
        // A step resets the stage's alarms.
        h.advance(Move::Accept, at(1, 15), &p, ANYONE, "").unwrap();
        assert_eq!(h.escalation_level, 0);
        assert!(!h.warned);
        assert!(h.overdue);
    }
}
