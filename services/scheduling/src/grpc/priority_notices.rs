//! The priority-notice RPCs.

use patron_kit::auth;
use patron_kit::{Violations, idempotency, resource_name};
use patron_proto::scheduling::v1 as pb;
use patron_vocab::roles::Permission;
use prost::Message;
use tonic::{Request, Response, Status};

use super::input::collect;
use super::{SchedulingApi, day, text, view};
use crate::domain::policy::Channel;
use crate::generation_job::{staff_name, wire_date};
use crate::scheduling::priority_notices::NewNotice;
use crate::store::priority_notices::NoticeRow;

pub fn to_wire(row: &NoticeRow) -> pb::PriorityNotice {
    let tier_tasks: Vec<pb::TierNotices> = row
        .counted_tiers
        .iter()
        .zip(&row.tier_tasks)
        .map(|(tier, tasks)| pb::TierNotices {
            tier: tier.clone(),
            tasks: *tasks,
        })
        .collect();
    pb::PriorityNotice {
        name: resource_name::format("priorityNotices", row.id),
        title: row.title.clone(),
        text: row.body.clone(),
        tiers: row.tiers.clone(),
        due_date: Some(wire_date(row.due_date)),
        channel: view::channel_to_wire(&row.channel) as i32,
        issued_by: staff_name(&row.issued_by),
        issue_time: Some(patron_kit::timestamp::to_proto(row.issued_at)),
        task_count: tier_tasks.iter().map(|t| t.tasks).sum(),
        tier_tasks,
    }
}

impl SchedulingApi {
    pub(super) async fn issue_priority_notice_rpc(
        &self,
        request: Request<pb::IssuePriorityNoticeRequest>,
    ) -> Result<Response<pb::PriorityNotice>, Status> {
        let caller = auth::caller(&request)?;
        // Those who direct managers' work (supervisors, administrators).
        caller.require(Permission::AssignManagers)?;
        let req = request.into_inner();
        let given = req.priority_notice.clone().unwrap_or_default();
        let mut v = Violations::new();
        if req.priority_notice.is_none() {
            v.add("priority_notice", "is required");
        }
        let title = collect(
            &mut v,
            "priority_notice.title",
            text("priority_notice.title", &given.title, true, 200),
        );
        let body = collect(
            &mut v,
            "priority_notice.text",
            text("priority_notice.text", &given.text, true, 10_000),
        );
        if given.tiers.len() > 50 {
            v.add("priority_notice.tiers", "name at most 50 tiers");
        }
        let tiers: Vec<String> = given
            .tiers
            .iter()
            .enumerate()
            .filter_map(|(i, t)| {
                let field = format!("priority_notice.tiers[{i}]");
                collect(&mut v, &field, text(&field, t, true, 50))
            })
            .collect();
        let due = collect(
            &mut v,
            "priority_notice.due_date",
            day("priority_notice.due_date", given.due_date.as_ref()),
        );
        let channel = match pb::ContactChannel::try_from(given.channel) {
            Ok(pb::ContactChannel::Unspecified) => Some(Channel::Phone),
            _ => view::channel_from_wire(given.channel),
        };
        if channel.is_none() {
            v.add(
                "priority_notice.channel",
                "is not a channel: VISIT, PHONE, SMS, EMAIL, LETTER or FAX",
            );
        }
        let request_id = collect(
            &mut v,
            "request_id",
            idempotency::parse_request_id("request_id", &req.request_id),
        )
        .flatten();
        v.into_result()?;
        let fingerprint = idempotency::fingerprint(&given.encode_to_vec());
        let id = (self.scheduling)
            .issue_priority_notice(
                &caller,
                NewNotice {
                    title: title.expect("checked"),
                    text: body.expect("checked"),
                    tiers,
                    due_date: due.expect("checked"),
                    channel: channel.expect("checked"),
                },
                request_id,
                &fingerprint,
            )
            .await?;
        let row = self.scheduling.priority_notice(id).await?;
        Ok(Response::new(to_wire(&row)))
    }

    pub(super) async fn get_priority_notice_rpc(
        &self,
        request: Request<pb::GetPriorityNoticeRequest>,
    ) -> Result<Response<pb::PriorityNotice>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::AssignManagers)?;
        let id = resource_name::parse("name", "priorityNotices", &request.get_ref().name)?;
        let row = self.scheduling.priority_notice(id).await?;
        Ok(Response::new(to_wire(&row)))
    }
}
