//! Complaints: intake, the row a step locks and writes back, the timeline,
//! finished stages and the lists.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use patron_kit::ServiceError;
use patron_kit::events::EventBatch;
use sqlx::{FromRow, PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::domain::deadlines::StageClock;
use crate::domain::handling::{FinishedStage, Handling, Pause, Step};
use crate::domain::workflow::State;

/// What the customer told the company, as checked at intake and never
/// changed after.
#[derive(Debug, Clone, FromRow)]
pub struct IntakeFields {
    pub customer_id: Uuid,
    pub channel: String,
    pub order_number: String,
    pub item: String,
    pub quantity_milli: Option<i64>,
    pub quantity_unit: String,
    pub quantity_undetermined: bool,
    pub delivery_date: Option<NaiveDate>,
    pub demand: String,
    pub reason: String,
    pub description: String,
    pub attachments: serde_json::Value,
}

/// What intake writes once.
#[derive(Debug, Clone)]
pub struct NewComplaint {
    pub id: Uuid,
    pub number: String,
    pub intake: IntakeFields,
    pub org_unit: String,
    pub org_unit_path: Vec<String>,
    pub account_manager: String,
    pub customer_exited: bool,
    pub handler: String,
    pub handler_unit_path: Vec<String>,
    pub repeat_of: Option<Uuid>,
    pub received_at: DateTime<Utc>,
}

/// A complaint as stored.
#[derive(Debug, Clone, FromRow)]
pub struct ComplaintRow {
    pub id: Uuid,
    pub number: String,
    #[sqlx(flatten)]
    pub intake: IntakeFields,
    pub tier: String,
    pub org_unit: String,
    pub org_unit_path: Vec<String>,
    pub account_manager: String,
    pub customer_exited: bool,
    pub handler: String,
    pub handler_unit_path: Vec<String>,
    pub repeat_of: Option<Uuid>,
    pub state: String,
    pub investigation: Option<serde_json::Value>,
    pub resolution: Option<serde_json::Value>,
    pub loss_minor: Option<i64>,
    pub loss_currency: Option<String>,
    pub root_cause: Option<String>,
    pub not_valid_reason: String,
    pub stage_started_at: DateTime<Utc>,
    pub stage_worked_secs: i64,
    pub stage_running_since: Option<DateTime<Utc>>,
    pub stage_paused_secs: i64,
    pub paused_reason: String,
    pub paused_since: Option<DateTime<Utc>>,
    pub paused_secs: i64,
    pub due_at: Option<DateTime<Utc>>,
    pub warned: bool,
    pub escalation_level: i32,
    pub overdue: bool,
    pub reopen_count: i32,
    pub received_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub survey_score: Option<i16>,
    pub survey_comment: Option<String>,
    pub survey_by: Option<String>,
    pub survey_at: Option<DateTime<Utc>>,
    pub version: i64,
}

const COLUMNS: &str =
    "id, number, customer_id, channel, order_number, item, quantity_milli, quantity_unit,
    quantity_undetermined, delivery_date, demand, reason, description, attachments, tier, org_unit,
    org_unit_path, account_manager, customer_exited, handler, handler_unit_path, repeat_of, state,
    investigation, resolution, loss_minor, loss_currency, root_cause, not_valid_reason,
    stage_started_at, stage_worked_secs, stage_running_since, stage_paused_secs, paused_reason,
    paused_since, paused_secs, due_at, warned, escalation_level, overdue, reopen_count, received_at,
    closed_at, survey_score, survey_comment, survey_by, survey_at, version";

fn secs(d: Duration) -> i64 {
    d.num_seconds()
}

impl ComplaintRow {
    /// The handling the domain works on.
    pub fn handling(&self) -> Handling {
        Handling {
            state: State::parse(&self.state).unwrap_or(State::Received),
            tier: self.tier.clone(),
            stage_started_at: self.stage_started_at,
            clock: StageClock {
                worked: Duration::seconds(self.stage_worked_secs),
                running_since: self.stage_running_since,
            },
            stage_paused: Duration::seconds(self.stage_paused_secs),
            pause: self.paused_since.map(|since| Pause {
                reason: self.paused_reason.clone(),
                since,
            }),
            paused_total: Duration::seconds(self.paused_secs),
            due_at: self.due_at,
            warned: self.warned,
            escalation_level: self.escalation_level,
            overdue: self.overdue,
            reopen_count: self.reopen_count,
            closed_at: self.closed_at,
            loss_minor: self.loss_minor,
        }
    }

    /// The row after `handling`'s changes.
    pub fn apply(&mut self, handling: &Handling) {
        self.state = handling.state.name().to_owned();
        self.stage_started_at = handling.stage_started_at;
        self.stage_worked_secs = secs(handling.clock.worked);
        self.stage_running_since = handling.clock.running_since;
        self.stage_paused_secs = secs(handling.stage_paused);
        self.paused_reason = handling
            .pause
            .as_ref()
            .map(|p| p.reason.clone())
            .unwrap_or_default();
        self.paused_since = handling.pause.as_ref().map(|p| p.since);
        self.paused_secs = secs(handling.paused_total);
        self.due_at = handling.due_at;
        self.warned = handling.warned;
        self.escalation_level = handling.escalation_level;
        self.overdue = handling.overdue;
        self.reopen_count = handling.reopen_count;
        self.closed_at = handling.closed_at;
        self.loss_minor = handling.loss_minor;
    }
}

/// Queues the transaction behind every other intake of the same customers
/// (`$1`, a `uuid[]`) until it ends, so that a repeat look-up in a later
/// statement sees their complaints, committed, and none of them misses this
/// transaction's. One row, the number of keys locked. The locks are taken in
/// one order, so two groups cannot wait on each other, and before the
/// month's serial row, which is then held for the insert alone.
pub const LOCK_CUSTOMERS_FOR_REPEATS: &str =
    "SELECT count(pg_advisory_xact_lock(hashtext(current_schema() || '.repeats'), k)) AS locked
       FROM (SELECT DISTINCT hashtext(c::text) AS k FROM unnest($1::uuid[]) AS u(c)
              ORDER BY k) AS keys";

/// What a group of intakes reads and takes before it is written.
#[derive(Debug, Default)]
pub struct SerialsAndLatest {
    /// Each month's last serial given before this group's.
    pub last_before: BTreeMap<String, i64>,
    /// Each customer's latest complaint in the window: its id and receipt.
    pub latest: HashMap<Uuid, (Uuid, DateTime<Utc>)>,
}

/// Takes `count` serials of each month in `counts` (key `2026-11`, say) in
/// the intakes' transaction, and reads each of `customer_ids`' latest
/// complaint received at or after `since`, in one statement.
///
/// The months' rows are taken in the order of their keys, so two groups
/// that span a month's end cannot wait on each other; each stays locked
/// until the transaction ends, so concurrent intakes of the month queue, and
/// a rolled-back transaction gives back every serial it took. The read needs
/// a snapshot taken after the customers' locks
/// ([`LOCK_CUSTOMERS_FOR_REPEATS`], in an earlier statement) and no later one.
/// Of two complaints received at the same instant the later number is the
/// latest (a longer serial is a later one, past 9999 in a month); each
/// customer's newest rows are read from the customer's index and no others.
pub async fn take_serials_and_read_latest(
    tx: &mut PgConnection,
    counts: &BTreeMap<String, i64>,
    customer_ids: &[Uuid],
    since: DateTime<Utc>,
) -> Result<SerialsAndLatest, ServiceError> {
    type Row = (
        Option<String>,
        Option<i64>,
        Option<Uuid>,
        Option<Uuid>,
        Option<DateTime<Utc>>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "WITH taken AS (
              INSERT INTO complaint_serials (month, last_serial)
              SELECT month, n FROM unnest($1::text[], $2::bigint[]) AS t(month, n) ORDER BY month
              ON CONFLICT (month) DO UPDATE
                 SET last_serial = complaint_serials.last_serial + excluded.last_serial
              RETURNING month, last_serial)
         SELECT month, last_serial, NULL::uuid, NULL::uuid, NULL::timestamptz FROM taken
         UNION ALL
         SELECT NULL, NULL, u.customer_id, l.id, l.received_at
           FROM (SELECT DISTINCT unnest($3::uuid[])) AS u(customer_id)
          CROSS JOIN LATERAL (
                SELECT id, received_at FROM complaints
                 WHERE customer_id = u.customer_id AND received_at >= $4
                 ORDER BY received_at DESC, length(number) DESC, number DESC
                 LIMIT 1) AS l",
    )
    .bind(counts.keys().collect::<Vec<_>>())
    .bind(counts.values().collect::<Vec<_>>())
    .bind(customer_ids)
    .bind(since)
    .fetch_all(&mut *tx)
    .await?;
    let mut found = SerialsAndLatest::default();
    for row in rows {
        match row {
            (Some(month), Some(last), ..) => {
                let taken = counts.get(&month).copied().unwrap_or_default();
                found.last_before.insert(month, last - taken);
            }
            (_, _, Some(customer), Some(id), Some(at)) => {
                found.latest.insert(customer, (id, at));
            }
            _ => {}
        }
    }
    Ok(found)
}

