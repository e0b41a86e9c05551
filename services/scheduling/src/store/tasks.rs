//! Tasks, contact logs and the planning claims.

use chrono::{DateTime, NaiveDate, Utc};
use patron_kit::ServiceError;
use patron_kit::directory::Reach;
use sqlx::{FromRow, PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

/// The day "never planned" is stored as: due for planning at once.
pub fn never() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("a real day")
}

/// A task as stored.
#[derive(Debug, Clone, FromRow)]
pub struct TaskRow {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub kind: String,
    pub rule_key: String,
    pub rule: String,
    pub role: String,
    pub channel: String,
    pub tier: String,
    pub assignee: String,
    pub handed_over_from: Option<String>,
    pub due_date: NaiveDate,
    pub planned_date: NaiveDate,
    pub latest_date: NaiveDate,
    pub state: String,
    pub snooze_reason: String,
    pub contact_log_id: Option<Uuid>,
    pub done_on: Option<NaiveDate>,
    pub created_at: DateTime<Utc>,
    pub version: i64,
    /// The group lead it was escalated to when it fell overdue.
    pub escalated_to: Option<String>,
    pub escalated_at: Option<DateTime<Utc>>,
}

pub(crate) const TASK_COLUMNS: &str =
    "t.id, t.customer_id, t.kind, t.rule_key, t.rule, t.role, t.channel, t.tier,
    t.assignee, t.handed_over_from, t.due_date, t.planned_date, t.latest_date, t.state,
    t.snooze_reason, t.contact_log_id, t.done_on, t.created_at, t.version,
    t.escalated_to, t.escalated_at";

/// A task the generation job plans.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub kind: &'static str,
    pub rule_key: String,
    pub rule: String,
    pub role: String,
    pub channel: String,
    pub tier: String,
    pub assignee: String,
    pub handed_over_from: Option<String>,
    pub due_date: NaiveDate,
    pub latest_date: NaiveDate,
    /// The unit whose holder of the role it went to; `None` for the
    /// account manager.
    pub role_unit: Option<String>,
}

/// Inserts planned tasks in one statement, each unless the same customer,
/// rule and planned day is already there; the ids of those inserted.
pub async fn insert_planned(
    tx: &mut PgConnection,
    new: &[NewTask],
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, ServiceError> {
    if new.is_empty() {
        return Ok(Vec::new());
    }
    let column = |f: fn(&NewTask) -> String| new.iter().map(f).collect::<Vec<String>>();
    Ok(sqlx::query_scalar(
        "INSERT INTO tasks (id, customer_id, kind, rule_key, rule, role, channel, tier, assignee,
                            handed_over_from, due_date, planned_date, latest_date, created_at,
                            role_unit)
         SELECT n.id, n.customer_id, n.kind, n.rule_key, n.rule, n.role, n.channel, n.tier,
                n.assignee, n.handed_over_from, n.due_date, n.due_date, n.latest_date, $13,
                n.role_unit
           FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[],
                       $7::text[], $8::text[], $9::text[], $10::text[], $11::date[], $12::date[],
                       $14::text[])
                AS n(id, customer_id, kind, rule_key, rule, role, channel, tier, assignee,
                     handed_over_from, due_date, latest_date, role_unit)
         ON CONFLICT (customer_id, rule_key, planned_date) WHERE state <> 'cancelled' DO NOTHING
         RETURNING id",
    )
    .bind(new.iter().map(|t| t.id).collect::<Vec<_>>())
    .bind(new.iter().map(|t| t.customer_id).collect::<Vec<_>>())
    .bind(column(|t| t.kind.to_owned()))
    .bind(column(|t| t.rule_key.clone()))
    .bind(column(|t| t.rule.clone()))
    .bind(column(|t| t.role.clone()))
    .bind(column(|t| t.channel.clone()))
    .bind(column(|t| t.tier.clone()))
    .bind(column(|t| t.assignee.clone()))
    .bind(
        new.iter()
            .map(|t| t.handed_over_from.clone())
            .collect::<Vec<_>>(),
    )
    .bind(new.iter().map(|t| t.due_date).collect::<Vec<_>>())
    .bind(new.iter().map(|t| t.latest_date).collect::<Vec<_>>())
    .bind(now)
    .bind(new.iter().map(|t| t.role_unit.clone()).collect::<Vec<_>>())
    .fetch_all(&mut *tx)
    .await?)
}

