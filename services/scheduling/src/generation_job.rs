//! The generation job: plans each customer's contacts over the policy's
//! horizon, hands a manager's tasks to their stand-in when a leave starts
//! and back when it has ended, and announces tasks that fell overdue,
//! escalating each to the group lead above its assignee.
//! Every replica runs it; each pass claims its customers (the `planning`
//! rows) and leaves with `FOR UPDATE SKIP LOCKED`, so none is handled by two
//! replicas at once, and every planned task is inserted with
//! `ON CONFLICT DO NOTHING` on (customer, rule, planned day), so a task is
//! created once however often its customer is planned. A task of a role a
//! unit holds goes to the holder for the customer's unit or the nearest
//! unit above it (`domain::role_holders`), else to the account manager.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use futures::future::BoxFuture;
use patron_kit::clock::SharedClock;
use patron_kit::directory::announced::{self, Loaded};
use patron_kit::metrics::{Due, DueWork};
use patron_kit::{ServiceError, events, resource_name};
use patron_proto::common::v1::Date;
use patron_proto::scheduling::v1 as pb;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::domain::leave::{self, TaskRef};
use crate::domain::plan::{self, Contact, Customer};
use crate::domain::policy::{Channel, NEW_CUSTOMER_RULE};
use crate::domain::role_holders;
use crate::policy_source::{Policies, SchedulingSection};
use crate::store::care as care_store;
use crate::store::leaves::{self, HandoverRow, LeaveRow};
use crate::store::role_holders as holders_store;
use crate::store::tasks::{self, NewTask, TaskRow};

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    /// Customers planned.
    pub planned: u64,
    /// Tasks created.
    pub created: u64,
    /// Tasks handed over or back for leaves.
    pub handed: u64,
    /// Tasks announced overdue.
    pub overdue: u64,
}

/// Customers (or leaves, or overdue tasks) one transaction of a pass takes:
/// enough that a batch's few statements carry many rows, few enough that
/// the claimed planning rows are not held long.
pub const BATCH: i64 = 500;

/// The leaves in force on a day, as stored (a handover record names its
/// leave) and as the domain reads them (who gets a new task), read once for
/// all the tasks a transaction creates.
pub struct ActiveLeaves {
    pub rows: Vec<LeaveRow>,
    pub leaves: Vec<leave::Leave>,
}

impl ActiveLeaves {
    pub async fn on(tx: &mut PgConnection, day: NaiveDate) -> Result<Self, ServiceError> {
        let rows = leaves::covering(tx, day).await?;
        let leaves = rows.iter().map(LeaveRow::leave).collect();
        Ok(Self { rows, leaves })
    }
}

/// The day `at` falls on in the company's zone.
pub fn local_day(at: DateTime<Utc>, zone: Tz) -> NaiveDate {
    at.with_timezone(&zone).date_naive()
}

/// One pass over everything due by now, `batch` rows per transaction.
pub async fn run_once(
    pool: &PgPool,
    policies: &Policies,
    clock: &SharedClock,
    zone: Tz,
    batch: i64,
) -> Result<Pass, ServiceError> {
    let mut pass = Pass::default();
    let loaded = policies.current().await?;
    let policy = &loaded.value.policy;
    // Leaves first, so tasks planned today see who covers whom.
    loop {
        let now = clock.now();
        let today = local_day(now, zone);
        let mut tx = pool.begin().await?;
        let due = leaves::claim_due(&mut tx, today).await?;
        for row in &due {
            pass.handed += leave_step(&mut tx, row, today, now).await?;
        }
        tx.commit().await?;
        if due.is_empty() {
            break;
        }
    }
    loop {
        let now = clock.now();
        let today = local_day(now, zone);
        let until = policy.horizon.after(today);
        let mut tx = pool.begin().await?;
        holders_store::lock(&mut tx, false).await?;
        let claimed = tasks::claim_due(&mut tx, until, loaded.activation, now, batch).await?;
        if claimed.is_empty() {
            break;
        }
        let active = ActiveLeaves::on(&mut tx, today).await?;
        pass.created +=
            plan_customers(&mut tx, &loaded, &claimed, &active, today, until, now, zone).await?;
        pass.planned += claimed.len() as u64;
        tx.commit().await?;
        if (claimed.len() as i64) < batch {
            break;
        }
    }
    loop {
        let now = clock.now();
        let today = local_day(now, zone);
        let mut tx = pool.begin().await?;
        let overdue = tasks::claim_overdue(&mut tx, today, batch).await?;
        for task in &overdue {
            let customer = resource_name::format("customers", task.customer_id);
            let lead = crate::escalation::escalate(&mut tx, task, now).await?;
            let event = pb::TaskOverdue {
                task: resource_name::format("tasks", task.id),
                customer: customer.clone(),
                assignee: staff_name(&task.assignee),
                due_date: Some(wire_date(task.due_date)),
                escalated_to: lead.map(|l| staff_name(&l.lead)).unwrap_or_default(),
            };
            events::enqueue(&mut tx, &customer, &event, now).await?;
            tasks::mark_overdue_announced(&mut tx, task.id).await?;
            pass.overdue += 1;
        }
        tx.commit().await?;
        if (overdue.len() as i64) < batch {
            break;
        }
    }
    Ok(pass)
}

