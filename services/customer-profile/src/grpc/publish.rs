//! What profile publishes about an archive: the facts its events carry
//! for the other services.

use patron_kit::ServiceError;
use patron_proto::profile::v1 as pb;

use patron_proto::common::v1::Date;

use crate::access;
use crate::store::CustomerRow;
use crate::store::organisation as directory;

/// CustomerCreated for a newly opened archive, `stored` being its resource
/// unmasked, written in `this_year` (the company's zone).
pub(super) async fn created(
    tx: &mut sqlx::PgConnection,
    name: &str,
    row: &CustomerRow,
    stored: &pb::Customer,
    this_year: i32,
) -> Result<pb::CustomerCreated, ServiceError> {
    let care = CareFacts::of(stored, this_year);
    Ok(pb::CustomerCreated {
        customer: name.to_owned(),
        archive_number: row.archive_number.clone(),
        kind: i32::from(row.kind),
        display_name: row.display_name.clone(),
        account_manager: row.account_manager.clone(),
        version: row.version,
        birthday: birthday_of(stored),
        org_unit: access::unit_name(&row.org_unit_id),
        org_unit_path: unit_path(tx, &row.org_unit_id).await?,
        birth_year: care.birth_year,
        wedding_anniversary: care.wedding_anniversary,
        family_dates: care.family_dates,
        preferred_contact_time: care.preferred_contact_time,
    })
}

/// CustomerUpdated for an archive's write, `after` being its resource
/// unmasked, written in `this_year` (the company's zone).
pub(super) async fn updated(
    tx: &mut sqlx::PgConnection,
    name: &str,
    updated: &CustomerRow,
    after: &pb::Customer,
    changed_fields: Vec<String>,
    this_year: i32,
) -> Result<pb::CustomerUpdated, ServiceError> {
    let care = CareFacts::of(after, this_year);
    Ok(pb::CustomerUpdated {
        customer: name.to_owned(),
        changed_fields,
        version: updated.version,
        account_manager: updated.account_manager.clone(),
        birthday: birthday_of(after),
        org_unit: access::unit_name(&updated.org_unit_id),
        org_unit_path: unit_path(tx, &updated.org_unit_id).await?,
        birth_year: care.birth_year,
        wedding_anniversary: care.wedding_anniversary,
        family_dates: care.family_dates,
        preferred_contact_time: care.preferred_contact_time,
    })
}

/// A person's birthday, carried on archive events for the services that
/// act on it (birthday discounts, care).
fn birthday_of(customer: &pb::Customer) -> Option<Date> {
    customer.person.as_ref().and_then(|p| p.birthday)
}

/// What archive events carry for scheduling: the age that decides a
/// contact window, the dates care follows and the customer's own word on
/// when to call.
#[derive(Debug, Default, PartialEq)]
struct CareFacts {
    birth_year: i32,
    wedding_anniversary: Option<Date>,
    family_dates: Vec<pb::FamilyDate>,
    preferred_contact_time: String,
}

impl CareFacts {
    fn of(customer: &pb::Customer, this_year: i32) -> Self {
        let person = customer.person.as_ref();
        Self {
            birth_year: person.map_or(0, |p| birth_year(p, this_year)),
            wedding_anniversary: person.and_then(|p| p.wedding_anniversary),
            family_dates: customer
                .family_members
                .iter()
                .filter_map(|m| {
                    Some(pb::FamilyDate {
                        name: m.name.clone(),
                        relation: m.relation.clone(),
                        birthday: Some(m.birthday?),
                    })
                })
                .collect(),
            preferred_contact_time: customer
                .soft_facts
                .as_ref()
                .map(|s| s.preferred_contact_time.trim().to_owned())
                .unwrap_or_default(),
        }
    }
}

/// The birthday's year when the archive has it; else the approximate age
/// counted back from `this_year` (an estimate: the archive keeps the age, not
/// when it was asked); 0 when neither is known.
fn birth_year(person: &pb::PersonFacts, this_year: i32) -> i32 {
    match person.birthday {
        Some(d) if d.year > 0 => d.year,
        _ if person.approximate_age > 0 => this_year - person.approximate_age,
        _ => 0,
    }
}

/// The ids of the units from the company down to `unit`, carried on archive
/// events so other services can tell whose subtree an archive is in.
async fn unit_path(tx: &mut sqlx::PgConnection, unit: &str) -> Result<Vec<String>, ServiceError> {
    let row = directory::get_unit(tx, unit).await?.ok_or_else(|| {
        ServiceError::internal(anyhow::anyhow!("the archive's unit {unit} is missing"))
    })?;
    Ok(crate::domain::organisation::path_ids(&row.path)
        .into_iter()
        .map(str::to_owned)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(year: i32, month: i32, day: i32) -> Date {
        Date { year, month, day }
    }

    #[test]
    fn the_birth_year_comes_from_the_birthday_else_the_approximate_age() {
        let person = |birthday: Option<Date>, approximate_age| pb::PersonFacts {
            birthday,
            approximate_age,
            ..Default::default()
        };
        assert_eq!(birth_year(&person(Some(date(1950, 3, 8)), 40), 2026), 1950);
        assert_eq!(birth_year(&person(Some(date(0, 3, 8)), 40), 2026), 1986);
        assert_eq!(birth_year(&person(None, 66), 2027), 1961);
        assert_eq!(birth_year(&person(Some(date(0, 3, 8)), 0), 2026), 0);
        assert_eq!(birth_year(&person(None, 0), 2026), 0);
    }

    #[test]
    fn care_facts_carry_dated_family_members_and_the_stated_habit() {
        let customer = pb::Customer {
            person: Some(pb::PersonFacts {
                birthday: Some(date(1980, 2, 29)),
                wedding_anniversary: Some(date(2005, 10, 1)),
                ..Default::default()
            }),
            family_members: vec![
                pb::FamilyMember {
                    name: "张伟".into(),
                    relation: "spouse".into(),
                    birthday: Some(date(1979, 9, 20)),
                    ..Default::default()
                },
                pb::FamilyMember {
                    name: "张小明".into(),
                    relation: "child".into(),
                    birthday: None,
                    ..Default::default()
                },
            ],
            soft_facts: Some(pb::SoftFacts {
                preferred_contact_time: " weekday evenings ".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let facts = CareFacts::of(&customer, 2026);
        assert_eq!(facts.birth_year, 1980);
        assert_eq!(facts.wedding_anniversary, Some(date(2005, 10, 1)));
        assert_eq!(
            facts.family_dates,
            [pb::FamilyDate {
                name: "张伟".into(),
                relation: "spouse".into(),
                birthday: Some(date(1979, 9, 20)),
            }],
            "a member without a birthday gives care no date"
        );
        assert_eq!(facts.preferred_contact_time, "weekday evenings");
        assert_eq!(
            CareFacts::of(&pb::Customer::default(), 2026),
            CareFacts::default(),
            "an organisation has none of it"
        );
    }
}