/// Locks a customer's planning row. Every change to a customer's tasks
/// takes it first, as the generation job does, so the two never wait on
/// each other in opposite orders.
pub async fn lock_planning(tx: &mut PgConnection, customer_id: Uuid) -> Result<(), ServiceError> {
    sqlx::query("SELECT 1 FROM planning WHERE customer_id = $1 FOR UPDATE")
        .bind(customer_id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// The rules of the customers' open tasks planned before `today`, as
/// (customer, rule): an overdue task stands for its rule's first due
/// contact, so it is not planned again.
pub async fn overdue_rules(
    tx: &mut PgConnection,
    customers: &[Uuid],
    today: NaiveDate,
) -> Result<Vec<(Uuid, String)>, ServiceError> {
    Ok(sqlx::query_as(
        "SELECT DISTINCT customer_id, rule_key FROM tasks
          WHERE customer_id = ANY($1) AND state = 'open' AND planned_date < $2",
    )
    .bind(customers)
    .bind(today)
    .fetch_all(&mut *tx)
    .await?)
}

/// Cancels the customers' open generated tasks planned from `today` on
/// that their plans no longer have (a contact moved the cadence on, or the
/// policy changed a rule's channel or role). The open tasks are read and
/// matched here, and only those to cancel are written, by id: an anti-join
/// against the plan inside the UPDATE cost 40+ ms a batch of 500 customers
/// in the generation benchmark, where it found nothing to cancel.
pub async fn cancel_unplanned(
    tx: &mut PgConnection,
    customers: &[Uuid],
    today: NaiveDate,
    keep: &[Planned<'_>],
) -> Result<u64, ServiceError> {
    let open: Vec<(Uuid, Uuid, String, NaiveDate, String, String)> = sqlx::query_as(
        "SELECT id, customer_id, rule_key, planned_date, channel, role FROM tasks
          WHERE customer_id = ANY($1) AND state = 'open'
            AND kind IN ('cadence', 'new_customer') AND planned_date >= $2",
    )
    .bind(customers)
    .bind(today)
    .fetch_all(&mut *tx)
    .await?;
    if open.is_empty() {
        return Ok(0);
    }
    let kept: std::collections::HashSet<(Uuid, &str, NaiveDate, &str, &str)> = keep
        .iter()
        .map(|k| (k.customer_id, k.rule_key, k.day, k.channel, k.role))
        .collect();
    let unplanned: Vec<Uuid> = open
        .iter()
        .filter(|(_, customer, rule, day, channel, role)| {
            !kept.contains(&(
                *customer,
                rule.as_str(),
                *day,
                channel.as_str(),
                role.as_str(),
            ))
        })
        .map(|(id, ..)| *id)
        .collect();
    if unplanned.is_empty() {
        return Ok(0);
    }
    let done = sqlx::query(
        "UPDATE tasks SET state = 'cancelled', version = version + 1
          WHERE id = ANY($1) AND state = 'open'",
    )
    .bind(&unplanned)
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected())
}

/// A task a customer's plan has: an open one that matches it is kept.
pub struct Planned<'a> {
    pub customer_id: Uuid,
    pub rule_key: &'a str,
    pub day: NaiveDate,
    pub channel: &'a str,
    pub role: &'a str,
}

/// Cancels a customer's open tasks (an exit), or only the generated ones due
/// from `from` on (a new tier re-plans them).
pub async fn cancel_open(
    tx: &mut PgConnection,
    customer_id: Uuid,
    future_cadence_from: Option<NaiveDate>,
) -> Result<u64, ServiceError> {
    let done = sqlx::query(
        "UPDATE tasks SET state = 'cancelled', version = version + 1
          WHERE customer_id = $1 AND state = 'open'
            AND ($2::date IS NULL
                 OR (kind IN ('cadence', 'new_customer') AND due_date >= $2))",
    )
    .bind(customer_id)
    .bind(future_cadence_from)
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected())
}

