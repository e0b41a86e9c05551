//! Activities, their invitations and attendance, and the year's counts per
//! unit behind the coverage and participation figures.

use chrono::{DateTime, Utc};
use patron_kit::ServiceError;
use patron_kit::directory::Reach;
use sqlx::{FromRow, PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::tasks::push_reach;

/// An activity as stored, with its invitations counted.
#[derive(Debug, Clone, FromRow)]
pub struct ActivityRow {
    pub id: Uuid,
    pub title: String,
    pub kind: String,
    pub org_unit: String,
    pub org_unit_path: Vec<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub location: String,
    pub description: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub version: i64,
    #[sqlx(default)]
    pub invited: i64,
    #[sqlx(default)]
    pub attended: i64,
}

const ACTIVITY_COLUMNS: &str = "a.id, a.title, a.kind, a.org_unit, a.org_unit_path, a.starts_at,
    a.ends_at, a.location, a.description, a.created_by, a.created_at, a.version,
    (SELECT count(*) FROM activity_invitations i WHERE i.activity_id = a.id) AS invited,
    (SELECT count(*) FROM activity_invitations i
      WHERE i.activity_id = a.id AND i.state = 'attended') AS attended";

pub async fn insert(tx: &mut PgConnection, row: &ActivityRow) -> Result<(), ServiceError> {
    sqlx::query(
        "INSERT INTO activities (id, title, kind, org_unit, org_unit_path, starts_at, ends_at,
                                 location, description, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(row.id)
    .bind(&row.title)
    .bind(&row.kind)
    .bind(&row.org_unit)
    .bind(&row.org_unit_path)
    .bind(row.starts_at)
    .bind(row.ends_at)
    .bind(&row.location)
    .bind(&row.description)
    .bind(&row.created_by)
    .bind(row.created_at)
    .execute(tx)
    .await?;
    Ok(())
}

pub async fn get(conn: &mut PgConnection, id: Uuid) -> Result<Option<ActivityRow>, ServiceError> {
    Ok(
        sqlx::query_as::<_, ActivityRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {ACTIVITY_COLUMNS} FROM activities a WHERE a.id = $1"
        )))
        .bind(id)
        .fetch_optional(conn)
        .await?,
    )
}

/// Which activities a list shows.
#[derive(Debug, Clone, Default)]
pub struct ActivityFilter {
    /// Beginning from (included) … to (excluded).
    pub between: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// Of this unit or below it.
    pub unit: Option<String>,
}

/// A page of activities, soonest first.
pub async fn list(
    pool: &PgPool,
    filter: &ActivityFilter,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<ActivityRow>, ServiceError> {
    let mut q = QueryBuilder::<Postgres>::new("SELECT ");
    q.push(ACTIVITY_COLUMNS)
        .push(" FROM activities a WHERE true");
    if let Some((from, to)) = filter.between {
        q.push(" AND a.starts_at >= ")
            .push_bind(from)
            .push(" AND a.starts_at < ")
            .push_bind(to);
    }
    if let Some(unit) = &filter.unit {
        q.push(" AND a.org_unit_path @> ARRAY[")
            .push_bind(unit.clone())
            .push("]::text[]");
    }
    if let Some((at, id)) = after {
        q.push(" AND (a.starts_at, a.id) > (")
            .push_bind(at)
            .push(", ")
            .push_bind(id)
            .push(")");
    }
    q.push(" ORDER BY a.starts_at, a.id LIMIT ")
        .push_bind(limit);
    Ok(q.build_query_as::<ActivityRow>().fetch_all(pool).await?)
}

/// The path of `unit` (unit ids from the company down to it) as the
/// directory's placements of staff and customers show it; `None` when no
/// one is placed in it or below it.
pub async fn unit_path(
    conn: &mut PgConnection,
    unit: &str,
) -> Result<Option<Vec<String>>, ServiceError> {
    Ok(sqlx::query_scalar(
        "SELECT p[1:array_position(p, $1)] FROM (
            SELECT org_unit_path AS p FROM directory_staff WHERE org_unit_path @> ARRAY[$1]
            UNION ALL
            (SELECT org_unit_path FROM customer_facts WHERE org_unit_path @> ARRAY[$1] LIMIT 1)
         ) known LIMIT 1",
    )
    .bind(unit)
    .fetch_optional(conn)
    .await?)
}

