//! Naming and removing who holds a role of the cadence for a unit (the
//! rule is `domain::role_holders`). A change moves the open tasks the old
//! holding gave someone, not yet due before today, to whom the new one
//! gives them, at once and in the change's transaction, with its
//! RoleHolderChanged event: the new holder sees their tasks as soon as the
//! call returns, the caller learns how many moved, and the generation job,
//! which only ever inserts tasks, never has to look at existing ones
//! again. The holders' lock (`store::role_holders::lock`) keeps a
//! generation batch from planning by holders that change under it.

use chrono::{DateTime, NaiveDate, Utc};
use patron_kit::auth::Caller;
use patron_kit::{ServiceError, directory, events};
use patron_proto::scheduling::v1 as pb;
use sqlx::PgConnection;

use crate::domain::leave::{self, Leave};
use crate::domain::role_holders::{self, HeldTask};
use crate::generation_job::{record_new_handover, staff_name};
use crate::scheduling::Scheduling;
use crate::store::leaves::{self, LeaveRow};
use crate::store::role_holders::{self as store, RoleHolderRow, TaskMove};

/// Tasks locked and moved per statement.
const MOVE_CHUNK: usize = 2000;

/// What a change did.
#[derive(Debug, Clone)]
pub struct RoleHolderChange {
    /// The holding as it stands now; for a removal, as it stood.
    pub row: RoleHolderRow,
    /// Who held the role for the unit before; `None` for nobody.
    pub previous: Option<String>,
    /// Open tasks that changed hands.
    pub moved: u64,
}

/// `orgUnits/{unit}/roleHolders/{role}`.
pub fn role_holder_name(unit: &str, role: &str) -> String {
    format!("orgUnits/{unit}/roleHolders/{role}")
}

/// The path of `unit` (unit ids from the company down) when `staff` sits in
/// it or below it and the caller reaches it: what naming a unit's group
/// lead and naming a unit's role holder both check.
pub(crate) async fn appointee_unit_path(
    conn: &mut PgConnection,
    caller: &Caller,
    unit: &str,
    staff: &str,
) -> Result<Vec<String>, ServiceError> {
    let placement = directory::store::staff_placement(&mut *conn, staff)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("staff/{staff}")))?;
    let Some(depth) = placement.unit_path.iter().position(|u| u == unit) else {
        return Err(ServiceError::FailedPrecondition(format!(
            "staff/{staff} sits in orgUnits/{}, which is not orgUnits/{unit} or below it",
            placement.unit
        )));
    };
    let path = placement.unit_path[..=depth].to_vec();
    check_reach(conn, caller, unit, &path).await?;
    Ok(path)
}

async fn check_reach(
    conn: &mut PgConnection,
    caller: &Caller,
    unit: &str,
    path: &[String],
) -> Result<(), ServiceError> {
    let reach = directory::store::reach_of(conn, caller).await?;
    if !reach.covers_unit(path) {
        return Err(ServiceError::PermissionDenied(format!(
            "orgUnits/{unit} is outside your unit's subtree"
        )));
    }
    Ok(())
}

impl Scheduling {
    /// Names `holder` (placed in `unit` or below it) the unit's holder of
    /// `role`, a role the policy's rules name; their tasks follow.
    pub async fn set_role_holder(
        &self,
        caller: &Caller,
        unit: &str,
        role: &str,
        holder: &str,
    ) -> Result<RoleHolderChange, ServiceError> {
        let loaded = self.policies.current().await?;
        role_holders::check_role(&loaded.value.policy, role)
            .map_err(|why| ServiceError::invalid("role", why))?;
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        store::lock(&mut tx, true).await?;
        let path = appointee_unit_path(&mut tx, caller, unit, holder).await?;
        let previous = store::lock_one(&mut tx, unit, role).await?;
        if let Some(same) = previous.as_ref().filter(|p| p.holder == holder) {
            // Named again: nothing changes, nothing moves.
            let row = same.clone();
            tx.commit().await?;
            return Ok(RoleHolderChange {
                previous: Some(row.holder.clone()),
                row,
                moved: 0,
            });
        }
        let previous = previous.map(|p| p.holder);
        let row = RoleHolderRow {
            org_unit: unit.to_owned(),
            role: role.to_owned(),
            holder: holder.to_owned(),
            org_unit_path: path,
            set_by: caller.subject.clone(),
            set_at: now,
        };
        store::put(&mut tx, &row).await?;
        let change = RoleHolderChange {
            moved: move_tasks(&mut tx, unit, role, previous.as_deref(), self.today(), now).await?,
            row,
            previous,
        };
        announce(&mut tx, &change, Some(holder), &caller.subject, now).await?;
        tx.commit().await?;
        Ok(change)
    }

