//! Care's SQL: the dates care follows for each customer, the care tasks
//! (rows of `tasks` of kind `care`, with what each is for in `care_tasks`),
//! and the family events recorded.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use patron_kit::ServiceError;
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

/// A family member's birthday as kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FamilyDateRow {
    pub name: String,
    pub relation: String,
    pub month: u32,
    pub day: u32,
}

/// The archive's dates as of `version` (CustomerCreated, CustomerUpdated);
/// an older version arriving late changes nothing. Whether it was applied.
pub async fn put_facts(
    tx: &mut PgConnection,
    customer_id: Uuid,
    wedding: Option<(u32, u32)>,
    family: &[FamilyDateRow],
    version: i64,
    at: DateTime<Utc>,
) -> Result<bool, ServiceError> {
    let done = sqlx::query(
        "INSERT INTO care_facts (customer_id, wedding_month, wedding_day, family_dates, version,
                                 updated_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (customer_id) DO UPDATE SET
           wedding_month = EXCLUDED.wedding_month, wedding_day = EXCLUDED.wedding_day,
           family_dates = EXCLUDED.family_dates, version = EXCLUDED.version,
           updated_at = EXCLUDED.updated_at
         WHERE care_facts.version < EXCLUDED.version",
    )
    .bind(customer_id)
    .bind(wedding.map(|(m, _)| m as i16))
    .bind(wedding.map(|(_, d)| d as i16))
    .bind(Json(family))
    .bind(version)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// What care knows of a customer: the birthday from the kit's projection,
/// the rest from `care_facts`.
#[derive(Debug, Clone, Default, FromRow)]
pub struct DatesRow {
    pub birthday_month: Option<i16>,
    pub birthday_day: Option<i16>,
    pub wedding_month: Option<i16>,
    pub wedding_day: Option<i16>,
    pub family_dates: Option<Json<Vec<FamilyDateRow>>>,
}

/// The dates of `customers` (their birthdays from the shared projection,
/// the rest from scheduling's own care facts); a customer with none has
/// none in the map.
pub async fn dates_of(
    conn: &mut PgConnection,
    customers: &[Uuid],
) -> Result<HashMap<Uuid, DatesRow>, ServiceError> {
    Ok(sqlx::query_as::<_, CustomerDates>(
        "SELECT f.customer_id, f.birthday_month, f.birthday_day, c.wedding_month, c.wedding_day,
                c.family_dates
           FROM customer_facts f LEFT JOIN care_facts c ON c.customer_id = f.customer_id
          WHERE f.customer_id = ANY($1)",
    )
    .bind(customers)
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(|r| (r.customer_id, r.dates))
    .collect())
}

#[derive(FromRow)]
struct CustomerDates {
    customer_id: Uuid,
    #[sqlx(flatten)]
    dates: DatesRow,
}

/// A care task the planner made, as it stands.
#[derive(Debug, Clone, FromRow)]
pub struct PlannedCare {
    pub task_id: Uuid,
    pub rule_key: String,
    pub occasion_date: NaiveDate,
    pub state: String,
    pub tier: String,
    pub gift: String,
    pub withdrawn: bool,
}

/// The customers' planned (not family-event) care tasks planned from
/// `from` on, by customer.
pub async fn planned_from(
    tx: &mut PgConnection,
    customers: &[Uuid],
    from: NaiveDate,
) -> Result<HashMap<Uuid, Vec<PlannedCare>>, ServiceError> {
    let rows: Vec<(Uuid, PlannedCare)> = sqlx::query_as::<_, CustomerCare>(
        "SELECT t.customer_id, t.id AS task_id, t.rule_key, c.occasion_date, t.state, t.tier,
                c.gift, c.withdrawn
           FROM tasks t JOIN care_tasks c ON c.task_id = t.id
          WHERE t.customer_id = ANY($1) AND t.kind = 'care' AND c.family_event_id IS NULL
            AND t.planned_date >= $2",
    )
    .bind(customers)
    .bind(from)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|r| (r.customer_id, r.care))
    .collect();
    let mut by_customer: HashMap<Uuid, Vec<PlannedCare>> = HashMap::new();
    for (customer, care) in rows {
        by_customer.entry(customer).or_default().push(care);
    }
    Ok(by_customer)
}

