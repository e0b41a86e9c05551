//! Keeps the projection from profile's events. A consumer reads each event
//! with [`ProfileFact::read`] and applies what it says with
//! [`ProfileFact::apply`] inside its batch's transaction (or does both with
//! [`apply_event`]); a service with reactions of its own (tiering's cards
//! and churn) orders the facts with its other work by
//! [`ProfileFact::customer`] and [`ProfileFact::staff`].

use chrono::{DateTime, Utc};
use patron_proto::common::v1::{Date, EventEnvelope};
use patron_proto::profile::v1::{
    CustomerCreated, CustomerDeleted, CustomerExited, CustomerUpdated, ManagerReassigned,
    StaffMemberPlaced,
};
use sqlx::PgConnection;
use uuid::Uuid;

use super::store::{self, CustomerFacts};
use crate::error::ServiceError;
use crate::{events, resource_name, timestamp};

/// What one of profile's events says of the directory or of a customer's
/// placement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileFact {
    /// CustomerCreated, CustomerUpdated.
    Archive {
        customer: Uuid,
        facts: CustomerFacts,
        version: i64,
    },
    /// ManagerReassigned.
    Manager {
        customer: Uuid,
        manager: String,
        version: i64,
    },
    /// CustomerExited; `at` is when it happened, when the envelope says.
    Exited {
        customer: Uuid,
        version: i64,
        at: Option<DateTime<Utc>>,
    },
    /// CustomerDeleted.
    Deleted { customer: Uuid, version: i64 },
    /// StaffMemberPlaced; no unit when they left the directory.
    Staff {
        staff: String,
        unit: Option<String>,
        unit_path: Vec<String>,
        version: i64,
    },
}

impl ProfileFact {
    /// What `event` says, if it is one the projection keeps; an error when
    /// it is malformed.
    pub fn read(event: &EventEnvelope) -> anyhow::Result<Option<Self>> {
        let customer = |name: &str| {
            resource_name::parse("customer", "customers", name)
                .map_err(|e| anyhow::anyhow!("{} names no customer: {e}", event.event_type))
        };
        if let Some(c) = events::payload::<CustomerCreated>(event) {
            return Ok(Some(Self::Archive {
                customer: customer(&c.customer)?,
                facts: archive_facts(Archive {
                    manager: &c.account_manager,
                    org_unit: &c.org_unit,
                    org_unit_path: &c.org_unit_path,
                    birthday: c.birthday,
                    birth_year: c.birth_year,
                    preferred_contact_time: &c.preferred_contact_time,
                }),
                version: c.version,
            }));
        }
        if let Some(u) = events::payload::<CustomerUpdated>(event) {
            return Ok(Some(Self::Archive {
                customer: customer(&u.customer)?,
                facts: archive_facts(Archive {
                    manager: &u.account_manager,
                    org_unit: &u.org_unit,
                    org_unit_path: &u.org_unit_path,
                    birthday: u.birthday,
                    birth_year: u.birth_year,
                    preferred_contact_time: &u.preferred_contact_time,
                }),
                version: u.version,
            }));
        }
        if let Some(r) = events::payload::<ManagerReassigned>(event) {
            return Ok(Some(Self::Manager {
                customer: customer(&r.customer)?,
                manager: r.account_manager,
                version: r.version,
            }));
        }
        if let Some(placed) = events::payload::<StaffMemberPlaced>(event) {
            let staff = placed
                .staff_member
                .strip_prefix("staff/")
                .ok_or_else(|| anyhow::anyhow!("StaffMemberPlaced names no staff member"))?;
            let unit = placed
                .org_unit
                .strip_prefix("orgUnits/")
                .filter(|_| !placed.removed);
            return Ok(Some(Self::Staff {
                staff: staff.to_owned(),
                unit: unit.map(str::to_owned),
                unit_path: if unit.is_some() {
                    placed.org_unit_path
                } else {
                    Vec::new()
                },
                version: placed.version,
            }));
        }
        if let Some(deleted) = events::payload::<CustomerDeleted>(event) {
            return Ok(Some(Self::Deleted {
                customer: customer(&deleted.customer)?,
                version: deleted.version,
            }));
        }
        if let Some(exited) = events::payload::<CustomerExited>(event) {
            return Ok(Some(Self::Exited {
                customer: customer(&exited.customer)?,
                version: exited.version,
                at: event.occurred_at.as_ref().and_then(timestamp::from_proto),
            }));
        }
        Ok(None)
    }

    /// The customer whose row this writes, if any.
    pub fn customer(&self) -> Option<Uuid> {
        match self {
            Self::Archive { customer, .. }
            | Self::Manager { customer, .. }
            | Self::Exited { customer, .. }
            | Self::Deleted { customer, .. } => Some(*customer),
            Self::Staff { .. } => None,
        }
    }

    /// The staff member whose row this writes, if any.
    pub fn staff(&self) -> Option<&str> {
        match self {
            Self::Staff { staff, .. } => Some(staff),
            _ => None,
        }
    }

    /// Writes what this says into the projection, unless a later event
    /// already said more; `at` stamps the rows.
    pub async fn apply(
        &self,
        tx: &mut PgConnection,
        at: DateTime<Utc>,
    ) -> Result<(), ServiceError> {
        match self {
            Self::Archive {
                customer,
                facts,
                version,
            } => store::put_archive(tx, *customer, facts, *version, at).await,
            Self::Manager {
                customer,
                manager,
                version,
            } => store::put_manager(tx, *customer, manager, *version, at).await,
            Self::Exited {
                customer,
                version,
                at: exited_at,
            } => store::mark_exited(tx, *customer, *version, exited_at.unwrap_or(at), at).await,
            Self::Deleted { customer, version } => {
                store::mark_deleted(tx, *customer, *version, at).await
            }
            Self::Staff {
                staff,
                unit,
                unit_path,
                version,
            } => store::put_staff(tx, staff, unit.as_deref(), unit_path, *version, at).await,
        }
    }
}