/// `staff/{id}`, or empty for nobody.
pub fn staff_name(id: &str) -> String {
    if id.is_empty() {
        String::new()
    } else {
        format!("staff/{id}")
    }
}

pub fn wire_date(day: NaiveDate) -> Date {
    use chrono::Datelike;
    Date {
        year: day.year(),
        month: day.month() as i32,
        day: day.day() as i32,
    }
}

/// The rule of a planned task, in words (who does it is added by its
/// route).
fn rule_words(task: &plan::Task) -> String {
    if task.rule == NEW_CUSTOMER_RULE {
        return format!(
            "new-customer follow-up by {} ({}), on time until {}",
            task.role, task.channel, task.latest
        );
    }
    format!("{} by {} ({})", task.channel, task.role, task.rule)
}

/// Plans a batch of claimed customers: inserts the tasks their plans have
/// and the store lacks, cancels the open ones the plans no longer have (a
/// contact moved the cadence on), plans their care, and records them as
/// planned up to `until`. What the cadence needs is read, and what it
/// decides written, in one statement each for the whole batch.
#[allow(clippy::too_many_arguments)]
async fn plan_customers(
    tx: &mut PgConnection,
    loaded: &Loaded<SchedulingSection>,
    claimed: &[tasks::Claimed],
    active: &ActiveLeaves,
    today: NaiveDate,
    until: NaiveDate,
    now: DateTime<Utc>,
    zone: Tz,
) -> Result<u64, ServiceError> {
    let policy = &loaded.value.policy;
    let ids: Vec<Uuid> = claimed.iter().map(|c| c.customer_id).collect();
    let tiers = announced::tiers_of(&mut *tx, &ids).await?;
    let mut contacts: HashMap<Uuid, Vec<Contact>> = HashMap::new();
    for c in tasks::contacts_of(&mut *tx, &ids).await? {
        let Some(channel) = Channel::parse(&c.channel) else {
            continue;
        };
        contacts.entry(c.customer_id).or_default().push(Contact {
            on: local_day(c.contact_time, zone),
            channel,
            role: c.role.filter(|r| !r.is_empty()),
            rule: c.rule_key,
        });
    }
    let open = tasks::open_of(&mut *tx, &ids).await?;
    let mut overdue: HashMap<Uuid, Vec<&str>> = HashMap::new();
    for (customer, rule) in tasks::overdue_rules(&open, today) {
        overdue.entry(customer).or_default().push(rule);
    }
    let mut dates = care_store::dates_of(&mut *tx, &ids).await?;
    let mut care_planned = care_store::planned_from(&mut *tx, &ids, today).await?;
    let mut units: Vec<String> = claimed
        .iter()
        .flat_map(|c| c.org_unit_path.iter().cloned())
        .collect();
    units.sort_unstable();
    units.dedup();
    let holders = holders_store::of_units(&mut *tx, &units).await?;
    let mut new = Vec::new();
    let mut handovers = HashMap::new();
    let mut care = crate::care::CareBatch::default();
    let mut created = 0;
    for customer in claimed {
        let id = customer.customer_id;
        let tier = tiers.get(&id).cloned().unwrap_or_default();
        let planned = plan::plan_until(
            policy,
            Customer {
                tier: (!tier.is_empty()).then_some(tier.as_str()),
                rank: None,
                created: customer.first_seen,
            },
            contacts.get(&id).map(Vec::as_slice).unwrap_or_default(),
            today,
            until,
        );
        // A rule with an overdue open task keeps it as its first contact
        // due: the plan's first task of that rule (due today at the latest)
        // is it.
        let mut overdue = overdue.remove(&id).unwrap_or_default();
        for task in planned.iter().filter(|t| {
            if let Some(at) = overdue.iter().position(|r| *r == t.rule) {
                overdue.swap_remove(at);
                return false;
            }
            true
        }) {
            let task_id = resource_name::new_id();
            let route = role_holders::route(
                &task.role,
                &customer.org_unit_path,
                &customer.account_manager,
                &holders,
            );
            let (assignee, handover) = leave::assign_new_task(
                &task_id.to_string(),
                route.assignee(),
                today,
                &active.leaves,
                now,
            );
            new.push(NewTask {
                id: task_id,
                customer_id: id,
                kind: if task.rule == NEW_CUSTOMER_RULE {
                    "new_customer"
                } else {
                    "cadence"
                },
                rule_key: task.rule.clone(),
                rule: route.words(&rule_words(task), &task.role),
                role: task.role.clone(),
                channel: task.channel.as_str().to_owned(),
                tier: tier.clone(),
                assignee,
                handed_over_from: handover.as_ref().map(|h| h.from.clone()),
                due_date: task.due,
                latest_date: task.latest,
                role_unit: route.unit().map(str::to_owned),
            });
            if let Some(handover) = handover {
                handovers.insert(task_id, handover);
            }
        }
        crate::care::plan(
            &mut *tx,
            policy,
            customer,
            &tier,
            &dates.remove(&id).unwrap_or_default(),
            &care_planned.remove(&id).unwrap_or_default(),
            active,
            today,
            until,
            now,
            &mut care,
        )
        .await?;
    }
    created += care.write(&mut *tx, active, today, now).await?;
    let keep: Vec<tasks::Planned> = new
        .iter()
        .map(|task| tasks::Planned {
            customer_id: task.customer_id,
            rule_key: &task.rule_key,
            day: task.due_date,
            channel: &task.channel,
            role: &task.role,
        })
        .collect();
    tasks::cancel_unplanned(&mut *tx, &open, today, &keep).await?;
    let inserted = tasks::insert_planned(&mut *tx, &new, now).await?;
    created += inserted.len() as u64;
    for task_id in inserted {
        if let Some(handover) = handovers.remove(&task_id) {
            record_new_handover(&mut *tx, handover, task_id, &active.rows, today, now).await?;
        }
    }
    Ok(created)
}

