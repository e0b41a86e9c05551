//! The wire form of tasks, contacts, leaves and projects, and the names of
//! channels, kinds and states between the wire and the store.

use chrono::NaiveDate;
use patron_kit::{etag, resource_name, timestamp};
use patron_proto::common::v1::Money;
use patron_proto::scheduling::v1 as pb;

use crate::domain::policy::Channel;
use crate::generation_job::{staff_name, wire_date};
use crate::store::leaves::{HandoverRow, LeaveRow};
use crate::store::projects::ProjectRow;
use crate::store::tasks::{ContactLogRow, TaskRow};

pub fn channel_from_wire(channel: i32) -> Option<Channel> {
    Some(match pb::ContactChannel::try_from(channel).ok()? {
        pb::ContactChannel::Unspecified => return None,
        pb::ContactChannel::Visit => Channel::Visit,
        pb::ContactChannel::Phone => Channel::Phone,
        pb::ContactChannel::Sms => Channel::Sms,
        pb::ContactChannel::Email => Channel::Email,
        pb::ContactChannel::Letter => Channel::Letter,
        pb::ContactChannel::Fax => Channel::Fax,
    })
}

pub fn channel_to_wire(stored: &str) -> pb::ContactChannel {
    match Channel::parse(stored) {
        Some(Channel::Visit) => pb::ContactChannel::Visit,
        Some(Channel::Phone) => pb::ContactChannel::Phone,
        Some(Channel::Sms) => pb::ContactChannel::Sms,
        Some(Channel::Email) => pb::ContactChannel::Email,
        Some(Channel::Letter) => pb::ContactChannel::Letter,
        Some(Channel::Fax) => pb::ContactChannel::Fax,
        None => pb::ContactChannel::Unspecified,
    }
}

pub fn state_to_wire(stored: &str) -> pb::TaskState {
    match stored {
        "open" => pb::TaskState::Open,
        "done" => pb::TaskState::Done,
        "cancelled" => pb::TaskState::Cancelled,
        _ => pb::TaskState::Unspecified,
    }
}

/// The stored name of a state asked for; `None` for any.
pub fn state_from_wire(state: pb::TaskState) -> Option<&'static str> {
    match state {
        pb::TaskState::Unspecified => None,
        pb::TaskState::Open => Some("open"),
        pb::TaskState::Done => Some("done"),
        pb::TaskState::Cancelled => Some("cancelled"),
    }
}

fn kind_to_wire(stored: &str) -> pb::TaskKind {
    match stored {
        "cadence" => pb::TaskKind::Cadence,
        "new_customer" => pb::TaskKind::NewCustomer,
        "care" => pb::TaskKind::Care,
        "notice" => pb::TaskKind::Notice,
        _ => pb::TaskKind::Unspecified,
    }
}

pub fn task(row: &TaskRow, today: NaiveDate) -> pb::Task {
    pb::Task {
        name: resource_name::format("tasks", row.id),
        customer: resource_name::format("customers", row.customer_id),
        kind: kind_to_wire(&row.kind) as i32,
        assignee: staff_name(&row.assignee),
        due_date: Some(wire_date(row.due_date)),
        channel: channel_to_wire(&row.channel) as i32,
        role: row.role.clone(),
        rule: row.rule.clone(),
        state: state_to_wire(&row.state) as i32,
        tier: row.tier.clone(),
        overdue: row.state == "open" && row.due_date < today,
        snooze_reason: row.snooze_reason.clone(),
        contact_log: row
            .contact_log_id
            .map(|id| resource_name::format("contactLogs", id))
            .unwrap_or_default(),
        etag: etag::format(row.version),
        escalated_to: row
            .escalated_to
            .as_deref()
            .map(staff_name)
            .unwrap_or_default(),
        escalation_time: row.escalated_at.map(timestamp::to_proto),
        // What a care task is for is another table's (`grpc::care::tasks`).
        care: None,
    }
}

pub fn contact_log(row: &ContactLogRow) -> pb::ContactLog {
    pb::ContactLog {
        name: resource_name::format("contactLogs", row.id),
        customer: resource_name::format("customers", row.customer_id),
        task: row
            .task_id
            .map(|id| resource_name::format("tasks", id))
            .unwrap_or_default(),
        channel: channel_to_wire(&row.channel) as i32,
        contact_time: Some(timestamp::to_proto(row.contact_time)),
        summary: row.summary.clone(),
        staff_member: staff_name(&row.staff_member),
    }
}

pub fn leave(row: &LeaveRow, handovers: &[&HandoverRow]) -> pb::Leave {
    pb::Leave {
        name: resource_name::format("leaves", row.id),
        staff_member: staff_name(&row.staff_member),
        stand_in: staff_name(&row.stand_in),
        start_date: Some(wire_date(row.start_date)),
        end_date: Some(wire_date(row.end_date)),
        handovers: handovers
            .iter()
            .map(|h| pb::Handover {
                task: resource_name::format("tasks", h.task_id),
                from_staff: staff_name(&h.from_staff),
                to_staff: staff_name(&h.to_staff),
                time: Some(timestamp::to_proto(h.at)),
            })
            .collect(),
    }
}

pub fn project(row: &ProjectRow) -> pb::Project {
    pb::Project {
        name: resource_name::format("projects", row.id),
        customer: resource_name::format("customers", row.customer_id),
        title: row.title.clone(),
        amount: Some(Money {
            currency_code: row.currency.clone(),
            amount_minor: row.amount_minor,
        }),
        signed: row.signed,
        owner_role: row.owner_role.clone(),
        owner_history: row
            .owner_history
            .as_array()
            .map(|lines| {
                lines
                    .iter()
                    .filter_map(|l| l.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        etag: etag::format(row.version),
    }
}