    /// Leaves `unit` without a holder of `role`; their tasks go to the
    /// holder for the nearest unit above, else to each customer's account
    /// manager.
    pub async fn remove_role_holder(
        &self,
        caller: &Caller,
        unit: &str,
        role: &str,
    ) -> Result<RoleHolderChange, ServiceError> {
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        store::lock(&mut tx, true).await?;
        let row = store::lock_one(&mut tx, unit, role)
            .await?
            .ok_or_else(|| ServiceError::not_found(role_holder_name(unit, role)))?;
        check_reach(&mut tx, caller, unit, &row.org_unit_path).await?;
        store::delete(&mut tx, unit, role).await?;
        let change = RoleHolderChange {
            moved: move_tasks(&mut tx, unit, role, Some(&row.holder), self.today(), now).await?,
            previous: Some(row.holder.clone()),
            row,
        };
        announce(&mut tx, &change, None, &caller.subject, now).await?;
        tx.commit().await?;
        Ok(change)
    }
}

async fn announce(
    tx: &mut PgConnection,
    change: &RoleHolderChange,
    holder: Option<&str>,
    by: &str,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    let name = role_holder_name(&change.row.org_unit, &change.row.role);
    let event = pb::RoleHolderChanged {
        role_holder: name.clone(),
        org_unit: format!("orgUnits/{}", change.row.org_unit),
        role: change.row.role.clone(),
        holder: holder.map(staff_name).unwrap_or_default(),
        previous_holder: change
            .previous
            .as_deref()
            .map(staff_name)
            .unwrap_or_default(),
        tasks_moved: i64::try_from(change.moved).unwrap_or(i64::MAX),
        changed_by: staff_name(by),
    };
    events::enqueue(tx, &name, &event, now).await?;
    Ok(())
}

/// Moves the open tasks of `role` for customers in `unit`'s subtree, due
/// from `today` on, whose route changed now that the unit's holder is no
/// longer `before` (`None`: nobody): each goes where the holders now send
/// it, to a stand-in when that person is on leave (recorded, as for a task
/// planned during the leave). The number that changed hands.
async fn move_tasks(
    tx: &mut PgConnection,
    unit: &str,
    role: &str,
    before: Option<&str>,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Result<u64, ServiceError> {
    let ids = store::open_tasks_under(&mut *tx, unit, role, today).await?;
    if ids.is_empty() {
        return Ok(0);
    }
    let active: Vec<LeaveRow> = leaves::not_over(&mut *tx, today)
        .await?
        .into_iter()
        .filter(|l| l.leave().covers(today))
        .collect();
    let domain_leaves: Vec<Leave> = active.iter().map(LeaveRow::leave).collect();
    let mut moved = 0;
    for chunk in ids.chunks(MOVE_CHUNK) {
        let tasks = store::lock_tasks(&mut *tx, chunk).await?;
        let mut units: Vec<String> = tasks
            .iter()
            .flat_map(|t| t.org_unit_path.iter().cloned())
            .collect();
        units.sort_unstable();
        units.dedup();
        let after = store::of_units(&mut *tx, &units).await?;
        let mut was = after.clone();
        was.set(unit, role, before);
        let mut moves = Vec::new();
        let mut handovers = Vec::new();
        for task in &tasks {
            let route = |holders| {
                role_holders::route(role, &task.org_unit_path, &task.account_manager, holders)
            };
            let held = HeldTask {
                assignee: &task.assignee,
                handed_over_from: task.handed_over_from.as_deref(),
            };
            let Some(change) = role_holders::reroute(held, &route(&was), &route(&after)) else {
                continue;
            };
            let rule = change
                .route
                .words(role_holders::base_words(&task.rule), role);
            let role_unit = change.route.unit().map(str::to_owned);
            if !change.changes_hands {
                moves.push(TaskMove {
                    id: task.id,
                    assignee: task.assignee.clone(),
                    handed_over_from: task.handed_over_from.clone(),
                    role_unit,
                    rule,
                });
                continue;
            }
            let (assignee, handover) = leave::assign_new_task(
                &task.id.to_string(),
                change.route.assignee(),
                today,
                &domain_leaves,
                now,
            );
            moves.push(TaskMove {
                id: task.id,
                assignee,
                handed_over_from: handover.as_ref().map(|h| h.from.clone()),
                role_unit,
                rule,
            });
            if let Some(handover) = handover {
                handovers.push((task.id, handover));
            }
            moved += 1;
        }
        store::move_tasks(&mut *tx, &moves).await?;
        for (task, handover) in handovers {
            record_new_handover(&mut *tx, handover, task, &active, today, now).await?;
        }
    }
    Ok(moved)
}
