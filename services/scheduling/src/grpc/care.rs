//! Care on the wire: RecordFamilyEvent, and what a care task is for on the
//! tasks GetTask, ListTasks and SnoozeTask answer with.

use std::collections::HashMap;

use chrono::NaiveDate;
use patron_kit::auth;
use patron_kit::{ServiceError, idempotency, resource_name, timestamp};
use patron_proto::scheduling::v1 as pb;
use patron_vocab::roles::Permission;
use prost::Message;
use sqlx::PgPool;
use tonic::{Request, Response, Status};

use super::{SchedulingApi, day, text};
use crate::care::NewFamilyEvent;
use crate::domain::care::{FamilyEvent, Occasion};
use crate::generation_job::{staff_name, wire_date};
use crate::store::care::{self as store, CareRow, FamilyEventRow};
use crate::store::tasks::TaskRow;

fn occasion_to_wire(stored: &str) -> pb::CareOccasion {
    match Occasion::parse(stored) {
        Some(Occasion::Birthday) => pb::CareOccasion::Birthday,
        Some(Occasion::WeddingAnniversary) => pb::CareOccasion::WeddingAnniversary,
        Some(Occasion::FamilyDate) => pb::CareOccasion::FamilyBirthday,
        Some(Occasion::SpringFestival) => pb::CareOccasion::SpringFestival,
        Some(Occasion::DragonBoat) => pb::CareOccasion::DragonBoat,
        Some(Occasion::MidAutumn) => pb::CareOccasion::MidAutumn,
        Some(Occasion::Wedding) => pb::CareOccasion::Wedding,
        Some(Occasion::Funeral) => pb::CareOccasion::Funeral,
        Some(Occasion::Birth) => pb::CareOccasion::Birth,
        Some(Occasion::Hospital) => pb::CareOccasion::Hospital,
        None => pb::CareOccasion::Unspecified,
    }
}

fn event_from_wire(kind: i32) -> Option<FamilyEvent> {
    Some(match pb::FamilyEventKind::try_from(kind).ok()? {
        pb::FamilyEventKind::Unspecified => return None,
        pb::FamilyEventKind::Wedding => FamilyEvent::Wedding,
        pb::FamilyEventKind::Funeral => FamilyEvent::Funeral,
        pb::FamilyEventKind::Birth => FamilyEvent::Birth,
        pb::FamilyEventKind::Hospital => FamilyEvent::Hospital,
    })
}

fn event_to_wire(stored: &str) -> pb::FamilyEventKind {
    match Occasion::parse(stored) {
        Some(Occasion::Wedding) => pb::FamilyEventKind::Wedding,
        Some(Occasion::Funeral) => pb::FamilyEventKind::Funeral,
        Some(Occasion::Birth) => pb::FamilyEventKind::Birth,
        Some(Occasion::Hospital) => pb::FamilyEventKind::Hospital,
        _ => pb::FamilyEventKind::Unspecified,
    }
}

fn family_event_name(customer: uuid::Uuid, id: uuid::Uuid) -> String {
    format!(
        "{}/familyEvents/{id}",
        resource_name::format("customers", customer)
    )
}

fn details(row: &CareRow) -> pb::CareDetails {
    pb::CareDetails {
        occasion: occasion_to_wire(&row.occasion) as i32,
        person_name: row.person_name.clone(),
        relation: row.relation.clone(),
        occasion_date: Some(wire_date(row.occasion_date)),
        gift_suggestion: row.gift.clone(),
        family_event: row
            .family_event_id
            .map(|id| family_event_name(row.customer_id, id))
            .unwrap_or_default(),
    }
}

fn family_event(row: &FamilyEventRow) -> pb::FamilyEvent {
    pb::FamilyEvent {
        name: family_event_name(row.customer_id, row.id),
        kind: event_to_wire(&row.kind) as i32,
        person_name: row.person_name.clone(),
        relation: row.relation.clone(),
        event_date: Some(wire_date(row.event_date)),
        note: row.note.clone(),
        task: resource_name::format("tasks", row.task_id),
        recorded_by: staff_name(&row.recorded_by),
        create_time: Some(timestamp::to_proto(row.created_at)),
    }
}

