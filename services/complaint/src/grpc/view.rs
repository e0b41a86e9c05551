//! The wire form of a complaint, and the names of states, channels and
//! demands between the wire and the store.

use patron_kit::{etag, resource_name, timestamp};
use patron_proto::common::v1::{Date, Money};
use patron_proto::complaint::v1 as pb;
use pb::{ComplaintChannel, ComplaintMove, ComplaintState, CustomerDemand};

use crate::domain::workflow::{Move, State};
use crate::store::complaints::{ComplaintRow, TimelineRow};

pub const COMPLAINTS: &str = "complaints";

pub fn state_to_wire(state: State) -> ComplaintState {
    match state {
        State::Received => ComplaintState::Received,
        State::Accepted => ComplaintState::Accepted,
        State::Investigating => ComplaintState::Investigating,
        State::AwaitingSignOff => ComplaintState::AwaitingSignOff,
        State::Resolved => ComplaintState::Resolved,
        State::FeedbackGiven => ComplaintState::FeedbackGiven,
        State::Closed => ComplaintState::Closed,
        State::NotValid => ComplaintState::NotValid,
    }
}

pub fn state_from_wire(state: ComplaintState) -> Option<State> {
    Some(match state {
        ComplaintState::Unspecified => return None,
        ComplaintState::Received => State::Received,
        ComplaintState::Accepted => State::Accepted,
        ComplaintState::Investigating => State::Investigating,
        ComplaintState::AwaitingSignOff => State::AwaitingSignOff,
        ComplaintState::Resolved => State::Resolved,
        ComplaintState::FeedbackGiven => State::FeedbackGiven,
        ComplaintState::Closed => State::Closed,
        ComplaintState::NotValid => State::NotValid,
    })
}

fn stored_state(name: Option<&str>) -> i32 {
    name.and_then(State::parse)
        .map(state_to_wire)
        .unwrap_or(ComplaintState::Unspecified) as i32
}

pub fn move_from_wire(m: ComplaintMove) -> Option<Move> {
    Some(match m {
        ComplaintMove::Unspecified => return None,
        ComplaintMove::Accept => Move::Accept,
        ComplaintMove::Investigate => Move::Investigate,
        ComplaintMove::Resolve => Move::Resolve,
        ComplaintMove::GiveFeedback => Move::GiveFeedback,
        ComplaintMove::Close => Move::Close,
        ComplaintMove::FindNotValid => Move::FindNotValid,
        ComplaintMove::SignOff => Move::SignOff,
        ComplaintMove::SendBack => Move::SendBack,
        ComplaintMove::Reopen => Move::Reopen,
    })
}

/// (wire, stored name) of every channel.
const CHANNELS: [(ComplaintChannel, &str); 5] = [
    (ComplaintChannel::Hotline, "hotline"),
    (ComplaintChannel::Email, "email"),
    (ComplaintChannel::Web, "web"),
    (ComplaintChannel::InPerson, "in_person"),
    (ComplaintChannel::AccountManager, "account_manager"),
];

const DEMANDS: [(CustomerDemand, &str); 4] = [
    (CustomerDemand::Return, "return"),
    (CustomerDemand::Exchange, "exchange"),
    (CustomerDemand::Compensation, "compensation"),
    (CustomerDemand::Other, "other"),
];

pub fn channel_name(channel: ComplaintChannel) -> Option<&'static str> {
    CHANNELS
        .iter()
        .find(|(c, _)| *c == channel)
        .map(|(_, n)| *n)
}

pub fn demand_name(demand: CustomerDemand) -> Option<&'static str> {
    DEMANDS.iter().find(|(d, _)| *d == demand).map(|(_, n)| *n)
}

fn channel_of(name: &str) -> i32 {
    CHANNELS
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(c, _)| *c as i32)
        .unwrap_or_default()
}

fn demand_of(name: &str) -> i32 {
    DEMANDS
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(d, _)| *d as i32)
        .unwrap_or_default()
}

pub fn complaint_name(id: uuid::Uuid) -> String {
    resource_name::format(COMPLAINTS, id)
}

fn text(value: &Option<serde_json::Value>, key: &str) -> String {
    value
        .as_ref()
        .and_then(|v| v[key].as_str())
        .unwrap_or_default()
        .to_owned()
}