/// A complaint intake writes, with its handling and first alarm.
pub struct IntakeRow<'a> {
    pub complaint: &'a NewComplaint,
    pub handling: &'a Handling,
    pub next_alarm_at: Option<DateTime<Utc>>,
    /// The first line of its timeline, written at its receipt.
    pub received: &'a Step,
    pub actor: &'a str,
}

/// A new complaint as stored, with the first line of its timeline.
pub struct Stored {
    pub row: ComplaintRow,
    pub first_line: TimelineRow,
}

/// Writes new complaints, the first line of each one's timeline and their
/// events, in one statement; answers them as stored. Each column travels as
/// one array, so the statement's text is the same for every group size: it
/// is prepared once per connection and its bind carries a few dozen
/// parameters, not thirty per complaint. A unit path is an array itself and
/// PostgreSQL's arrays cannot nest unevenly, so the paths travel as JSON.
pub async fn insert(
    tx: &mut PgConnection,
    rows: &[IntakeRow<'_>],
    events: EventBatch,
) -> Result<Vec<Stored>, ServiceError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let state = |s: Option<State>| s.map(|s| s.name().to_owned());
    /// One column of the rows, as the array it travels in.
    fn column<'r, T>(rows: &'r [IntakeRow<'_>], f: impl Fn(&'r IntakeRow<'_>) -> T) -> Vec<T> {
        rows.iter().map(f).collect()
    }
    let path = |p: &[String]| serde_json::Value::from(p.to_vec());
    let mut q = QueryBuilder::<Postgres>::new("WITH r AS (SELECT * FROM unnest(");
    let mut sep = q.separated(", ");
    sep.push_bind(column(rows, |r| r.complaint.id))
        .push_unseparated("::uuid[]");
    sep.push_bind(column(rows, |r| &r.complaint.number))
        .push_unseparated("::text[]");
    sep.push_bind(column(rows, |r| r.complaint.intake.customer_id))
        .push_unseparated("::uuid[]");
    sep.push_bind(column(rows, |r| &r.complaint.intake.channel))
        .push_unseparated("::text[]");
    sep.push_bind(column(rows, |r| &r.complaint.intake.order_number))
        .push_unseparated("::text[]");
    sep.push_bind(column(rows, |r| &r.complaint.intake.item))
        .push_unseparated("::text[]");
    sep.push_bind(column(rows, |r| r.complaint.intake.quantity_milli))
        .push_unseparated("::bigint[]");
    sep.push_bind(column(rows, |r| &r.complaint.intake.quantity_unit))
        .push_unseparated("::text[]");
    sep.push_bind(column(rows, |r| r.complaint.intake.quantity_undetermined))
        .push_unseparated("::boolean[]");
    sep.push_bind(column(rows, |r| r.complaint.intake.delivery_date))
        .push_unseparated("::date[]");
    sep.push_bind(column(rows, |r| &r.complaint.intake.demand))
        .push_unseparated("::text[]");
    sep.push_bind(column(rows, |r| &r.complaint.intake.reason))
        .push_unseparated("::text[]");
    sep.push_bind(column(rows, |r| &r.complaint.intake.description))
        .push_unseparated("::text[]");
    sep.push_bind(column(rows, |r| &r.complaint.intake.attachments))
        .push_unseparated("::jsonb[]");
    sep.push_bind(column(rows, |r| &r.handling.tier))
        .push_unseparated("::text[]");
    sep.push_bind(column(rows, |r| &r.complaint.org_unit))
        .push_unseparated("::text[]");
    sep.push_bind(column(rows, |r| path(&r.complaint.org_unit_path)))
        .push_unseparated("::jsonb[]");
    sep.push_bind(column(rows, |r| &r.complaint.account_manager))
        .push_unseparated("::text[]");
    sep.push_bind(column(rows, |r| r.complaint.customer_exited))
        .push_unseparated("::boolean[]");
    sep.push_bind(column(rows, |r| &r.complaint.handler))
        .push_unseparated("::text[]");
    sep.push_bind(column(rows, |r| path(&r.complaint.handler_unit_path)))
        .push_unseparated("::jsonb[]");
    sep.push_bind(column(rows, |r| r.complaint.repeat_of))
        .push_unseparated("::uuid[]");
    sep.push_bind(column(rows, |r| r.handling.state.name()))
        .push_unseparated("::text[]");
    sep.push_bind(column(rows, |r| r.handling.due_at))
        .push_unseparated("::timestamptz[]");
    sep.push_bind(column(rows, |r| r.next_alarm_at))
        .push_unseparated("::timestamptz[]");
    sep.push_bind(column(rows, |r| r.complaint.received_at))
        .push_unseparated("::timestamptz[]");
    // The timeline's first line: the line's instant is the complaint's
    // own, so the line answered below is the one stored.
    sep.push_bind(column(rows, |r| r.received.kind))
        .push_unseparated("::text[]");
    sep.push_bind(column(rows, |r| state(r.received.from)))
        .push_unseparated("::text[]");
    sep.push_bind(column(rows, |r| state(r.received.to)))
        .push_unseparated("::text[]");
    sep.push_bind(column(rows, |r| r.actor))
        .push_unseparated("::text[]");
    sep.push_bind(column(rows, |r| &r.received.note))
        .push_unseparated("::text[]");
    q.push(
        ") AS r(id, number, customer_id, channel, order_number, item, quantity_milli, quantity_unit,
               quantity_undetermined, delivery_date, demand, reason, description, attachments, tier,
               org_unit, org_unit_path, account_manager, customer_exited, handler, handler_unit_path,
               repeat_of, state, due_at, next_alarm_at, received_at,
               line_kind, line_from, line_to, line_actor, line_note)),
         c AS (INSERT INTO complaints (id, number, customer_id, channel, order_number, item, quantity_milli,
             quantity_unit, quantity_undetermined, delivery_date, demand, reason, description, attachments,
             tier, org_unit, org_unit_path, account_manager, customer_exited, handler, handler_unit_path,
             repeat_of, state, stage_started_at, stage_running_since, due_at, next_alarm_at, received_at,
             version, updated_at)
             SELECT id, number, customer_id, channel, order_number, item, quantity_milli, quantity_unit,
                    quantity_undetermined, delivery_date, demand, reason, description, attachments, tier,
                    org_unit, ARRAY(SELECT jsonb_array_elements_text(org_unit_path)), account_manager,
                    customer_exited, handler, ARRAY(SELECT jsonb_array_elements_text(handler_unit_path)),
                    repeat_of, state, received_at, received_at, due_at, next_alarm_at, received_at,
                    1, received_at
               FROM r
             RETURNING ",
    );
    q.push(COLUMNS);
    q.push(
        "), t AS (INSERT INTO complaint_timeline
                     (complaint_id, seq, kind, from_state, to_state, actor, at, note)
                   SELECT id, 1, line_kind, line_from, line_to, line_actor, received_at, line_note
                     FROM r), o AS (",
    );
    events.push_write(&mut q);
    q.push(") SELECT * FROM c");
    let stored: Vec<ComplaintRow> = q.build_query_as().fetch_all(&mut *tx).await?;
    let mut written: HashMap<Uuid, &IntakeRow<'_>> =
        rows.iter().map(|r| (r.complaint.id, r)).collect();
    Ok(stored
        .into_iter()
        .filter_map(|row| {
            let intake = written.remove(&row.id)?;
            let first_line = TimelineRow {
                kind: intake.received.kind.to_owned(),
                from_state: state(intake.received.from),
                to_state: state(intake.received.to),
                actor: intake.actor.to_owned(),
                at: row.received_at,
                note: intake.received.note.clone(),
            };
            Some(Stored { row, first_line })
        })
        .collect())
}