/// Tasks on the wire, each care task with what it is for.
pub async fn tasks(
    pool: &PgPool,
    rows: &[TaskRow],
    today: NaiveDate,
) -> Result<Vec<pb::Task>, ServiceError> {
    let care_ids: Vec<uuid::Uuid> = rows
        .iter()
        .filter(|r| r.kind == "care")
        .map(|r| r.id)
        .collect();
    let found: HashMap<uuid::Uuid, CareRow> = if care_ids.is_empty() {
        HashMap::new()
    } else {
        let mut conn = pool.acquire().await?;
        store::details(&mut conn, &care_ids)
            .await?
            .into_iter()
            .map(|c| (c.task_id, c))
            .collect()
    };
    Ok(rows
        .iter()
        .map(|row| pb::Task {
            care: found.get(&row.id).map(details),
            ..super::view::task(row, today)
        })
        .collect())
}

/// One task on the wire.
pub async fn task(
    pool: &PgPool,
    row: &TaskRow,
    today: NaiveDate,
) -> Result<pb::Task, ServiceError> {
    let mut one = tasks(pool, std::slice::from_ref(row), today).await?;
    one.pop()
        .ok_or_else(|| ServiceError::not_found(resource_name::format("tasks", row.id)))
}

/// RecordFamilyEvent: checks the request, records the event with its care
/// task, and answers with the event as stored.
pub async fn record_family_event(
    api: &SchedulingApi,
    request: Request<pb::RecordFamilyEventRequest>,
) -> Result<Response<pb::FamilyEvent>, Status> {
    let caller = auth::caller(&request)?;
    caller.require(Permission::EditCustomers)?;
    let req = request.into_inner();
    let event = req.family_event.clone().unwrap_or_default();
    let mut v = patron_kit::Violations::new();
    let customer_id = resource_name::parse("parent", "customers", &req.parent)
        .map_err(|e| v.add("parent", e.to_string()))
        .ok();
    if req.family_event.is_none() {
        v.add("family_event", "is required");
    }
    let kind = event_from_wire(event.kind);
    if kind.is_none() {
        v.add(
            "family_event.kind",
            "is required: WEDDING, FUNERAL, BIRTH or HOSPITAL",
        );
    }
    let person_name = text("family_event.person_name", &event.person_name, false, 100)
        .map_err(|e| v.add("family_event.person_name", e.to_string()))
        .ok();
    let relation = text("family_event.relation", &event.relation, false, 50)
        .map_err(|e| v.add("family_event.relation", e.to_string()))
        .ok();
    if person_name.as_deref().is_some_and(|n| !n.is_empty())
        && relation.as_deref().is_some_and(str::is_empty)
    {
        v.add(
            "family_event.relation",
            "is required when person_name is given (spouse, child, parent…)",
        );
    }
    let date = match &event.event_date {
        None => None,
        Some(d) => day("family_event.event_date", Some(d))
            .map_err(|e| v.add("family_event.event_date", e.to_string()))
            .ok(),
    };
    let note = text("family_event.note", &event.note, false, 2000)
        .map_err(|e| v.add("family_event.note", e.to_string()))
        .ok();
    let request_id = idempotency::parse_request_id("request_id", &req.request_id)
        .map_err(|e| v.add("request_id", e.to_string()))
        .ok()
        .flatten();
    v.into_result()?;
    let fingerprint =
        idempotency::fingerprint(&[req.parent.as_bytes(), &event.encode_to_vec()].concat());
    let input = NewFamilyEvent {
        customer_id: customer_id.expect("checked"),
        event: kind.expect("checked"),
        person_name: person_name.unwrap_or_default(),
        relation: relation.unwrap_or_default(),
        date,
        note: note.unwrap_or_default(),
    };
    let id = (api.scheduling)
        .record_family_event(&caller, input, request_id, &fingerprint)
        .await?;
    let mut conn = api
        .scheduling
        .pool
        .acquire()
        .await
        .map_err(ServiceError::from)?;
    let row = store::family_event(&mut conn, id)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("familyEvents/{id}")))?;
    Ok(Response::new(family_event(&row)))
}