fn timeline_entry(line: &TimelineRow) -> pb::TimelineEntry {
    pb::TimelineEntry {
        kind: line.kind.clone(),
        from_state: stored_state(line.from_state.as_deref()),
        to_state: stored_state(line.to_state.as_deref()),
        actor: line.actor.clone(),
        time: Some(timestamp::to_proto(line.at)),
        note: line.note.clone(),
    }
}

/// A stored complaint and its timeline on the wire.
pub fn complaint(row: &ComplaintRow, timeline: &[&TimelineRow]) -> pb::Complaint {
    let date = |d: chrono::NaiveDate| {
        use chrono::Datelike;
        Date {
            year: d.year(),
            month: d.month() as i32,
            day: d.day() as i32,
        }
    };
    pb::Complaint {
        name: complaint_name(row.id),
        complaint_number: row.number.clone(),
        customer: resource_name::format("customers", row.intake.customer_id),
        state: stored_state(Some(&row.state)),
        description: row.intake.description.clone(),
        receive_time: Some(timestamp::to_proto(row.received_at)),
        channel: channel_of(&row.intake.channel),
        order_number: row.intake.order_number.clone(),
        item: row.intake.item.clone(),
        quantity: (row.intake.quantity_milli.is_some() || row.intake.quantity_undetermined).then(
            || pb::Quantity {
                amount_milli: row.intake.quantity_milli.unwrap_or(0),
                unit: row.intake.quantity_unit.clone(),
                not_yet_determined: row.intake.quantity_undetermined,
            },
        ),
        delivery_date: row.intake.delivery_date.map(date),
        demand: demand_of(&row.intake.demand),
        reason: row.intake.reason.clone(),
        attachments: serde_json::from_value(row.intake.attachments.clone())
            .map(|list: Vec<serde_json::Value>| {
                list.iter()
                    .map(|a| pb::Attachment {
                        file_name: a["file_name"].as_str().unwrap_or_default().to_owned(),
                        media_type: a["media_type"].as_str().unwrap_or_default().to_owned(),
                        size_bytes: a["size_bytes"].as_i64().unwrap_or(0),
                        uri: a["uri"].as_str().unwrap_or_default().to_owned(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        tier: row.tier.clone(),
        org_unit: if row.org_unit.is_empty() {
            String::new()
        } else {
            // Complaints received before units were kept by id hold the
            // resource name.
            let id = row
                .org_unit
                .strip_prefix("orgUnits/")
                .unwrap_or(&row.org_unit);
            format!("orgUnits/{id}")
        },
        handler: if row.handler.is_empty() {
            String::new()
        } else {
            format!("staff/{}", row.handler)
        },
        customer_exited: row.customer_exited,
        repeat_of: row.repeat_of.map(complaint_name).unwrap_or_default(),
        investigation: row.investigation.as_ref().map(|_| pb::Investigation {
            cause: text(&row.investigation, "cause"),
            responsible_department: text(&row.investigation, "responsible_department"),
            responsible_person: text(&row.investigation, "responsible_person"),
        }),
        resolution: row.resolution.as_ref().map(|_| pb::Resolution {
            action: text(&row.resolution, "action"),
            loss_amount: row.loss_minor.map(|minor| Money {
                currency_code: row.loss_currency.clone().unwrap_or_default(),
                amount_minor: minor,
            }),
            penalty: text(&row.resolution, "penalty"),
            root_cause: row.root_cause.clone().unwrap_or_default(),
            prevention: text(&row.resolution, "prevention"),
        }),
        not_valid_reason: row.not_valid_reason.clone(),
        due_time: row.due_at.map(timestamp::to_proto),
        paused_reason: row.paused_reason.clone(),
        paused_seconds: row.paused_secs,
        escalation_level: row.escalation_level,
        overdue: row.overdue,
        reopen_count: row.reopen_count,
        survey: row.survey_score.map(|score| pb::Survey {
            score: i32::from(score),
            comment: row.survey_comment.clone().unwrap_or_default(),
            recorded_by: row.survey_by.clone().unwrap_or_default(),
            record_time: row.survey_at.map(timestamp::to_proto),
        }),
        timeline: timeline.iter().map(|l| timeline_entry(l)).collect(),
        etag: etag::format(row.version),
    }
}