/// An invitation as stored.
#[derive(Debug, Clone, FromRow)]
pub struct InvitationRow {
    pub activity_id: Uuid,
    pub customer_id: Uuid,
    pub state: String,
    pub invited_by: String,
    pub invited_at: DateTime<Utc>,
    pub recorded_by: Option<String>,
    pub recorded_at: Option<DateTime<Utc>>,
    pub version: i64,
}

const INVITATION_COLUMNS: &str = "i.activity_id, i.customer_id, i.state, i.invited_by,
    i.invited_at, i.recorded_by, i.recorded_at, i.version";

/// Invites a customer; whether the invitation is new.
pub async fn invite(
    tx: &mut PgConnection,
    activity_id: Uuid,
    customer_id: Uuid,
    by: &str,
    at: DateTime<Utc>,
) -> Result<bool, ServiceError> {
    let done = sqlx::query(
        "INSERT INTO activity_invitations (activity_id, customer_id, invited_by, invited_at)
         VALUES ($1, $2, $3, $4) ON CONFLICT (activity_id, customer_id) DO NOTHING",
    )
    .bind(activity_id)
    .bind(customer_id)
    .bind(by)
    .bind(at)
    .execute(tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The invitations of `customers` to an activity.
pub async fn invitations_of(
    conn: &mut PgConnection,
    activity_id: Uuid,
    customers: &[Uuid],
) -> Result<Vec<InvitationRow>, ServiceError> {
    Ok(
        sqlx::query_as::<_, InvitationRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {INVITATION_COLUMNS} FROM activity_invitations i
          WHERE i.activity_id = $1 AND i.customer_id = ANY($2)"
        )))
        .bind(activity_id)
        .bind(customers)
        .fetch_all(conn)
        .await?,
    )
}

/// A page of an activity's invitations of customers the caller reaches (or
/// that they made), by customer id.
pub async fn list_invitations(
    pool: &PgPool,
    activity_id: Uuid,
    reach: &Reach,
    subject: &str,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<InvitationRow>, ServiceError> {
    let mut q = QueryBuilder::<Postgres>::new("SELECT ");
    q.push(INVITATION_COLUMNS).push(
        " FROM activity_invitations i LEFT JOIN customer_facts f ON f.customer_id = i.customer_id
          WHERE i.activity_id = ",
    );
    q.push_bind(activity_id);
    push_reach(&mut q, reach, subject, "i.invited_by");
    if let Some(after) = after {
        q.push(" AND i.customer_id > ").push_bind(after);
    }
    q.push(" ORDER BY i.customer_id LIMIT ").push_bind(limit);
    Ok(q.build_query_as::<InvitationRow>().fetch_all(pool).await?)
}

/// One invitation, locked for a change.
pub async fn lock_invitation(
    tx: &mut PgConnection,
    activity_id: Uuid,
    customer_id: Uuid,
) -> Result<Option<InvitationRow>, ServiceError> {
    Ok(
        sqlx::query_as::<_, InvitationRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {INVITATION_COLUMNS} FROM activity_invitations i
          WHERE i.activity_id = $1 AND i.customer_id = $2 FOR UPDATE"
        )))
        .bind(activity_id)
        .bind(customer_id)
        .fetch_optional(tx)
        .await?,
    )
}