/// Records that a task just created for a manager on leave went to their
/// stand-in (`leave::assign_new_task` chose it).
pub(crate) async fn record_new_handover(
    tx: &mut PgConnection,
    handover: leave::Handover,
    task_id: Uuid,
    active_leaves: &[LeaveRow],
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    let Some(leave) = active_leaves
        .iter()
        .find(|l| l.staff_member == handover.from && l.leave().covers(today))
    else {
        return Ok(());
    };
    leaves::insert_handover(
        tx,
        &HandoverRow {
            leave_id: leave.id,
            task_id,
            from_staff: handover.from,
            to_staff: handover.to,
            direction: "to_cover".into(),
            at: now,
        },
    )
    .await
}

fn task_ref(row: &TaskRow) -> TaskRef {
    TaskRef {
        id: row.id.to_string(),
        assignee: row.assignee.clone(),
        due: row.due_date,
        open: row.state == "open",
    }
}

/// A leave that has started hands the manager's due tasks to the stand-in;
/// one that has ended hands back what the stand-in still holds. The number
/// of tasks moved.
pub async fn leave_step(
    tx: &mut PgConnection,
    row: &LeaveRow,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Result<u64, ServiceError> {
    let leave = row.leave();
    let mut moved = 0;
    let mut handed_over = row.handed_over;
    if !handed_over && leave.from <= today {
        if leave.to >= today {
            let open = tasks::lock_open_of(&mut *tx, &leave.manager).await?;
            let refs: Vec<TaskRef> = open.iter().map(task_ref).collect();
            for h in leave::hand_over(&leave, &refs, now) {
                let Ok(task) = h.task.parse::<Uuid>() else {
                    continue;
                };
                tasks::move_task(&mut *tx, task, &h.to, Some(&h.from)).await?;
                record(&mut *tx, row.id, task, &h.from, &h.to, "to_cover", now).await?;
                moved += 1;
            }
        }
        handed_over = true;
    }
    let mut returned = row.returned;
    if !returned && leave.to < today {
        let records = leaves::handovers(&mut *tx, &[row.id]).await?;
        let ids: Vec<Uuid> = records.iter().map(|r| r.task_id).collect();
        let rows = tasks::lock_many(&mut *tx, &ids).await?;
        let refs: Vec<TaskRef> = rows.iter().map(task_ref).collect();
        let domain_records: Vec<_> = records.iter().map(HandoverRow::handover).collect();
        for h in leave::hand_back(&leave, &domain_records, &refs, now) {
            let Ok(task) = h.task.parse::<Uuid>() else {
                continue;
            };
            tasks::move_task(&mut *tx, task, &h.to, None).await?;
            record(&mut *tx, row.id, task, &h.from, &h.to, "back", now).await?;
            moved += 1;
        }
        returned = true;
    }
    leaves::mark(&mut *tx, row.id, handed_over, returned).await?;
    Ok(moved)
}

async fn record(
    tx: &mut PgConnection,
    leave_id: Uuid,
    task_id: Uuid,
    from: &str,
    to: &str,
    direction: &str,
    at: DateTime<Utc>,
) -> Result<(), ServiceError> {
    leaves::insert_handover(
        tx,
        &HandoverRow {
            leave_id,
            task_id,
            from_staff: from.to_owned(),
            to_staff: to.to_owned(),
            direction: direction.to_owned(),
            at,
        },
    )
    .await
}

/// Generation's backlog for the metrics: live customers whose plan does not
/// reach the policy's horizon yet, or was made under an earlier activation
/// of the policy (what the job claims). A plan falls short when the day
/// turns, so the oldest is taken as due since the day began.
pub struct GenerationBacklog {
    pub policies: Policies,
    pub clock: SharedClock,
    pub zone: Tz,
}

impl DueWork for GenerationBacklog {
    fn job(&self) -> &'static str {
        "scheduling_generation"
    }

    fn due<'a>(&'a self, pool: &'a PgPool) -> BoxFuture<'a, anyhow::Result<Due>> {
        Box::pin(async move {
            let loaded = self.policies.current().await?;
            let now = self.clock.now();
            let today = local_day(now, self.zone);
            let until = loaded.value.policy.horizon.after(today);
            let items: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM planning p JOIN customer_facts f ON f.customer_id = p.customer_id
                  WHERE (p.planned_until < $1 OR p.planned_under < $2)
                    AND f.deleted_at IS NULL AND f.exited_at IS NULL",
            )
            .bind(until)
            .bind(loaded.activation)
            .fetch_one(pool)
            .await?;
            Ok(Due {
                items,
                oldest: since_day_began(items, now, today, self.zone),
            })
        })
    }
}