/// Moves a customer's open tasks to their new manager; a task a stand-in
/// holds for a leave stays with them and goes back to the new manager. A
/// task a unit's holder of its role does is not the manager's and stays.
pub async fn reassign_open(
    tx: &mut PgConnection,
    customer_id: Uuid,
    manager: &str,
) -> Result<(), ServiceError> {
    sqlx::query(
        "UPDATE tasks SET
            assignee = CASE WHEN handed_over_from IS NULL THEN $2 ELSE assignee END,
            handed_over_from = CASE WHEN handed_over_from IS NULL THEN NULL ELSE $2 END,
            version = version + 1
          WHERE customer_id = $1 AND state = 'open' AND role_unit IS NULL",
    )
    .bind(customer_id)
    .bind(manager)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// One task.
pub async fn get(conn: &mut PgConnection, id: Uuid) -> Result<Option<TaskRow>, ServiceError> {
    Ok(sqlx::query_as::<_, TaskRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {TASK_COLUMNS} FROM tasks t WHERE t.id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

/// One task, locked for a change.
pub async fn lock(tx: &mut PgConnection, id: Uuid) -> Result<Option<TaskRow>, ServiceError> {
    Ok(sqlx::query_as::<_, TaskRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {TASK_COLUMNS} FROM tasks t WHERE t.id = $1 FOR UPDATE"
    )))
    .bind(id)
    .fetch_optional(tx)
    .await?)
}

/// A snooze: the new due day and why.
pub async fn snooze(
    tx: &mut PgConnection,
    id: Uuid,
    due: NaiveDate,
    reason: &str,
) -> Result<(), ServiceError> {
    sqlx::query(
        "UPDATE tasks SET due_date = $2, snooze_reason = $3, overdue_announced = false,
                          version = version + 1
          WHERE id = $1",
    )
    .bind(id)
    .bind(due)
    .bind(reason)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Closes a task with the contact that did it.
pub async fn close(
    tx: &mut PgConnection,
    id: Uuid,
    log: Uuid,
    on: NaiveDate,
) -> Result<(), ServiceError> {
    sqlx::query(
        "UPDATE tasks SET state = 'done', contact_log_id = $2, done_on = $3, version = version + 1
          WHERE id = $1",
    )
    .bind(id)
    .bind(log)
    .bind(on)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Moves a task to another assignee (a leave's handover, or back).
pub async fn move_task(
    tx: &mut PgConnection,
    id: Uuid,
    to: &str,
    handed_over_from: Option<&str>,
) -> Result<(), ServiceError> {
    sqlx::query(
        "UPDATE tasks SET assignee = $2, handed_over_from = $3, version = version + 1 WHERE id = $1",
    )
    .bind(id)
    .bind(to)
    .bind(handed_over_from)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Open tasks assigned to `staff`, locked.
pub async fn lock_open_of(
    tx: &mut PgConnection,
    staff: &str,
) -> Result<Vec<TaskRow>, ServiceError> {
    Ok(sqlx::query_as::<_, TaskRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {TASK_COLUMNS} FROM tasks t WHERE t.assignee = $1 AND t.state = 'open'
          ORDER BY t.id FOR UPDATE"
    )))
    .bind(staff)
    .fetch_all(tx)
    .await?)
}

/// Tasks by id, locked.
pub async fn lock_many(tx: &mut PgConnection, ids: &[Uuid]) -> Result<Vec<TaskRow>, ServiceError> {
    Ok(sqlx::query_as::<_, TaskRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {TASK_COLUMNS} FROM tasks t WHERE t.id = ANY($1) ORDER BY t.id FOR UPDATE"
    )))
    .bind(ids)
    .fetch_all(tx)
    .await?)
}

/// Which tasks a list shows.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub assignee: Option<String>,
    pub customer_id: Option<Uuid>,
    pub state: Option<String>,
    pub due_by: Option<NaiveDate>,
}