/// Records attendance; the invitation as it is now.
pub async fn record_attendance(
    tx: &mut PgConnection,
    activity_id: Uuid,
    customer_id: Uuid,
    state: &str,
    by: &str,
    at: DateTime<Utc>,
) -> Result<InvitationRow, ServiceError> {
    Ok(
        sqlx::query_as::<_, InvitationRow>(sqlx::AssertSqlSafe(format!(
            "UPDATE activity_invitations i
            SET state = $3, recorded_by = $4, recorded_at = $5, version = version + 1
          WHERE i.activity_id = $1 AND i.customer_id = $2
         RETURNING {INVITATION_COLUMNS}"
        )))
        .bind(activity_id)
        .bind(customer_id)
        .bind(state)
        .bind(by)
        .bind(at)
        .fetch_one(tx)
        .await?,
    )
}

/// One unit's counts.
#[derive(Debug, Clone, FromRow)]
pub struct UnitCountsRow {
    pub org_unit: String,
    pub vips: i64,
    pub vips_invited: i64,
    pub invitations_held: i64,
    pub attended: i64,
}

/// Per unit, over the customers the caller reaches whose archives sit in it
/// or below it: live customers with a tier, those of them invited to an
/// activity beginning in [`from`, `to`), and the invitations to those that
/// began by `now` with how many were attended. The units counted are those
/// of the caller's own subtree (all for the company; a manager without one,
/// each customer's own unit), narrowed to `within` and below when given.
pub async fn unit_counts(
    pool: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
    reach: &Reach,
    subject: &str,
    within: Option<&str>,
) -> Result<Vec<UnitCountsRow>, ServiceError> {
    let mut q = QueryBuilder::<Postgres>::new(
        "WITH reached AS (
            SELECT f.customer_id, f.org_unit_path,
                   (f.exited_at IS NULL AND COALESCE(ct.tier, '') <> '') AS vip,
                   GREATEST(",
    );
    match reach {
        Reach::Company => {
            q.push("1");
        }
        Reach::Limited { unit, .. } => {
            q.push("COALESCE(array_position(f.org_unit_path, ")
                .push_bind(unit.clone())
                .push("::text), cardinality(f.org_unit_path))");
        }
    }
    q.push(", COALESCE(array_position(f.org_unit_path, ")
        .push_bind(within.map(str::to_owned))
        .push(
            "::text), 1)) AS min_depth
              FROM customer_facts f
              LEFT JOIN customer_tiers ct ON ct.customer_id = f.customer_id
             WHERE f.deleted_at IS NULL",
        );
    push_reach(&mut q, reach, subject, "f.account_manager");
    if let Some(unit) = within {
        q.push(" AND f.org_unit_path @> ARRAY[")
            .push_bind(unit.to_owned())
            .push("]::text[]");
    }
    q.push(
        "), invited AS (
            SELECT i.customer_id,
                   count(*) FILTER (WHERE a.starts_at <= ",
    )
    .push_bind(now)
    .push(
        ") AS held,
                   count(*) FILTER (WHERE a.starts_at <= ",
    )
    .push_bind(now)
    .push(
        " AND i.state = 'attended') AS attended
              FROM activity_invitations i JOIN activities a ON a.id = i.activity_id
             WHERE a.starts_at >= ",
    )
    .push_bind(from)
    .push(" AND a.starts_at < ")
    .push_bind(to)
    .push(
        " GROUP BY i.customer_id
         )
         SELECT u.unit AS org_unit,
                count(*) FILTER (WHERE r.vip) AS vips,
                count(*) FILTER (WHERE r.vip AND v.customer_id IS NOT NULL) AS vips_invited,
                COALESCE(sum(v.held), 0)::bigint AS invitations_held,
                COALESCE(sum(v.attended), 0)::bigint AS attended
           FROM reached r
           LEFT JOIN invited v ON v.customer_id = r.customer_id
           CROSS JOIN LATERAL unnest(r.org_unit_path) WITH ORDINALITY AS u(unit, depth)
          WHERE u.depth >= r.min_depth
          GROUP BY u.unit
         HAVING count(*) FILTER (WHERE r.vip) > 0 OR COALESCE(sum(v.held), 0) > 0
          ORDER BY u.unit",
    );
    Ok(q.build_query_as::<UnitCountsRow>().fetch_all(pool).await?)
}
