//! A complaint's workflow (004 §8, 001): received → accepted → investigating
//! → resolved → feedback given → closed, with "not valid" as the other way
//! out, a sign-off wait for resolutions above the resolver's authority, and
//! reopening after closing. Every other move is refused, naming the state
//! and the moves it allows.

use std::fmt;

/// Where a complaint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    Received,
    Accepted,
    Investigating,
    AwaitingSignOff,
    Resolved,
    FeedbackGiven,
    Closed,
    NotValid,
}

/// A step a person asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Move {
    Accept,
    Investigate,
    Resolve,
    GiveFeedback,
    Close,
    FindNotValid,
    SignOff,
    SendBack,
    Reopen,
}

pub const ALL_STATES: [State; 8] = [
    State::Received,
    State::Accepted,
    State::Investigating,
    State::AwaitingSignOff,
    State::Resolved,
    State::FeedbackGiven,
    State::Closed,
    State::NotValid,
];

pub const ALL_MOVES: [Move; 9] = [
    Move::Accept,
    Move::Investigate,
    Move::Resolve,
    Move::GiveFeedback,
    Move::Close,
    Move::FindNotValid,
    Move::SignOff,
    Move::SendBack,
    Move::Reopen,
];

impl State {
    /// Its name in messages, the timeline and the database.
    pub fn name(self) -> &'static str {
        match self {
            State::Received => "received",
            State::Accepted => "accepted",
            State::Investigating => "investigating",
            State::AwaitingSignOff => "awaiting_sign_off",
            State::Resolved => "resolved",
            State::FeedbackGiven => "feedback_given",
            State::Closed => "closed",
            State::NotValid => "not_valid",
        }
    }

    /// The state stored as `name`.
    pub fn parse(name: &str) -> Option<Self> {
        ALL_STATES.into_iter().find(|s| s.name() == name)
    }

    /// The moves allowed from here.
    pub fn moves(self) -> &'static [Move] {
        match self {
            State::Received => &[Move::Accept],
            State::Accepted => &[Move::Investigate, Move::FindNotValid],
            State::Investigating => &[Move::Resolve, Move::FindNotValid],
            State::AwaitingSignOff => &[Move::SignOff, Move::SendBack],
            State::Resolved => &[Move::GiveFeedback],
            State::FeedbackGiven => &[Move::Close],
            State::Closed | State::NotValid => &[Move::Reopen],
        }
    }

    /// Still being handled: has a deadline and may be escalated.
    pub fn is_open(self) -> bool {
        !matches!(self, State::Closed | State::NotValid)
    }

    /// The company may be waiting on the customer or a third party here, so
    /// the clock may be paused. Not before it is accepted, and not while a
    /// colleague's sign-off is all that is missing.
    pub fn may_pause(self) -> bool {
        matches!(
            self,
            State::Accepted | State::Investigating | State::Resolved | State::FeedbackGiven
        )
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name().replace('_', " "))
    }
}

impl Move {
    pub fn name(self) -> &'static str {
        match self {
            Move::Accept => "accept",
            Move::Investigate => "investigate",
            Move::Resolve => "resolve",
            Move::GiveFeedback => "give feedback",
            Move::Close => "close",
            Move::FindNotValid => "find not valid",
            Move::SignOff => "sign off",
            Move::SendBack => "send back",
            Move::Reopen => "reopen",
        }
    }

    /// The timeline's kind for the move.
    pub fn timeline_kind(self) -> &'static str {
        match self {
            Move::Accept => "accepted",
            Move::Investigate => "investigating",
            Move::Resolve => "resolved",
            Move::GiveFeedback => "feedback_given",
            Move::Close => "closed",
            Move::FindNotValid => "not_valid",
            Move::SignOff => "signed_off",
            Move::SendBack => "sent_back",
            Move::Reopen => "reopened",
        }
    }
}

/// What decides where a move leads beyond the state itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Circumstances {
    /// For a resolution: the loss is above the resolver's authority.
    pub needs_sign_off: bool,
}

/// A move the state does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a complaint that is {state} cannot {}; from {state} it may {}",
    attempted.name(),
    allowed(*state)
)]
pub struct MoveRefused {
    pub state: State,
    pub attempted: Move,
}