#[derive(FromRow)]
struct CustomerCare {
    customer_id: Uuid,
    #[sqlx(flatten)]
    care: PlannedCare,
}

/// A care task to create.
#[derive(Debug, Clone)]
pub struct NewCareTask {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub rule_key: String,
    pub rule: String,
    pub channel: String,
    pub tier: String,
    pub assignee: String,
    pub handed_over_from: Option<String>,
    pub occasion: String,
    pub person_name: String,
    pub relation: String,
    pub occasion_date: NaiveDate,
    pub due_date: NaiveDate,
    pub latest_date: NaiveDate,
    pub gift: String,
    pub family_event_id: Option<Uuid>,
}

/// Creates a care task unless the customer already has one for the same
/// occasion and day; whether it did. A family event's is created before the
/// event's own row ([`insert_family_event`]), which names it.
pub async fn insert_task(
    tx: &mut PgConnection,
    task: &NewCareTask,
    now: DateTime<Utc>,
) -> Result<bool, ServiceError> {
    Ok(!insert_tasks(tx, std::slice::from_ref(task), now)
        .await?
        .is_empty())
}

/// Creates the care tasks the customers do not have yet for the same
/// occasion and day, in two statements; the ids of those it created.
pub async fn insert_tasks(
    tx: &mut PgConnection,
    tasks: &[NewCareTask],
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, ServiceError> {
    if tasks.is_empty() {
        return Ok(Vec::new());
    }
    let text = |f: fn(&NewCareTask) -> &str| tasks.iter().map(f).collect::<Vec<&str>>();
    let created: Vec<Uuid> = sqlx::query_scalar(
        "INSERT INTO tasks (id, customer_id, kind, rule_key, rule, role, channel, tier, assignee,
                            handed_over_from, due_date, planned_date, latest_date, created_at)
         SELECT n.id, n.customer_id, 'care', n.rule_key, n.rule, 'account_manager', n.channel,
                n.tier, n.assignee, n.handed_over_from, n.due_date, n.planned_date,
                n.latest_date, $12
           FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[],
                       $7::text[], $8::text[], $9::date[], $10::date[], $11::date[])
                AS n(id, customer_id, rule_key, rule, channel, tier, assignee, handed_over_from,
                     due_date, planned_date, latest_date)
         ON CONFLICT (customer_id, rule_key, planned_date) WHERE state <> 'cancelled' DO NOTHING
         RETURNING id",
    )
    .bind(tasks.iter().map(|t| t.id).collect::<Vec<_>>())
    .bind(tasks.iter().map(|t| t.customer_id).collect::<Vec<_>>())
    .bind(text(|t| &t.rule_key))
    .bind(text(|t| &t.rule))
    .bind(text(|t| &t.channel))
    .bind(text(|t| &t.tier))
    .bind(text(|t| &t.assignee))
    .bind(
        tasks
            .iter()
            .map(|t| t.handed_over_from.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(tasks.iter().map(|t| t.due_date).collect::<Vec<_>>())
    .bind(tasks.iter().map(|t| t.occasion_date).collect::<Vec<_>>())
    .bind(tasks.iter().map(|t| t.latest_date).collect::<Vec<_>>())
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    let created_ids: std::collections::HashSet<Uuid> = created.iter().copied().collect();
    let written: Vec<&NewCareTask> = tasks
        .iter()
        .filter(|t| created_ids.contains(&t.id))
        .collect();
    if written.is_empty() {
        return Ok(created);
    }
    let text = |f: fn(&NewCareTask) -> &str| written.iter().map(|t| f(t)).collect::<Vec<&str>>();
    sqlx::query(
        "INSERT INTO care_tasks (task_id, occasion, person_name, relation, occasion_date, gift,
                                 family_event_id)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::date[],
                              $6::text[], $7::uuid[])",
    )
    .bind(written.iter().map(|t| t.id).collect::<Vec<_>>())
    .bind(text(|t| &t.occasion))
    .bind(text(|t| &t.person_name))
    .bind(text(|t| &t.relation))
    .bind(written.iter().map(|t| t.occasion_date).collect::<Vec<_>>())
    .bind(text(|t| &t.gift))
    .bind(
        written
            .iter()
            .map(|t| t.family_event_id)
            .collect::<Vec<_>>(),
    )
    .execute(&mut *tx)
    .await?;
    Ok(created)
}

