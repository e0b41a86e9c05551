//! Scheduling: who in each branch holds the roles the policy's contact
//! rules name, the month of tasks the scheduler plans from the tiers, and
//! contacts logged against some of them and before them.

use std::collections::HashMap;
use std::time::Duration;

use patron_proto::common::v1::Date;
use patron_proto::scheduling::v1 as pb;
use patron_proto::scheduling::v1::scheduling_service_client::SchedulingServiceClient;
use tonic::Code;

use super::Target;
use super::calls::retrying;
use super::calls::{ADMIN, Actor, once_settled, refused};
use super::plan::{self, Customer};

/// Names, in every branch, a holder for each role the policy names
/// (`roles`); how many holdings were set.
pub async fn set_role_holders(target: &Target, roles: &[&str]) -> anyhow::Result<usize> {
    let client = SchedulingServiceClient::new(target.scheduling.clone());
    let mut set = 0;
    for branch in plan::branches() {
        for role in roles {
            let message = pb::SetRoleHolderRequest {
                org_unit: format!("orgUnits/{}", branch.id),
                role: (*role).to_owned(),
                holder: format!("staff/{}", plan::holder_of(role, branch.id)),
            };
            // Until scheduling has heard of the policy just activated (the
            // role is not yet one it names) and of the holder (not found).
            once_settled(
                format!("name the {role} of {}", branch.id),
                &[Code::InvalidArgument, Code::NotFound],
                Duration::from_secs(60),
                || {
                    let mut client = client.clone();
                    let request = target.signed(ADMIN, message.clone());
                    async move { client.set_role_holder(request).await }
                },
            )
            .await?;
            set += 1;
        }
    }
    Ok(set)
}

/// Every task the scheduler has planned so far.
pub async fn tasks(target: &Target) -> anyhow::Result<Vec<pb::Task>> {
    let mut client = SchedulingServiceClient::new(target.scheduling.clone());
    let mut tasks = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = retrying!(
            client,
            list_tasks,
            target,
            ADMIN,
            pb::ListTasksRequest {
                page_size: 500,
                page_token: page_token.clone(),
                ..Default::default()
            }
        )
        .map_err(|s| refused("list the tasks", s))?
        .into_inner();
        tasks.extend(page.tasks);
        if page.next_page_token.is_empty() {
            return Ok(tasks);
        }
        page_token = page.next_page_token;
    }
}

/// Waits until the scheduler has planned tasks and stopped adding to them
/// (the same count for `settle`, a generation pass at least); the tasks.
pub async fn planned_tasks(
    target: &Target,
    settle: Duration,
    patience: Duration,
) -> anyhow::Result<Vec<pb::Task>> {
    let started = std::time::Instant::now();
    let mut last = usize::MAX;
    let mut steady_since = std::time::Instant::now();
    loop {
        let tasks = tasks(target).await?;
        if tasks.len() != last {
            last = tasks.len();
            steady_since = std::time::Instant::now();
        } else if last > 0 && steady_since.elapsed() >= settle {
            return Ok(tasks);
        }
        if started.elapsed() >= patience + settle {
            anyhow::bail!(
                "the scheduler planned {last} tasks and did not settle within {} s",
                patience.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The staff member's token role, by id.
fn role_of(staff_id: &str) -> &'static str {
    plan::staff()
        .iter()
        .find(|s| s.id == staff_id)
        .map_or("account_manager", |s| s.duty.token_role())
}

fn date_key(d: Option<&Date>) -> (i32, i32, i32) {
    d.map_or((0, 0, 0), |d| (d.year, d.month, d.day))
}

/// Logs a contact against every fourth open task (soonest due first, by
/// the customer's archive number within a day), one per customer, as the
/// task's assignee; how many.
pub async fn close_tasks(
    target: &Target,
    tasks: &[pb::Task],
    customers: &[(Customer, String)],
) -> anyhow::Result<usize> {
    let mut client = SchedulingServiceClient::new(target.scheduling.clone());
    let archive_of: HashMap<&str, &str> = customers
        .iter()
        .map(|(c, name)| (name.as_str(), c.archive_number.as_str()))
        .collect();
    let mut open: Vec<&pb::Task> = tasks
        .iter()
        .filter(|t| t.state == pb::TaskState::Open as i32)
        .collect();
    open.sort_by_key(|t| {
        (
            date_key(t.due_date.as_ref()),
            archive_of.get(t.customer.as_str()).copied().unwrap_or(""),
            t.kind,
            t.role.clone(),
        )
    });
    let mut closed = 0;
    let mut contacted = std::collections::HashSet::new();
    for task in open.iter().step_by(4) {
        // One contact per customer: a contact re-plans the customer's
        // cadence, which may cancel their other open tasks.
        if !contacted.insert(task.customer.as_str()) {
            continue;
        }
        let assignee = task
            .assignee
            .strip_prefix("staff/")
            .unwrap_or(&task.assignee);
        let actor = Actor {
            subject: assignee,
            role: role_of(assignee),
        };
        let message = pb::LogContactRequest {
            contact_log: Some(pb::ContactLog {
                customer: task.customer.clone(),
                task: task.name.clone(),
                channel: task.channel,
                summary: "按计划联系，客户反馈良好".into(),
                ..Default::default()
            }),
            // One contact per task, however often the call is made.
            request_id: super::rng::Rng::part(0, &task.name).uuid().to_string(),
        };
        match retrying!(client, log_contact, target, actor, message) {
            Ok(_) => closed += 1,
            // The scheduler re-planned the customer since the tasks were
            // read (a tier decided late, a top-customer rank): a task no
            // longer open is passed over; any other refusal stops the demo.
            Err(status) if status.code() == Code::FailedPrecondition => {
                let now = retrying!(
                    client,
                    get_task,
                    target,
                    ADMIN,
                    pb::GetTaskRequest {
                        name: task.name.clone()
                    }
                )
                .map_err(|s| refused(format!("read {}", task.name), s))?
                .into_inner();
                if now.state == pb::TaskState::Open as i32 {
                    return Err(refused(
                        format!("log a contact for {} as {assignee}", task.name),
                        status,
                    ));
                }
            }
            Err(status) => {
                return Err(refused(
                    format!("log a contact for {} as {assignee}", task.name),
                    status,
                ));
            }
        }
    }
    Ok(closed)
}

/// Logs the contacts customers had in the past month, before any task, as
/// their account manager; how many.
pub async fn log_earlier_contacts(
    target: &Target,
    customers: &[(Customer, String)],
) -> anyhow::Result<usize> {
    let client = SchedulingServiceClient::new(target.scheduling.clone());
    let mut logged = 0;
    for (customer, name) in customers {
        let Some(at) = customer.past_contact else {
            continue;
        };
        let actor = Actor {
            subject: &customer.manager,
            role: "account_manager",
        };
        let message = pb::LogContactRequest {
            contact_log: Some(pb::ContactLog {
                customer: name.to_owned(),
                channel: pb::ContactChannel::Phone as i32,
                contact_time: Some(patron_kit::timestamp::to_proto(at)),
                summary: "电话回访，了解近期使用情况".into(),
                ..Default::default()
            }),
            request_id: customer.request_id.to_string(),
        };
        // Until scheduling has heard of the customer and their manager.
        once_settled(
            format!("log an earlier contact with {}", customer.archive_number),
            &[Code::NotFound, Code::PermissionDenied],
            Duration::from_secs(60),
            || {
                let mut client = client.clone();
                let request = target.signed(actor, message.clone());
                async move { client.log_contact(request).await }
            },
        )
        .await?;
        logged += 1;
    }
    Ok(logged)
}