fn allowed(state: State) -> String {
    let moves: Vec<&str> = state.moves().iter().map(|m| m.name()).collect();
    match moves.as_slice() {
        [] => "not move".into(),
        [one] => (*one).into(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// Where `attempted` leads from `state`.
pub fn next(state: State, attempted: Move, facts: Circumstances) -> Result<State, MoveRefused> {
    use Move as M;
    use State as S;
    let to = match (state, attempted) {
        (S::Received, M::Accept) => S::Accepted,
        (S::Accepted, M::Investigate) => S::Investigating,
        (S::Accepted | S::Investigating, M::FindNotValid) => S::NotValid,
        (S::Investigating, M::Resolve) if facts.needs_sign_off => S::AwaitingSignOff,
        (S::Investigating, M::Resolve) => S::Resolved,
        (S::AwaitingSignOff, M::SignOff) => S::Resolved,
        (S::AwaitingSignOff, M::SendBack) => S::Investigating,
        (S::Resolved, M::GiveFeedback) => S::FeedbackGiven,
        (S::FeedbackGiven, M::Close) => S::Closed,
        // A reopened complaint is handled again from acceptance; it keeps
        // its number and counts against first-time-right.
        (S::Closed | S::NotValid, M::Reopen) => S::Accepted,
        _ => return Err(MoveRefused { state, attempted }),
    };
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_path_runs_from_receipt_to_closing() {
        let mut state = State::Received;
        for step in [
            Move::Accept,
            Move::Investigate,
            Move::Resolve,
            Move::GiveFeedback,
            Move::Close,
        ] {
            state = next(state, step, Circumstances::default()).unwrap();
        }
        assert_eq!(state, State::Closed);
    }

    #[test]
    fn a_resolution_above_authority_waits_for_sign_off() {
        let big = Circumstances {
            needs_sign_off: true,
        };
        let waiting = next(State::Investigating, Move::Resolve, big).unwrap();
        assert_eq!(waiting, State::AwaitingSignOff);
        assert_eq!(next(waiting, Move::SignOff, big).unwrap(), State::Resolved);
        assert_eq!(
            next(waiting, Move::SendBack, big).unwrap(),
            State::Investigating
        );
    }

    #[test]
    fn not_valid_is_reachable_from_accepted_and_investigating_only() {
        for state in ALL_STATES {
            let result = next(state, Move::FindNotValid, Circumstances::default());
            match state {
                State::Accepted | State::Investigating => {
                    assert_eq!(result.unwrap(), State::NotValid)
                }
                _ => assert!(result.is_err(), "{state}"),
            }
        }
    }

    #[test]
    fn closed_and_not_valid_complaints_reopen_to_accepted() {
        for state in [State::Closed, State::NotValid] {
            assert_eq!(
                next(state, Move::Reopen, Circumstances::default()).unwrap(),
                State::Accepted
            );
        }
    }

    /// Every (state, move) pair: allowed exactly when the state lists it.
    #[test]
    fn every_pair_is_allowed_exactly_when_listed() {
        for state in ALL_STATES {
            for attempted in ALL_MOVES {
                for needs_sign_off in [false, true] {
                    let result = next(state, attempted, Circumstances { needs_sign_off });
                    assert_eq!(
                        result.is_ok(),
                        state.moves().contains(&attempted),
                        "{state} / {}",
                        attempted.name()
                    );
                }
            }
        }
    }

    #[test]
    fn a_refusal_names_the_state_and_the_moves_it_allows() {
        let refused = next(State::Investigating, Move::Close, Circumstances::default())
            .unwrap_err()
            .to_string();
        assert_eq!(
            refused,
            "a complaint that is investigating cannot close; from investigating it may resolve or find not valid"
        );
        let refused = next(State::Received, Move::Resolve, Circumstances::default())
            .unwrap_err()
            .to_string();
        assert!(
            refused.ends_with("from received it may accept"),
            "{refused}"
        );
    }

    #[test]
    fn state_names_round_trip() {
        for state in ALL_STATES {
            assert_eq!(State::parse(state.name()), Some(state));
        }
        assert_eq!(State::parse("lost"), None);
    }

    #[test]
    fn only_waiting_states_may_pause_and_only_finished_ones_are_closed() {
        let pausable: Vec<State> = ALL_STATES.into_iter().filter(|s| s.may_pause()).collect();
        assert_eq!(
            pausable,
            [
                State::Accepted,
                State::Investigating,
                State::Resolved,
                State::FeedbackGiven
            ]
        );
        let finished: Vec<State> = ALL_STATES.into_iter().filter(|s| !s.is_open()).collect();
        assert_eq!(finished, [State::Closed, State::NotValid]);
    }
}
