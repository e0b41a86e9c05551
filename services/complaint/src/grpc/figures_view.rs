//! The complaint figures on the wire: shares computed from the counts, the
//! policy's targets beside them.

use patron_proto::complaint::v1 as pb;

use super::view;
use crate::domain::policy::ComplaintPolicy;
use crate::domain::workflow::State;
use crate::store::figures::{RootCauseRow, StageRow, Totals};

fn share(part: i64, whole: i64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

pub fn figures(
    totals: &Totals,
    stages: &[StageRow],
    causes: &[RootCauseRow],
    policy: &ComplaintPolicy,
) -> pb::ComplaintFigures {
    let mut stages: Vec<pb::StageFigures> = stages
        .iter()
        .filter_map(|s| {
            let state = State::parse(&s.stage)?;
            Some(pb::StageFigures {
                stage: view::state_to_wire(state) as i32,
                count: s.count,
                mean_seconds: s.mean_secs.round() as i64,
                p90_seconds: s.p90_secs.round() as i64,
                paused_seconds: s.paused_secs,
            })
        })
        .collect();
    stages.sort_by_key(|s| s.stage);
    pb::ComplaintFigures {
        received: totals.received,
        closed: totals.closed,
        on_time_rate: share(totals.closed_on_time, totals.closed),
        on_time_target: policy.on_time_target,
        repeat_rate: share(totals.repeats, totals.received),
        repeat_target: policy.repeat_target,
        stages,
        top_root_causes: causes
            .iter()
            .map(|c| pb::RootCauseCount {
                root_cause: c.root_cause.clone(),
                count: c.count,
            })
            .collect(),
        open_past_deadline: totals.open_past_deadline,
        first_time_right_rate: share(totals.closed_first_time, totals.closed),
        mean_satisfaction: share(totals.satisfaction_sum, totals.surveys),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_of_nothing_are_zero() {
        assert_eq!(share(0, 0), 0.0);
        assert_eq!(share(99, 100), 0.99);
    }
}