/// An open care task takes the customer's tier now and its gift.
pub async fn regift(
    tx: &mut PgConnection,
    task_id: Uuid,
    tier: &str,
    gift: &str,
    rule: &str,
) -> Result<(), ServiceError> {
    sqlx::query(
        "UPDATE tasks SET tier = $2, rule = $3, version = version + 1
          WHERE id = $1 AND state = 'open'",
    )
    .bind(task_id)
    .bind(tier)
    .bind(rule)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE care_tasks SET gift = $2 WHERE task_id = $1")
        .bind(task_id)
        .bind(gift)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Cancels open care tasks the archive no longer backs, marked so the
/// planner may open them again if the date comes back.
pub async fn withdraw(tx: &mut PgConnection, task_ids: &[Uuid]) -> Result<(), ServiceError> {
    if task_ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE tasks SET state = 'cancelled', version = version + 1
          WHERE id = ANY($1) AND state = 'open'",
    )
    .bind(task_ids)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE care_tasks SET withdrawn = true WHERE task_id = ANY($1)")
        .bind(task_ids)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Opens again a withdrawn care task whose date the archive backs again.
pub async fn reopen(
    tx: &mut PgConnection,
    task_id: Uuid,
    due: NaiveDate,
    latest: NaiveDate,
    tier: &str,
    gift: &str,
    rule: &str,
) -> Result<(), ServiceError> {
    sqlx::query(
        "UPDATE tasks SET state = 'open', due_date = $2, latest_date = $3, tier = $4, rule = $5,
                          overdue_announced = false, version = version + 1
          WHERE id = $1 AND state = 'cancelled'",
    )
    .bind(task_id)
    .bind(due)
    .bind(latest)
    .bind(tier)
    .bind(rule)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE care_tasks SET withdrawn = false, gift = $2 WHERE task_id = $1")
        .bind(task_id)
        .bind(gift)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// What a care task is for, as stored.
#[derive(Debug, Clone, FromRow)]
pub struct CareRow {
    pub task_id: Uuid,
    pub customer_id: Uuid,
    pub occasion: String,
    pub person_name: String,
    pub relation: String,
    pub occasion_date: NaiveDate,
    pub gift: String,
    pub family_event_id: Option<Uuid>,
}

/// What each of `task_ids` that is a care task is for.
pub async fn details(
    conn: &mut PgConnection,
    task_ids: &[Uuid],
) -> Result<Vec<CareRow>, ServiceError> {
    Ok(sqlx::query_as::<_, CareRow>(
        "SELECT c.task_id, t.customer_id, c.occasion, c.person_name, c.relation,
                c.occasion_date, c.gift, c.family_event_id
           FROM care_tasks c JOIN tasks t ON t.id = c.task_id
          WHERE c.task_id = ANY($1)",
    )
    .bind(task_ids)
    .fetch_all(conn)
    .await?)
}

/// A family event as stored.
#[derive(Debug, Clone, FromRow)]
pub struct FamilyEventRow {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub kind: String,
    pub person_name: String,
    pub relation: String,
    pub event_date: NaiveDate,
    pub note: String,
    pub task_id: Uuid,
    pub recorded_by: String,
    pub created_at: DateTime<Utc>,
}

/// Records a family event, after its care task.
pub async fn insert_family_event(
    tx: &mut PgConnection,
    row: &FamilyEventRow,
) -> Result<(), ServiceError> {
    sqlx::query(
        "INSERT INTO family_events (id, customer_id, kind, person_name, relation, event_date,
                                    note, task_id, recorded_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(row.id)
    .bind(row.customer_id)
    .bind(&row.kind)
    .bind(&row.person_name)
    .bind(&row.relation)
    .bind(row.event_date)
    .bind(&row.note)
    .bind(row.task_id)
    .bind(&row.recorded_by)
    .bind(row.created_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

pub async fn family_event(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<FamilyEventRow>, ServiceError> {
    Ok(sqlx::query_as::<_, FamilyEventRow>(
        "SELECT id, customer_id, kind, person_name, relation, event_date, note, task_id,
                recorded_by, created_at
           FROM family_events WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?)
}
