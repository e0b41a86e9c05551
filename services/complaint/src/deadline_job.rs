//! The deadline job: warns before a stage's deadline and escalates after it.
//! Every replica runs it; each pass claims the complaints whose alarm is due
//! with `FOR UPDATE SKIP LOCKED`, so no complaint is handled by two replicas
//! at once, and a replica that dies mid-pass releases its claims with its
//! connection. The alarm, its timeline line and ComplaintEscalated commit
//! together, so an escalation is published exactly once.

use std::time::Duration;

use futures::future::BoxFuture;
use patron_kit::clock::SharedClock;
use patron_kit::metrics::{Due, DueWork};
use patron_kit::{ServiceError, events, timestamp};
use patron_proto::complaint::v1 as pb;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::domain::handling::Fired;
use crate::grpc::view;
use crate::policy_source::Policies;
use crate::store::complaints;

/// Who the timeline names for the job's lines.
pub const JOB_ACTOR: &str = "complaint-deadlines";

/// One pass: fires every alarm due by now, `batch` complaints per
/// transaction. Returns how many alarms fired.
pub async fn run_once(
    pool: &PgPool,
    policies: &Policies,
    clock: &SharedClock,
    batch: i64,
) -> Result<u64, ServiceError> {
    let mut fired_total = 0;
    loop {
        let now = clock.now();
        let loaded = policies.current().await?;
        let policy = &loaded.value.policy;
        let mut tx = pool.begin().await?;
        let rows = complaints::lock_due_alarms(&mut tx, now, batch).await?;
        let claimed = rows.len() as i64;
        for mut row in rows {
            let mut handling = row.handling();
            let fired = handling.fire_alarm(now, policy, &row.handler_unit_path);
            if let Some((fired, step)) = &fired {
                complaints::append_timeline(
                    &mut tx,
                    row.id,
                    std::slice::from_ref(step),
                    JOB_ACTOR,
                    now,
                )
                .await?;
                if let Fired::Escalated {
                    stage,
                    level,
                    unit,
                    due_at,
                } = fired
                {
                    let customer =
                        patron_kit::resource_name::format("customers", row.intake.customer_id);
                    let event = pb::ComplaintEscalated {
                        complaint: view::complaint_name(row.id),
                        customer: customer.clone(),
                        stage: view::state_to_wire(*stage) as i32,
                        level: *level,
                        org_unit: unit
                            .as_deref()
                            .map(|u| format!("orgUnits/{u}"))
                            .unwrap_or_default(),
                        due_time: Some(timestamp::to_proto(*due_at)),
                    };
                    events::enqueue(&mut tx, &customer, &event, now).await?;
                }
                fired_total += 1;
            }
            row.apply(&handling);
            // An alarm that did not fire (the policy changed, say) is looked
            // at again when it falls due. After an escalation the next level
            // waits a full interval from now, so a complaint found far past
            // its deadline climbs one level per interval, not all at once.
            let mut next = handling.next_alarm(policy).map(|a| a.at());
            if matches!(fired, Some((Fired::Escalated { .. }, _))) {
                next = next.map(|at| at.max(now + policy.escalation.every));
            }
            complaints::update(&mut tx, &row, next, now).await?;
        }
        tx.commit().await?;
        if claimed < batch {
            return Ok(fired_total);
        }
    }
}

/// Runs [`run_once`] every `pause` until shutdown; errors are logged and the
/// next pass tries again.
/// The deadline job's backlog for the metrics: alarms due by now and not
/// yet fired, and how long the oldest has been due. Deadlines being missed
/// show here first (the job is stopped, or cannot keep up).
pub struct DeadlineBacklog {
    pub clock: SharedClock,
}

impl DueWork for DeadlineBacklog {
    fn job(&self) -> &'static str {
        "complaint_deadlines"
    }

    fn due<'a>(&'a self, pool: &'a PgPool) -> BoxFuture<'a, anyhow::Result<Due>> {
        Box::pin(async move {
            let (items, oldest): (i64, f64) = sqlx::query_as(
                "SELECT count(*),
                        coalesce(extract(epoch FROM $1 - min(next_alarm_at)), 0)::float8
                   FROM complaints WHERE next_alarm_at <= $1",
            )
            .bind(self.clock.now())
            .fetch_one(pool)
            .await?;
            Ok(Due {
                items,
                oldest: Duration::from_secs_f64(oldest.max(0.0)),
            })
        })
    }
}

pub fn spawn(
    pool: PgPool,
    policies: Policies,
    clock: SharedClock,
    pause: Duration,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match run_once(&pool, &policies, &clock, 200).await {
                Ok(0) => {}
                Ok(fired) => tracing::info!(fired, "complaint deadline alarms fired"),
                Err(ServiceError::FailedPrecondition(_)) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "the complaint deadline pass failed; retrying")
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(pause) => {}
            }
        }
    })
}