/// Adds the caller's reach over the customer's facts (aliased `f`): the
/// company, their unit's subtree, the customers they manage; and the rows
/// that are the caller's own (`own_column` is theirs).
pub(crate) fn push_reach(
    q: &mut QueryBuilder<Postgres>,
    reach: &Reach,
    subject: &str,
    own_column: &'static str,
) {
    if matches!(reach, Reach::Company) {
        return;
    }
    q.push(" AND (false");
    if let Some(unit) = reach.unit() {
        q.push(" OR f.org_unit_path @> ARRAY[")
            .push_bind(unit.to_owned())
            .push("]::text[]");
    }
    if let Some(manager) = reach.manager() {
        q.push(" OR f.account_manager = ")
            .push_bind(manager.to_owned());
    }
    q.push(" OR ")
        .push(own_column)
        .push(" = ")
        .push_bind(subject.to_owned());
    q.push(")");
}

/// A page of tasks the caller reaches, soonest due first.
pub async fn list(
    pool: &PgPool,
    filter: &ListFilter,
    reach: &Reach,
    subject: &str,
    after: Option<(NaiveDate, Uuid)>,
    limit: i64,
) -> Result<Vec<TaskRow>, ServiceError> {
    let mut q = QueryBuilder::<Postgres>::new("SELECT ");
    q.push(TASK_COLUMNS).push(
        " FROM tasks t LEFT JOIN customer_facts f ON f.customer_id = t.customer_id WHERE true",
    );
    push_reach(&mut q, reach, subject, "t.assignee");
    if let Some(assignee) = &filter.assignee {
        q.push(" AND t.assignee = ").push_bind(assignee.clone());
    }
    if let Some(customer) = filter.customer_id {
        q.push(" AND t.customer_id = ").push_bind(customer);
    }
    if let Some(state) = &filter.state {
        q.push(" AND t.state = ").push_bind(state.clone());
    }
    if let Some(due_by) = filter.due_by {
        q.push(" AND t.due_date <= ").push_bind(due_by);
    }
    if let Some((due, id)) = after {
        q.push(" AND (t.due_date, t.id) > (")
            .push_bind(due)
            .push(", ")
            .push_bind(id)
            .push(")");
    }
    q.push(" ORDER BY t.due_date, t.id LIMIT ").push_bind(limit);
    Ok(q.build_query_as::<TaskRow>().fetch_all(pool).await?)
}

