//! Escalating an overdue task to the group lead above its assignee (the
//! rule is `domain::escalation`): the generation job calls it for each task
//! it claims as newly overdue, in the transaction that publishes TaskOverdue,
//! so the escalation and its event are recorded once, together.

use chrono::{DateTime, Utc};
use patron_kit::ServiceError;
use patron_kit::directory;
use sqlx::PgConnection;

use crate::domain::escalation::{self, Escalation};
use crate::store::leads;
use crate::store::tasks::TaskRow;

/// Finds the lead `task` goes to and records it on the task; `None` when
/// no unit above the assignee (nor the customer) has a lead.
pub async fn escalate(
    tx: &mut PgConnection,
    task: &TaskRow,
    now: DateTime<Utc>,
) -> Result<Option<Escalation>, ServiceError> {
    let assignee_path = if task.assignee.is_empty() {
        Vec::new()
    } else {
        directory::store::staff_placement(&mut *tx, &task.assignee)
            .await?
            .map(|p| p.unit_path)
            .unwrap_or_default()
    };
    let customer_path = directory::store::customer(&mut *tx, task.customer_id)
        .await?
        .org_unit_path;
    let mut units: Vec<String> = assignee_path.clone();
    units.extend(customer_path.iter().cloned());
    let leads = leads::of_units(&mut *tx, &units).await?;
    let Some(found) = escalation::lead_for(&task.assignee, &assignee_path, &customer_path, &leads)
    else {
        return Ok(None);
    };
    leads::record_escalation(&mut *tx, task.id, &found.lead, &found.unit, now).await?;
    Ok(Some(found))
}