/// Reads `event` and, if the projection keeps what it says, applies it in
/// the consumer's transaction; whether it did.
pub async fn apply_event(
    tx: &mut PgConnection,
    event: &EventEnvelope,
    at: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let Some(fact) = ProfileFact::read(event)? else {
        return Ok(false);
    };
    fact.apply(tx, at).await?;
    Ok(true)
}

/// What CustomerCreated and CustomerUpdated both say of an archive.
struct Archive<'a> {
    manager: &'a str,
    org_unit: &'a str,
    org_unit_path: &'a [String],
    birthday: Option<Date>,
    birth_year: i32,
    preferred_contact_time: &'a str,
}

/// The longest preferred contact time kept: a few words, not an essay.
const PREFERRED_CONTACT_TIME_CHARS: usize = 200;

/// An archive's facts; a birthday only when it is a real month and day, a
/// year of birth only when it is a real year.
fn archive_facts(archive: Archive<'_>) -> CustomerFacts {
    let known = archive
        .birthday
        .filter(|d| (1..=12).contains(&d.month) && (1..=31).contains(&d.day));
    CustomerFacts {
        account_manager: archive.manager.to_owned(),
        org_unit: archive.org_unit.to_owned(),
        org_unit_path: archive.org_unit_path.to_vec(),
        birthday_month: known.map(|d| d.month as i16),
        birthday_day: known.map(|d| d.day as i16),
        birth_year: Some(archive.birth_year).filter(|y| (1..=9999).contains(y)),
        preferred_contact_time: archive
            .preferred_contact_time
            .trim()
            .chars()
            .take(PREFERRED_CONTACT_TIME_CHARS)
            .collect(),
        deleted: false,
        exited: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn envelope<M: Message + prost::Name>(message: &M) -> EventEnvelope {
        EventEnvelope {
            event_id: Uuid::now_v7().to_string(),
            event_type: M::full_name(),
            payload: message.encode_to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn the_year_of_birth_and_the_stated_habit_are_kept() {
        let customer = Uuid::now_v7();
        let read = |birth_year, preferred: &str| {
            let fact = ProfileFact::read(&envelope(&CustomerUpdated {
                customer: format!("customers/{customer}"),
                birth_year,
                preferred_contact_time: preferred.into(),
                version: 2,
                ..Default::default()
            }))
            .unwrap()
            .unwrap();
            let ProfileFact::Archive { facts, .. } = fact else {
                panic!("{fact:?}")
            };
            facts
        };
        let facts = read(1958, "  weekday evenings ");
        assert_eq!(facts.birth_year, Some(1958));
        assert_eq!(facts.preferred_contact_time, "weekday evenings");
        assert_eq!(read(0, "").birth_year, None);
        assert_eq!(read(-5, "").birth_year, None);
        assert_eq!(read(12_000, "").birth_year, None);
        assert_eq!(
            read(1958, &"x".repeat(500))
                .preferred_contact_time
                .chars()
                .count(),
            PREFERRED_CONTACT_TIME_CHARS
        );
    }

    #[test]
    fn a_placement_keeps_the_units_path_and_a_removal_none() {
        let placed = ProfileFact::read(&envelope(&StaffMemberPlaced {
            staff_member: "staff/zhao".into(),
            org_unit: "orgUnits/sh".into(),
            removed: false,
            version: 3,
            org_unit_path: vec!["company".into(), "east".into(), "sh".into()],
        }))
        .unwrap();
        assert_eq!(
            placed,
            Some(ProfileFact::Staff {
                staff: "zhao".into(),
                unit: Some("sh".into()),
                unit_path: vec!["company".into(), "east".into(), "sh".into()],
                version: 3,
            })
        );
        let removed = ProfileFact::read(&envelope(&StaffMemberPlaced {
            staff_member: "staff/zhao".into(),
            org_unit: "orgUnits/sh".into(),
            removed: true,
            version: 4,
            org_unit_path: vec!["company".into()],
        }))
        .unwrap()
        .unwrap();
        assert_eq!(removed.staff(), Some("zhao"));
        assert_eq!(
            removed,
            ProfileFact::Staff {
                staff: "zhao".into(),
                unit: None,
                unit_path: vec![],
                version: 4,
            }
        );
    }

    #[test]
    fn an_impossible_birthday_is_not_kept_and_bad_names_are_errors() {
        let customer = Uuid::now_v7();
        let fact = ProfileFact::read(&envelope(&CustomerCreated {
            customer: format!("customers/{customer}"),
            account_manager: "li".into(),
            birthday: Some(Date {
                year: 1980,
                month: 13,
                day: 1,
            }),
            version: 1,
            ..Default::default()
        }))
        .unwrap()
        .unwrap();
        assert_eq!(fact.customer(), Some(customer));
        let ProfileFact::Archive { facts, .. } = fact else {
            panic!("{fact:?}")
        };
        assert_eq!(facts.birthday(), None);
        assert_eq!(facts.birth_year, None, "no year given");
        assert_eq!(facts.account_manager, "li");
        assert!(
            ProfileFact::read(&envelope(&CustomerDeleted {
                customer: "nobody".into(),
                ..Default::default()
            }))
            .is_err()
        );
        assert!(
            ProfileFact::read(&envelope(&StaffMemberPlaced {
                staff_member: "zhao".into(),
                ..Default::default()
            }))
            .is_err()
        );
    }
}
