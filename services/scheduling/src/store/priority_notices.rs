//! Priority notices and their tasks, created in one statement for every
//! affected customer.

use chrono::{DateTime, NaiveDate, Utc};
use patron_kit::ServiceError;
use patron_kit::directory::Reach;
use sqlx::{FromRow, PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

use super::tasks::push_reach;

/// A notice as stored.
#[derive(Debug, Clone, FromRow)]
pub struct NoticeRow {
    pub id: Uuid,
    pub title: String,
    pub body: String,
    pub tiers: Vec<String>,
    pub channel: String,
    pub due_date: NaiveDate,
    pub issued_by: String,
    pub issued_at: DateTime<Utc>,
    pub counted_tiers: Vec<String>,
    pub tier_tasks: Vec<i64>,
}

pub async fn insert(tx: &mut PgConnection, row: &NoticeRow) -> Result<(), ServiceError> {
    sqlx::query(
        "INSERT INTO priority_notices (id, title, body, tiers, channel, due_date, issued_by,
                                       issued_at, counted_tiers, tier_tasks)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(row.id)
    .bind(&row.title)
    .bind(&row.body)
    .bind(&row.tiers)
    .bind(&row.channel)
    .bind(row.due_date)
    .bind(&row.issued_by)
    .bind(row.issued_at)
    .bind(&row.counted_tiers)
    .bind(&row.tier_tasks)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

pub async fn get(conn: &mut PgConnection, id: Uuid) -> Result<Option<NoticeRow>, ServiceError> {
    Ok(sqlx::query_as::<_, NoticeRow>(
        "SELECT id, title, body, tiers, channel, due_date, issued_by, issued_at, counted_tiers,
                tier_tasks
           FROM priority_notices WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

/// A manager on leave today and who covers for them, under which leave.
#[derive(Debug, Clone)]
pub struct Cover {
    pub leave_id: Uuid,
    pub manager: String,
    pub stand_in: String,
}

/// What the notice's tasks are.
#[derive(Debug, Clone)]
pub struct NoticeTasks<'a> {
    /// The tiers notified, highest first.
    pub tiers: &'a [String],
    /// The first 20 hexadecimal digits of every task id
    /// (`domain::priority_notices::task_id_prefix`).
    pub id_prefix: String,
    pub rule_key: String,
    pub rule: String,
    pub channel: &'a str,
    pub due_date: NaiveDate,
    /// Managers on leave today: their customers' tasks go to the stand-in,
    /// each move recorded as a handover of the leave.
    pub covers: &'a [Cover],
}

/// Creates a task for every live customer of `tiers` the caller reaches,
/// for the customer's manager (or their stand-in), in one statement: ids
/// ascend with the tier's rank then the customer, so the highest tier comes
/// first. The tasks created per tier, highest first.
pub async fn create_tasks(
    tx: &mut PgConnection,
    notice: &NoticeTasks<'_>,
    reach: &Reach,
    subject: &str,
    now: DateTime<Utc>,
) -> Result<Vec<(String, i64)>, ServiceError> {
    let leave_ids: Vec<Uuid> = notice.covers.iter().map(|c| c.leave_id).collect();
    let managers: Vec<&str> = notice.covers.iter().map(|c| c.manager.as_str()).collect();
    let stand_ins: Vec<&str> = notice.covers.iter().map(|c| c.stand_in.as_str()).collect();
    let mut q = QueryBuilder::<Postgres>::new("WITH notified AS (SELECT ");
    q.push_bind(notice.tiers.to_vec())
        .push("::text[] AS tiers), targets AS (")
        .push(
            "SELECT f.customer_id, f.account_manager, ct.tier,
                    array_position(n.tiers, ct.tier) AS rank
               FROM notified n
               CROSS JOIN customer_facts f
               JOIN customer_tiers ct ON ct.customer_id = f.customer_id
              WHERE f.deleted_at IS NULL AND f.exited_at IS NULL AND ct.tier = ANY(n.tiers)",
        );
    push_reach(&mut q, reach, subject, "f.account_manager");
    q.push("), covers AS (SELECT * FROM unnest(")
        .push_bind(leave_ids)
        .push("::uuid[], ")
        .push_bind(managers)
        .push("::text[], ")
        .push_bind(stand_ins)
        .push("::text[]) AS c(leave_id, manager, stand_in)), numbered AS (SELECT (")
        .push_bind(notice.id_prefix.clone())
        .push(
            " || lpad(to_hex(row_number() OVER (ORDER BY t.rank, t.customer_id) - 1), 12, '0'))::uuid
                AS id, t.customer_id, t.account_manager, t.tier, c.leave_id, c.stand_in
               FROM targets t
               LEFT JOIN covers c ON c.manager = t.account_manager AND t.account_manager <> ''),
             inserted AS (
               INSERT INTO tasks (id, customer_id, kind, rule_key, rule, role, channel, tier,
                                  assignee, handed_over_from, due_date, planned_date,
                                  latest_date, created_at)
               SELECT id, customer_id, 'notice', ",
        )
        .push_bind(notice.rule_key.clone())
        .push(", ")
        .push_bind(notice.rule.clone())
        .push(", 'account_manager', ")
        .push_bind(notice.channel.to_owned())
        .push(
            ", tier, coalesce(stand_in, account_manager),
                      CASE WHEN stand_in IS NULL THEN NULL ELSE account_manager END, ",
        )
        .push_bind(notice.due_date)
        .push(", ")
        .push_bind(notice.due_date)
        .push(", ")
        .push_bind(notice.due_date)
        .push(", ")
        .push_bind(now)
        .push(
            " FROM numbered ORDER BY id
               ON CONFLICT (customer_id, rule_key, planned_date) WHERE state <> 'cancelled' DO NOTHING
               RETURNING id, tier),
             handed AS (
               INSERT INTO handovers (leave_id, task_id, from_staff, to_staff, direction, at)
               SELECT n.leave_id, n.id, n.account_manager, n.stand_in, 'to_cover', ",
        )
        .push_bind(now)
        .push(
            " FROM numbered n JOIN inserted i ON i.id = n.id WHERE n.leave_id IS NOT NULL)
             SELECT i.tier, count(*)::bigint FROM inserted i, notified n
              GROUP BY i.tier, n.tiers ORDER BY array_position(n.tiers, i.tier)",
        );
    Ok(q.build_query_as::<(String, i64)>()
        .fetch_all(&mut *tx)
        .await?)
}
