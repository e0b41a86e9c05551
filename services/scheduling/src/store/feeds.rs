//! Calendar feed links (only a hash of each secret), and what a feed shows:
//! a staff member's open and escalated tasks, their leaves and the ones
//! they cover, the activities their customers are invited to.

use chrono::{DateTime, NaiveDate, Utc};
use patron_kit::ServiceError;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::leaves::LeaveRow;
use super::tasks::{TASK_COLUMNS, TaskRow};

#[derive(Debug, Clone, FromRow)]
pub struct FeedRow {
    pub id: Uuid,
    pub staff_member: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub revoked_by: Option<String>,
    pub revoked_at: Option<DateTime<Utc>>,
}

const FEED_COLUMNS: &str = "id, staff_member, created_by, created_at, revoked_by, revoked_at";

/// Revokes `staff`'s live link, if any; the revoked row.
pub async fn revoke_live(
    tx: &mut PgConnection,
    staff: &str,
    by: &str,
    at: DateTime<Utc>,
) -> Result<Option<FeedRow>, ServiceError> {
    Ok(sqlx::query_as::<_, FeedRow>(sqlx::AssertSqlSafe(format!(
        "UPDATE calendar_feeds SET revoked_by = $2, revoked_at = $3
          WHERE staff_member = $1 AND revoked_at IS NULL
         RETURNING {FEED_COLUMNS}"
    )))
    .bind(staff)
    .bind(by)
    .bind(at)
    .fetch_optional(tx)
    .await?)
}

/// Serialises the changes of one staff member's link (a create racing
/// another would otherwise break the one-live-link rule).
pub async fn lock_staff(tx: &mut PgConnection, staff: &str) -> Result<(), ServiceError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('calendar_feeds'), hashtext($1))")
        .bind(staff)
        .execute(tx)
        .await?;
    Ok(())
}

pub async fn insert(
    tx: &mut PgConnection,
    row: &FeedRow,
    secret_sha256: &[u8],
) -> Result<(), ServiceError> {
    sqlx::query(
        "INSERT INTO calendar_feeds (id, staff_member, secret_sha256, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(row.id)
    .bind(&row.staff_member)
    .bind(secret_sha256)
    .bind(&row.created_by)
    .bind(row.created_at)
    .execute(tx)
    .await?;
    Ok(())
}

/// `staff`'s live link, else their latest revoked one.
pub async fn latest_of(
    conn: &mut PgConnection,
    staff: &str,
) -> Result<Option<FeedRow>, ServiceError> {
    Ok(sqlx::query_as::<_, FeedRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {FEED_COLUMNS} FROM calendar_feeds WHERE staff_member = $1
          ORDER BY revoked_at IS NULL DESC, created_at DESC, id DESC LIMIT 1"
    )))
    .bind(staff)
    .fetch_optional(conn)
    .await?)
}

/// The live link whose secret hashes to `secret_sha256`.
pub async fn live_by_secret(
    conn: &mut PgConnection,
    secret_sha256: &[u8],
) -> Result<Option<FeedRow>, ServiceError> {
    Ok(sqlx::query_as::<_, FeedRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {FEED_COLUMNS} FROM calendar_feeds
          WHERE secret_sha256 = $1 AND revoked_at IS NULL"
    )))
    .bind(secret_sha256)
    .fetch_optional(conn)
    .await?)
}

/// How many tasks a feed shows at most (a month's horizon holds far fewer).
pub const MAX_TASKS: i64 = 5000;

/// `staff`'s open tasks and those escalated to them, soonest due first.
pub async fn open_tasks_of(
    conn: &mut PgConnection,
    staff: &str,
) -> Result<Vec<TaskRow>, ServiceError> {
    Ok(sqlx::query_as::<_, TaskRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {TASK_COLUMNS} FROM tasks t
          WHERE t.state = 'open' AND (t.assignee = $1 OR t.escalated_to = $1)
          ORDER BY t.due_date, t.id LIMIT $2"
    )))
    .bind(staff)
    .bind(MAX_TASKS)
    .fetch_all(conn)
    .await?)
}

/// `staff`'s leaves and those they stand in for, not over before `since`.
pub async fn leaves_of(
    conn: &mut PgConnection,
    staff: &str,
    since: NaiveDate,
) -> Result<Vec<LeaveRow>, ServiceError> {
    Ok(sqlx::query_as::<_, LeaveRow>(
        "SELECT id, staff_member, stand_in, start_date, end_date, handed_over, returned,
                created_by, created_at
           FROM leaves WHERE (staff_member = $1 OR stand_in = $1) AND end_date >= $2
          ORDER BY start_date, id",
    )
    .bind(staff)
    .bind(since)
    .fetch_all(conn)
    .await?)
}

/// An activity some of a manager's customers are invited to.
#[derive(Debug, Clone, FromRow)]
pub struct InvitedActivity {
    pub id: Uuid,
    pub title: String,
    pub kind: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub location: String,
    pub description: String,
    pub invited: i64,
}

/// The activities beginning from `since` that customers `staff` manages are
/// invited to, with how many of them.
pub async fn activities_of(
    conn: &mut PgConnection,
    staff: &str,
    since: DateTime<Utc>,
) -> Result<Vec<InvitedActivity>, ServiceError> {
    Ok(sqlx::query_as::<_, InvitedActivity>(
        "SELECT a.id, a.title, a.kind, a.starts_at, a.ends_at, a.location, a.description,
                count(*) AS invited
           FROM activities a
           JOIN activity_invitations i ON i.activity_id = a.id
           JOIN customer_facts f ON f.customer_id = i.customer_id
          WHERE f.account_manager = $1 AND a.starts_at >= $2
          GROUP BY a.id
          ORDER BY a.starts_at, a.id",
    )
    .bind(staff)
    .bind(since)
    .fetch_all(conn)
    .await?)
}