/// A contact as stored.
#[derive(Debug, Clone, FromRow)]
pub struct ContactLogRow {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub task_id: Option<Uuid>,
    pub channel: String,
    pub contact_time: DateTime<Utc>,
    pub summary: String,
    pub staff_member: String,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_log(tx: &mut PgConnection, log: &ContactLogRow) -> Result<(), ServiceError> {
    sqlx::query(
        "INSERT INTO contact_logs (id, customer_id, task_id, channel, contact_time, summary,
                                   staff_member, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(log.id)
    .bind(log.customer_id)
    .bind(log.task_id)
    .bind(&log.channel)
    .bind(log.contact_time)
    .bind(&log.summary)
    .bind(&log.staff_member)
    .bind(log.created_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

pub async fn get_log(pool: &PgPool, id: Uuid) -> Result<Option<ContactLogRow>, ServiceError> {
    Ok(sqlx::query_as::<_, ContactLogRow>(
        "SELECT id, customer_id, task_id, channel, contact_time, summary, staff_member, created_at
           FROM contact_logs WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?)
}

/// Which contacts a list shows.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    pub customer_id: Option<Uuid>,
    /// Only those this staff member made (their work log).
    pub staff_member: Option<String>,
    /// Only those made at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Only those made before this instant.
    pub until: Option<DateTime<Utc>>,
}

/// A page of contacts the caller reaches, newest first.
pub async fn list_logs(
    pool: &PgPool,
    filter: &LogFilter,
    reach: &Reach,
    subject: &str,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<ContactLogRow>, ServiceError> {
    let mut q = QueryBuilder::<Postgres>::new(
        "SELECT l.id, l.customer_id, l.task_id, l.channel, l.contact_time, l.summary,
                l.staff_member, l.created_at
           FROM contact_logs l LEFT JOIN customer_facts f ON f.customer_id = l.customer_id
          WHERE true",
    );
    push_reach(&mut q, reach, subject, "l.staff_member");
    if let Some(customer) = filter.customer_id {
        q.push(" AND l.customer_id = ").push_bind(customer);
    }
    if let Some(staff) = &filter.staff_member {
        q.push(" AND l.staff_member = ").push_bind(staff.clone());
    }
    if let Some(since) = filter.since {
        q.push(" AND l.contact_time >= ").push_bind(since);
    }
    if let Some(until) = filter.until {
        q.push(" AND l.contact_time < ").push_bind(until);
    }
    if let Some((at, id)) = after {
        q.push(" AND (l.contact_time, l.id) < (")
            .push_bind(at)
            .push(", ")
            .push_bind(id)
            .push(")");
    }
    q.push(" ORDER BY l.contact_time DESC, l.id DESC LIMIT ")
        .push_bind(limit);
    Ok(q.build_query_as::<ContactLogRow>().fetch_all(pool).await?)
}

/// A contact as planning counts it: when, its channel, and the role and
/// rule of the task it closed.
#[derive(Debug, Clone, FromRow)]
pub struct MadeContact {
    pub customer_id: Uuid,
    pub contact_time: DateTime<Utc>,
    pub channel: String,
    pub role: Option<String>,
    pub rule_key: Option<String>,
}

/// Every contact made with the customers, for planning, in order.
pub async fn contacts_of(
    conn: &mut PgConnection,
    customers: &[Uuid],
) -> Result<Vec<MadeContact>, ServiceError> {
    Ok(sqlx::query_as::<_, MadeContact>(
        "SELECT l.customer_id, l.contact_time, l.channel, t.role, t.rule_key
           FROM contact_logs l LEFT JOIN tasks t ON t.id = l.task_id
          WHERE l.customer_id = ANY($1)
          ORDER BY l.customer_id, l.contact_time",
    )
    .bind(customers)
    .fetch_all(conn)
    .await?)
}

/// Adds a customer to planning (the day the service heard of them), due at
/// once; a customer already there stays as they are.
pub async fn ensure_planning(
    tx: &mut PgConnection,
    customer_id: Uuid,
    first_seen: NaiveDate,
    at: DateTime<Utc>,
) -> Result<(), ServiceError> {
    sqlx::query(
        "INSERT INTO planning (customer_id, planned_until, planned_at, first_seen)
         VALUES ($1, $2, $3, $4) ON CONFLICT (customer_id) DO NOTHING",
    )
    .bind(customer_id)
    .bind(never())
    .bind(at)
    .bind(first_seen)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Makes a customer due for planning again at the next pass.
pub async fn replan(
    tx: &mut PgConnection,
    customer_id: Uuid,
    first_seen: NaiveDate,
    at: DateTime<Utc>,
) -> Result<(), ServiceError> {
    sqlx::query(
        "INSERT INTO planning (customer_id, planned_until, planned_at, first_seen)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (customer_id) DO UPDATE SET planned_until = $2",
    )
    .bind(customer_id)
    .bind(never())
    .bind(at)
    .bind(first_seen)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A customer claimed for planning.
#[derive(Debug, Clone, FromRow)]
pub struct Claimed {
    pub customer_id: Uuid,
    pub first_seen: NaiveDate,
    pub account_manager: String,
    /// Unit ids from the company down to the customer's unit.
    pub org_unit_path: Vec<String>,
}

/// Claims up to `batch` live customers whose plan does not reach `until`,
/// then (when the batch has room) those planned under an activation of
/// the policy before `activation` (`None`: the configured preset, which no
/// activation came before); the claim holds until the transaction
/// ends, and other replicas skip them. Two statements, so each reads its
/// own index.
pub async fn claim_due(
    tx: &mut PgConnection,
    until: NaiveDate,
    activation: Option<i64>,
    batch: i64,
) -> Result<Vec<Claimed>, ServiceError> {
    let mut claimed = sqlx::query_as::<_, Claimed>(
        "SELECT p.customer_id, p.first_seen, f.account_manager, f.org_unit_path
           FROM planning p JOIN customer_facts f ON f.customer_id = p.customer_id
          WHERE p.planned_until < $1 AND f.deleted_at IS NULL AND f.exited_at IS NULL
          ORDER BY p.planned_until, p.customer_id
          LIMIT $2
          FOR UPDATE OF p SKIP LOCKED",
    )
    .bind(until)
    .bind(batch)
    .fetch_all(&mut *tx)
    .await?;
    let room = batch - claimed.len() as i64;
    if let Some(activation) = activation
        && room > 0
    {
        claimed.extend(
            sqlx::query_as::<_, Claimed>(
                "SELECT p.customer_id, p.first_seen, f.account_manager, f.org_unit_path
                   FROM planning p JOIN customer_facts f ON f.customer_id = p.customer_id
                  WHERE p.planned_under < $1 AND p.planned_until >= $2
                    AND f.deleted_at IS NULL AND f.exited_at IS NULL
                  ORDER BY p.planned_under, p.customer_id
                  LIMIT $3
                  FOR UPDATE OF p SKIP LOCKED",
            )
            .bind(activation)
            .bind(until)
            .bind(room)
            .fetch_all(&mut *tx)
            .await?,
        );
    }
    Ok(claimed)
}

/// Records that the customers are planned up to `until`, under the policy
/// of `activation` (`None`: the configured preset).
pub async fn mark_planned(
    tx: &mut PgConnection,
    customers: &[Uuid],
    until: NaiveDate,
    activation: Option<i64>,
    at: DateTime<Utc>,
) -> Result<(), ServiceError> {
    sqlx::query(
        "UPDATE planning
            SET planned_until = $2, planned_under = coalesce($3, 0), planned_at = $4
          WHERE customer_id = ANY($1)",
    )
    .bind(customers)
    .bind(until)
    .bind(activation)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Claims open tasks due before `today` not yet announced as overdue.
pub async fn claim_overdue(
    tx: &mut PgConnection,
    today: NaiveDate,
    batch: i64,
) -> Result<Vec<TaskRow>, ServiceError> {
    Ok(sqlx::query_as::<_, TaskRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {TASK_COLUMNS} FROM tasks t
          WHERE t.state = 'open' AND NOT t.overdue_announced AND t.due_date < $1
          ORDER BY t.due_date, t.id LIMIT $2 FOR UPDATE SKIP LOCKED"
    )))
    .bind(today)
    .bind(batch)
    .fetch_all(tx)
    .await?)
}

pub async fn mark_overdue_announced(tx: &mut PgConnection, id: Uuid) -> Result<(), ServiceError> {
    sqlx::query("UPDATE tasks SET overdue_announced = true WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// One manager's figures.
#[derive(Debug, Clone, FromRow)]
pub struct ManagerFigures {
    pub assignee: String,
    pub due: i64,
    pub done_on_time: i64,
    pub overdue: i64,
}

/// Tasks due from `from` to `to` (both included) per assignee, the caller's
/// reach only. On time is by the task's latest day: a snooze past its
/// cadence makes it late.
pub async fn figures(
    pool: &PgPool,
    from: NaiveDate,
    to: NaiveDate,
    today: NaiveDate,
    reach: &Reach,
    subject: &str,
) -> Result<Vec<ManagerFigures>, ServiceError> {
    let mut q = QueryBuilder::<Postgres>::new(
        "SELECT t.assignee,
                count(*) AS due,
                count(*) FILTER (WHERE t.state = 'done' AND t.done_on <= t.latest_date) AS done_on_time,
                count(*) FILTER (WHERE t.state = 'open' AND t.due_date < ",
    );
    q.push_bind(today)
        .push(
            ") AS overdue
           FROM tasks t LEFT JOIN customer_facts f ON f.customer_id = t.customer_id
          WHERE t.state <> 'cancelled' AND t.due_date >= ",
        )
        .push_bind(from)
        .push(" AND t.due_date <= ")
        .push_bind(to);
    push_reach(&mut q, reach, subject, "t.assignee");
    q.push(" GROUP BY t.assignee ORDER BY t.assignee");
    Ok(q.build_query_as::<ManagerFigures>().fetch_all(pool).await?)
}