/// Reads a complaint.
pub async fn get(pool: &PgPool, id: Uuid) -> Result<Option<ComplaintRow>, ServiceError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM complaints WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?)
}

/// Reads a complaint inside a transaction, locked until it ends.
pub async fn lock(tx: &mut PgConnection, id: Uuid) -> Result<Option<ComplaintRow>, ServiceError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM complaints WHERE id = $1 FOR UPDATE"
    )))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?)
}

/// Writes back everything a step may change, and the next alarm; the
/// version goes up by one.
pub async fn update(
    tx: &mut PgConnection,
    row: &ComplaintRow,
    next_alarm_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<i64, ServiceError> {
    Ok(sqlx::query_scalar(
        "UPDATE complaints SET
             handler = $2, handler_unit_path = $3, state = $4, investigation = $5, resolution = $6,
             loss_minor = $7, loss_currency = $8, root_cause = $9, not_valid_reason = $10,
             stage_started_at = $11, stage_worked_secs = $12, stage_running_since = $13,
             stage_paused_secs = $14, paused_reason = $15, paused_since = $16, paused_secs = $17,
             due_at = $18, warned = $19, escalation_level = $20, overdue = $21, reopen_count = $22,
             closed_at = $23, survey_score = $24, survey_comment = $25, survey_by = $26, survey_at = $27,
             next_alarm_at = $28, version = version + 1, updated_at = $29
         WHERE id = $1 RETURNING version",
    )
    .bind(row.id)
    .bind(&row.handler)
    .bind(&row.handler_unit_path)
    .bind(&row.state)
    .bind(&row.investigation)
    .bind(&row.resolution)
    .bind(row.loss_minor)
    .bind(&row.loss_currency)
    .bind(&row.root_cause)
    .bind(&row.not_valid_reason)
    .bind(row.stage_started_at)
    .bind(row.stage_worked_secs)
    .bind(row.stage_running_since)
    .bind(row.stage_paused_secs)
    .bind(&row.paused_reason)
    .bind(row.paused_since)
    .bind(row.paused_secs)
    .bind(row.due_at)
    .bind(row.warned)
    .bind(row.escalation_level)
    .bind(row.overdue)
    .bind(row.reopen_count)
    .bind(row.closed_at)
    .bind(row.survey_score)
    .bind(&row.survey_comment)
    .bind(&row.survey_by)
    .bind(row.survey_at)
    .bind(next_alarm_at)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?)
}

/// One timeline line as stored.
#[derive(Debug, Clone, FromRow)]
pub struct TimelineRow {
    pub kind: String,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub actor: String,
    pub at: DateTime<Utc>,
    pub note: String,
}

/// A timeline line with its complaint.
#[derive(FromRow)]
struct TimelineLine {
    complaint_id: Uuid,
    #[sqlx(flatten)]
    row: TimelineRow,
}

/// Appends `steps` to the complaint's timeline, in order.
pub async fn append_timeline(
    tx: &mut PgConnection,
    complaint_id: Uuid,
    steps: &[Step],
    actor: &str,
    at: DateTime<Utc>,
) -> Result<(), ServiceError> {
    if steps.is_empty() {
        return Ok(());
    }
    let state = |s: Option<State>| s.map(|s| s.name().to_owned());
    sqlx::query(
        "INSERT INTO complaint_timeline (complaint_id, seq, kind, from_state, to_state, actor, at, note)
         SELECT $1, base.seq + s.n, s.kind, s.from_state, s.to_state, $2, $3, s.note
           FROM (SELECT coalesce(max(seq), 0) AS seq FROM complaint_timeline WHERE complaint_id = $1) base,
                unnest($4::text[], $5::text[], $6::text[], $7::text[]) WITH ORDINALITY
                  AS s(kind, from_state, to_state, note, n)",
    )
    .bind(complaint_id)
    .bind(actor)
    .bind(at)
    .bind(steps.iter().map(|s| s.kind).collect::<Vec<_>>())
    .bind(steps.iter().map(|s| state(s.from)).collect::<Vec<_>>())
    .bind(steps.iter().map(|s| state(s.to)).collect::<Vec<_>>())
    .bind(steps.iter().map(|s| s.note.as_str()).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The complaints' timelines, oldest first per complaint.
pub async fn timelines(
    pool: &PgPool,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, TimelineRow)>, ServiceError> {
    let lines: Vec<TimelineLine> = sqlx::query_as(
        "SELECT complaint_id, kind, from_state, to_state, actor, at, note FROM complaint_timeline
          WHERE complaint_id = ANY($1) ORDER BY complaint_id, seq",
    )
    .bind(ids)
    .fetch_all(pool)
    .await?;
    Ok(lines.into_iter().map(|l| (l.complaint_id, l.row)).collect())
}

/// Records a finished stage.
pub async fn insert_stage(
    tx: &mut PgConnection,
    complaint_id: Uuid,
    stage: &FinishedStage,
) -> Result<(), ServiceError> {
    sqlx::query(
        "INSERT INTO complaint_stages (complaint_id, seq, stage, started_at, ended_at, worked_secs,
                                       paused_secs, on_time)
         SELECT $1, coalesce(max(seq), 0) + 1, $2, $3, $4, $5, $6, $7
           FROM complaint_stages WHERE complaint_id = $1",
    )
    .bind(complaint_id)
    .bind(stage.stage.name())
    .bind(stage.started_at)
    .bind(stage.ended_at)
    .bind(secs(stage.worked))
    .bind(secs(stage.paused))
    .bind(stage.on_time)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// What a list may be narrowed to.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub customer_id: Option<Uuid>,
    pub state: Option<String>,
    pub handler: Option<String>,
    /// Only open complaints whose deadline passed before this instant.
    pub past_deadline_at: Option<DateTime<Utc>>,
}

/// Whose complaints a caller reaches: all, or those of customers on a unit
/// path holding `unit` or managed by `manager`.
#[derive(Debug, Clone, Default)]
pub struct ReachFilter {
    pub company: bool,
    pub unit: Option<String>,
    pub manager: Option<String>,
}

/// A page of complaints, newest first, after the cursor (received_at, id).
pub async fn list(
    pool: &PgPool,
    filter: &ListFilter,
    reach: &ReachFilter,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<ComplaintRow>, ServiceError> {
    let mut query = sqlx::QueryBuilder::new(format!("SELECT {COLUMNS} FROM complaints WHERE true"));
    if !reach.company {
        query.push(" AND (");
        match &reach.unit {
            Some(unit) => {
                query
                    .push("org_unit_path @> ARRAY[")
                    .push_bind(unit.clone())
                    .push("]::text[]");
            }
            None => {
                query.push("false");
            }
        }
        if let Some(manager) = &reach.manager {
            query
                .push(" OR account_manager = ")
                .push_bind(manager.clone());
        }
        query.push(")");
    }
    if let Some(customer) = filter.customer_id {
        query.push(" AND customer_id = ").push_bind(customer);
    }
    if let Some(state) = &filter.state {
        query.push(" AND state = ").push_bind(state.clone());
    }
    if let Some(handler) = &filter.handler {
        query.push(" AND handler = ").push_bind(handler.clone());
    }
    if let Some(now) = filter.past_deadline_at {
        query
            .push(" AND state NOT IN ('closed', 'not_valid') AND due_at < ")
            .push_bind(now);
    }
    if let Some((received_at, id)) = after {
        query
            .push(" AND (received_at, id) < (")
            .push_bind(received_at)
            .push(", ")
            .push_bind(id)
            .push(")");
    }
    query
        .push(" ORDER BY received_at DESC, id DESC LIMIT ")
        .push_bind(limit);
    Ok(query.build_query_as().fetch_all(pool).await?)
}

/// Complaints whose next alarm is due by `now`, locked for this
/// transaction and skipped by every other replica's job.
pub async fn lock_due_alarms(
    tx: &mut PgConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<ComplaintRow>, ServiceError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM complaints
          WHERE next_alarm_at <= $1
          ORDER BY next_alarm_at LIMIT $2 FOR UPDATE SKIP LOCKED"
    )))
    .bind(now)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?)
}