/// Announcing tasks that fell overdue, for the metrics: open tasks due
/// before today not yet announced, each overdue since the day after its
/// due date began.
pub struct OverdueNoticeBacklog {
    pub clock: SharedClock,
    pub zone: Tz,
}

impl DueWork for OverdueNoticeBacklog {
    fn job(&self) -> &'static str {
        "scheduling_overdue_notices"
    }

    fn due<'a>(&'a self, pool: &'a PgPool) -> BoxFuture<'a, anyhow::Result<Due>> {
        Box::pin(async move {
            let now = self.clock.now();
            let today = local_day(now, self.zone);
            let (items, earliest): (i64, Option<NaiveDate>) = sqlx::query_as(
                "SELECT count(*), min(due_date) FROM tasks
                  WHERE state = 'open' AND NOT overdue_announced AND due_date < $1",
            )
            .bind(today)
            .fetch_one(pool)
            .await?;
            let oldest = earliest
                .and_then(|day| day.succ_opt())
                .and_then(|day| patron_vocab::calendar::start_of_day(day, &self.zone))
                .and_then(|since| (now - since).to_std().ok())
                .unwrap_or_default();
            Ok(Due { items, oldest })
        })
    }
}

/// How long work due since `today` began has waited (none when none waits).
fn since_day_began(items: i64, now: DateTime<Utc>, today: NaiveDate, zone: Tz) -> Duration {
    if items == 0 {
        return Duration::ZERO;
    }
    patron_vocab::calendar::start_of_day(today, &zone)
        .and_then(|start| (now - start).to_std().ok())
        .unwrap_or_default()
}

/// Runs [`run_once`] every `pause` until shutdown; errors are logged and the
/// next pass tries again.
pub fn spawn(
    pool: PgPool,
    policies: Policies,
    clock: SharedClock,
    zone: Tz,
    pause: Duration,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match run_once(&pool, &policies, &clock, zone, BATCH).await {
                Ok(pass) if pass == Pass::default() => {}
                Ok(pass) => tracing::info!(?pass, "scheduling generation pass"),
                Err(ServiceError::FailedPrecondition(_)) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "the scheduling generation pass failed; retrying")
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(pause) => {}
            }
        }
    })
}
