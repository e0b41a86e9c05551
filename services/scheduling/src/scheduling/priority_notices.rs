//! Priority notices (000 3.11): a policy or price change becomes, in one
//! transaction, a notice task for every VIP the issuer reaches, highest tier
//! first, for each customer's manager (their stand-in while they are on
//! leave), the notice itself and its event. A retried issue with the same
//! request id creates nothing more.

use chrono::NaiveDate;
use patron_kit::auth::Caller;
use patron_kit::idempotency::{self, Claim};
use patron_kit::{ServiceError, events, resource_name};
use patron_proto::scheduling::v1 as pb;
use uuid::Uuid;

use super::Scheduling;
use crate::domain::policy::Channel;
use crate::domain::priority_notices;
use crate::generation_job::{staff_name, wire_date};
use crate::store::leaves::{self, LeaveRow};
use crate::store::priority_notices::{self as store, Cover, NoticeRow, NoticeTasks};

/// A notice as checked on the wire.
#[derive(Debug, Clone)]
pub struct NewNotice {
    pub title: String,
    pub text: String,
    /// The tiers asked for; every tier when empty.
    pub tiers: Vec<String>,
    pub due_date: NaiveDate,
    pub channel: Channel,
}

impl Scheduling {
    /// Issues a notice: its tasks, the notice and its event, at once.
    pub async fn issue_priority_notice(
        &self,
        caller: &Caller,
        notice: NewNotice,
        request_id: Option<Uuid>,
        fingerprint: &[u8],
    ) -> Result<Uuid, ServiceError> {
        let loaded = self.policies.current().await?;
        let tiers = priority_notices::tiers_to_notify(&loaded.value.tiers, &notice.tiers).map_err(
            |problems| {
                let mut v = patron_kit::Violations::new();
                for (i, problem) in problems {
                    v.add(format!("priority_notice.tiers[{i}]"), problem.to_string());
                }
                ServiceError::InvalidArgument(v)
            },
        )?;
        let today = self.today();
        if notice.due_date < today {
            return Err(ServiceError::invalid(
                "priority_notice.due_date",
                format!("must not be before today ({today})"),
            ));
        }
        let now = self.clock.now();
        let id = resource_name::new_id();
        let mut tx = self.pool.begin().await?;
        if let Some(request_id) = request_id
            && let Claim::Replay(existing) =
                idempotency::claim(&mut tx, "priority_notices", request_id, fingerprint, id).await?
        {
            tx.commit().await?;
            return Ok(existing);
        }
        let reach = self.reach.reach_of(&mut tx, caller).await?;
        // Who covers whom today, as the generation job assigns new tasks.
        let covers: Vec<Cover> = leaves::covering(&mut tx, today)
            .await?
            .iter()
            .map(|l: &LeaveRow| Cover {
                leave_id: l.id,
                manager: l.staff_member.clone(),
                stand_in: l.stand_in.clone(),
            })
            .collect();
        let counts = store::create_tasks(
            &mut tx,
            &NoticeTasks {
                tiers: &tiers,
                id_prefix: priority_notices::task_id_prefix(resource_name::new_id()),
                rule_key: format!("notice:{id}"),
                rule: format!("priority notice ({}): {}", notice.channel, notice.title),
                channel: notice.channel.as_str(),
                due_date: notice.due_date,
                covers: &covers,
            },
            &reach,
            &caller.subject,
            now,
        )
        .await?;
        let row = NoticeRow {
            id,
            title: notice.title,
            body: notice.text,
            tiers: notice.tiers,
            channel: notice.channel.as_str().to_owned(),
            due_date: notice.due_date,
            issued_by: caller.subject.clone(),
            issued_at: now,
            counted_tiers: counts.iter().map(|(t, _)| t.clone()).collect(),
            tier_tasks: counts.iter().map(|(_, n)| *n).collect(),
        };
        store::insert(&mut tx, &row).await?;
        let event = pb::PriorityNoticeIssued {
            priority_notice: resource_name::format("priorityNotices", id),
            title: row.title.clone(),
            issued_by: staff_name(&row.issued_by),
            due_date: Some(wire_date(row.due_date)),
            tier_tasks: counts
                .iter()
                .map(|(tier, tasks)| pb::TierNotices {
                    tier: tier.clone(),
                    tasks: *tasks,
                })
                .collect(),
        };
        events::enqueue(&mut tx, "", &event, now).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// A notice; anyone who may issue notices reads any (it names no
    /// customer).
    pub async fn priority_notice(&self, id: Uuid) -> Result<NoticeRow, ServiceError> {
        let mut conn = self.pool.acquire().await?;
        store::get(&mut conn, id)
            .await?
            .ok_or_else(|| ServiceError::not_found(resource_name::format("priorityNotices", id)))
    }
}
