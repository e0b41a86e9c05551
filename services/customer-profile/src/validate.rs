//! Parses a wire `Customer` into a [`ValidCustomer`], checking every field and
//! naming each bad one by its path in the request (`customer.contact.email`),
//! so a caller fixes them all in one round trip.

use chrono::NaiveDate;
use patron_kit::{Violations, resource_name};
use patron_proto::common::v1::{Date, Money as WireMoney};
use patron_proto::profile::v1 as pb;

use crate::domain::archive_number::ArchiveNumber;
use crate::domain::contact::{PhoneNumber, check_email};
use crate::domain::customer::{CustomerKind, DisplayName, KindSection, ValidCustomer};
use crate::domain::identity_card::IdCardNumber;
use crate::domain::organisation::check_staff_id;
use patron_vocab::calendar::CalendarDate;
use patron_vocab::money::Money;

/// Longest free-text field, in characters.
const MAX_TEXT: usize = 2000;
/// Most entries in one repeated section.
const MAX_ITEMS: usize = 100;

/// Checks `customer` as sent in a request whose customer field is `prefix`.
/// `today` (in the company's time zone) bounds birthdays.
pub fn customer(
    prefix: &str,
    c: &pb::Customer,
    today: NaiveDate,
) -> Result<ValidCustomer, Violations> {
    let mut v = PrefixedViolations {
        prefix,
        violations: Violations::new(),
    };

    let kind = match pb::CustomerKind::try_from(c.kind) {
        Ok(pb::CustomerKind::Person) => Some(CustomerKind::Person),
        Ok(pb::CustomerKind::Organization) => Some(CustomerKind::Organization),
        Ok(pb::CustomerKind::Unspecified) => {
            v.add(
                "kind",
                "is required: CUSTOMER_KIND_PERSON or CUSTOMER_KIND_ORGANIZATION",
            );
            None
        }
        Err(_) => {
            v.add("kind", "is not a known customer kind");
            None
        }
    };

    let archive_number = if c.archive_number.is_empty() {
        None
    } else {
        v.parse("archive_number", ArchiveNumber::parse(&c.archive_number))
    };
    let display_name = v.parse("display_name", DisplayName::parse(&c.display_name));

    let mut id_card: Option<IdCardNumber> = None;
    let mut phones: Vec<PhoneNumber> = Vec::new();
    let mut add_phone = |v: &mut PrefixedViolations, field: &str, raw: &str| {
        if raw.is_empty() {
            return;
        }
        if let Some(p) = v.parse(field, PhoneNumber::parse(raw))
            && !phones.contains(&p)
        {
            phones.push(p);
        }
    };

    if let Some(contact) = &c.contact {
        if !contact.email.is_empty() {
            v.parse("contact.email", check_email(&contact.email));
        }
        add_phone(&mut v, "contact.mobile_phone", &contact.mobile_phone);
        add_phone(&mut v, "contact.office_phone", &contact.office_phone);
        add_phone(&mut v, "contact.home_phone", &contact.home_phone);
        if !contact.fax.is_empty() {
            v.parse("contact.fax", PhoneNumber::parse(&contact.fax));
        }
        v.text("contact.address", &contact.address);
    }

    if let Some(person) = &c.person {
        v.section(kind, KindSection::PersonFacts, "person");
        if pb::Gender::try_from(person.gender).is_err() {
            v.add("person.gender", "is not a known gender");
        }
        if !(0..=150).contains(&person.approximate_age) {
            v.add("person.approximate_age", "must be between 0 and 150");
        }
        v.past_date("person.birthday", person.birthday.as_ref(), today);
        v.past_date(
            "person.wedding_anniversary",
            person.wedding_anniversary.as_ref(),
            today,
        );
        if !person.id_card_number.is_empty() {
            id_card = v.parse(
                "person.id_card_number",
                IdCardNumber::parse(&person.id_card_number),
            );
        }
        for (field, text) in [
            ("person.ethnicity", &person.ethnicity),
            ("person.job", &person.job),
            ("person.employer", &person.employer),
            ("person.position", &person.position),
        ] {
            v.text(field, text);
        }
    }

    if let Some(org) = &c.organization {
        v.section(kind, KindSection::OrganizationFacts, "organization");
        v.money(
            "organization.current_annual_sales",
            org.current_annual_sales.as_ref(),
        );
        v.items(
            "organization.end_customer_units",
            org.end_customer_units.len(),
        );
        for (i, unit) in org.end_customer_units.iter().enumerate() {
            if patron_vocab::text::is_blank(&unit.name) {
                v.add(
                    &format!("organization.end_customer_units[{i}].name"),
                    "is required",
                );
            }
        }
        for (field, text) in [
            (
                "organization.business_characteristics",
                &org.business_characteristics,
            ),
            ("organization.current_problems", &org.current_problems),
            (
                "organization.development_potential",
                &org.development_potential,
            ),
        ] {
            v.text(field, text);
        }
    }

    if !c.family_members.is_empty() {
        v.section(kind, KindSection::FamilyMembers, "family_members");
        v.items("family_members", c.family_members.len());
    }
    for (i, member) in c.family_members.iter().enumerate() {
        if patron_vocab::text::is_blank(&member.relation) {
            v.add(
                &format!("family_members[{i}].relation"),
                "is required (spouse, child, parent…)",
            );
        }
        v.past_date(
            &format!("family_members[{i}].birthday"),
            member.birthday.as_ref(),
            today,
        );
    }

    if !c.contact_persons.is_empty() {
        v.section(kind, KindSection::ContactPersons, "contact_persons");
        v.items("contact_persons", c.contact_persons.len());
    }
    for (i, person) in c.contact_persons.iter().enumerate() {
        if patron_vocab::text::is_blank(&person.name) {
            v.add(&format!("contact_persons[{i}].name"), "is required");
        }
        if !person.email.is_empty() {
            v.parse(
                &format!("contact_persons[{i}].email"),
                check_email(&person.email),
            );
        }
        if !person.phone.is_empty() {
            v.parse(
                &format!("contact_persons[{i}].phone"),
                PhoneNumber::parse(&person.phone),
            );
        }
        v.past_date(
            &format!("contact_persons[{i}].birthday"),
            person.birthday.as_ref(),
            today,
        );
    }
    if c.contact_persons.iter().filter(|p| p.primary).count() > 1 {
        v.add(
            "contact_persons",
            "at most one contact person may be primary",
        );
    }

    if let Some(fin) = &c.financial {
        v.money("financial.assets", fin.assets.as_ref());
        v.money("financial.liabilities", fin.liabilities.as_ref());
    }

    if let Some(class) = &c.classification {
        if pb::LifecycleStage::try_from(class.lifecycle_stage).is_err() {
            v.add(
                "classification.lifecycle_stage",
                "is not a known lifecycle stage",
            );
        }
        if pb::OldCustomerKind::try_from(class.old_customer_kind).is_err() {
            v.add(
                "classification.old_customer_kind",
                "is not a known old-customer kind",
            );
        }
    }

    if let Some(soft) = &c.soft_facts {
        if pb::ContactChannel::try_from(soft.preferred_channel).is_err() {
            v.add("soft_facts.preferred_channel", "is not a known channel");
        }
        if pb::PromotionAcceptance::try_from(soft.promotion_acceptance).is_err() {
            v.add("soft_facts.promotion_acceptance", "is not a known value");
        }
        v.items("soft_facts.hobbies", soft.hobbies.len());
        for (field, text) in [
            ("soft_facts.family_situation", &soft.family_situation),
            ("soft_facts.personality", &soft.personality),
            ("soft_facts.consumption_habits", &soft.consumption_habits),
            ("soft_facts.style_preferences", &soft.style_preferences),
            ("soft_facts.lifestyle", &soft.lifestyle),
            ("soft_facts.values", &soft.values),
        ] {
            v.text(field, text);
        }
    }

    v.items("product_attributes", c.product_attributes.len());
    if c.product_attributes
        .keys()
        .any(|k| patron_vocab::text::is_blank(k))
    {
        v.add("product_attributes", "keys must not be empty");
    }
    v.text("notes", &c.notes);

    let referred_by = if c.referred_by.is_empty() {
        None
    } else {
        match resource_name::parse("referred_by", "customers", &c.referred_by) {
            Ok(id) => Some(id),
            Err(_) => {
                v.add(
                    "referred_by",
                    "must be a customer name of the form customers/{id}",
                );
                None
            }
        }
    };
    if !c.account_manager.is_empty() {
        v.parse("account_manager", check_staff_id(&c.account_manager));
    }

    let PrefixedViolations { violations, .. } = v;
    match (kind, display_name) {
        (Some(kind), Some(display_name)) if violations.is_empty() => Ok(ValidCustomer {
            kind,
            archive_number,
            display_name,
            phone_numbers: phones,
            id_card,
            account_manager: c.account_manager.clone(),
            referred_by,
        }),
        _ => Err(violations),
    }
}

/// The violations found so far, each field named under a path prefix.
struct PrefixedViolations<'a> {
    prefix: &'a str,
    violations: Violations,
}

impl PrefixedViolations<'_> {
    fn add(&mut self, field: &str, description: &str) {
        self.violations
            .add(format!("{}.{field}", self.prefix), description);
    }

    fn parse<T>(&mut self, field: &str, result: Result<T, &'static str>) -> Option<T> {
        result.map_err(|why| self.add(field, why)).ok()
    }

    fn text(&mut self, field: &str, text: &str) {
        if text.chars().count() > MAX_TEXT {
            self.add(field, "must be at most 2000 characters");
        }
    }

    fn items(&mut self, field: &str, count: usize) {
        if count > MAX_ITEMS {
            self.add(field, "may hold at most 100 entries");
        }
    }

    fn section(&mut self, kind: Option<CustomerKind>, section: KindSection, field: &str) {
        if let Some(kind) = kind
            && !kind.allows(section)
        {
            let owner = match kind {
                CustomerKind::Person => "an organisation",
                CustomerKind::Organization => "a person",
            };
            self.add(field, &format!("belongs only to {owner}'s archive"));
        }
    }

    fn past_date(&mut self, field: &str, date: Option<&Date>, today: NaiveDate) {
        let Some(d) = date else { return };
        if let Some(date) = self.parse(field, CalendarDate::new(d.year, d.month, d.day))
            && date.is_after(today)
        {
            self.add(field, "must not be in the future");
        }
    }

    fn money(&mut self, field: &str, money: Option<&WireMoney>) {
        if let Some(m) = money {
            self.parse(field, Money::non_negative(&m.currency_code, m.amount_minor));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pb::{Customer, CustomerKind as K};

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
    }

    fn person() -> Customer {
        Customer {
            kind: K::Person as i32,
            display_name: "王丽".into(),
            contact: Some(pb::ContactDetails {
                mobile_phone: "138-0013-8000".into(),
                home_phone: "13800138000".into(),
                email: "wang.li@example.com".into(),
                ..Default::default()
            }),
            person: Some(pb::PersonFacts {
                id_card_number: "11010519491231002X".into(),
                birthday: Some(Date {
                    year: 1949,
                    month: 12,
                    day: 31,
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn fields(err: Violations) -> Vec<String> {
        err.iter().map(|v| v.field.clone()).collect()
    }

    #[test]
    fn a_good_person_passes_with_phones_deduplicated() {
        let valid = customer("customer", &person(), today()).unwrap();
        assert_eq!(valid.kind, CustomerKind::Person);
        assert_eq!(valid.phone_keys(), ["13800138000"]);
        assert!(valid.archive_number.is_none());
    }

    #[test]
    fn every_bad_field_is_named() {
        let mut c = person();
        c.kind = 0;
        c.display_name = " ".into();
        c.archive_number = "bad number!".into();
        let contact = c.contact.as_mut().unwrap();
        contact.email = "nope".into();
        contact.office_phone = "12".into();
        let p = c.person.as_mut().unwrap();
        p.id_card_number = "110105194912310021".into();
        p.birthday = Some(Date {
            year: 2030,
            month: 1,
            day: 1,
        });
        p.wedding_anniversary = Some(Date {
            year: 2001,
            month: 2,
            day: 30,
        });
        p.approximate_age = 200;
        p.gender = 9;
        c.family_members.push(pb::FamilyMember::default());
        c.referred_by = "people/1".into();
        c.account_manager = "has space".into();
        c.financial = Some(pb::FinancialFacts {
            assets: Some(WireMoney {
                currency_code: "rmb".into(),
                amount_minor: 1,
            }),
            ..Default::default()
        });
        let got = fields(customer("customer", &c, today()).unwrap_err());
        let want = [
            "customer.kind",
            "customer.archive_number",
            "customer.display_name",
            "customer.contact.email",
            "customer.contact.office_phone",
            "customer.person.gender",
            "customer.person.approximate_age",
            "customer.person.birthday",
            "customer.person.wedding_anniversary",
            "customer.person.id_card_number",
            "customer.family_members[0].relation",
            "customer.financial.assets",
            "customer.referred_by",
            "customer.account_manager",
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn sections_must_fit_the_kind() {
        let mut c = person();
        c.organization = Some(pb::OrganizationFacts::default());
        c.contact_persons.push(pb::ContactPerson {
            name: "Zhang".into(),
            ..Default::default()
        });
        let got = fields(customer("customer", &c, today()).unwrap_err());
        assert_eq!(got, ["customer.organization", "customer.contact_persons"]);

        let org = Customer {
            kind: K::Organization as i32,
            display_name: "Acme".into(),
            person: Some(pb::PersonFacts::default()),
            family_members: vec![pb::FamilyMember {
                relation: "spouse".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let got = fields(customer("customer", &org, today()).unwrap_err());
        assert_eq!(got, ["customer.person", "customer.family_members"]);
    }

    #[test]
    fn organisation_rules() {
        let org = Customer {
            kind: K::Organization as i32,
            display_name: "Acme Steel".into(),
            organization: Some(pb::OrganizationFacts {
                current_annual_sales: Some(WireMoney {
                    currency_code: "CNY".into(),
                    amount_minor: -5,
                }),
                end_customer_units: vec![pb::EndCustomerUnit::default()],
                ..Default::default()
            }),
            contact_persons: vec![
                pb::ContactPerson {
                    name: "A".into(),
                    primary: true,
                    email: "x".into(),
                    ..Default::default()
                },
                pb::ContactPerson {
                    name: "".into(),
                    primary: true,
                    phone: "abc".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let got = fields(customer("customer", &org, today()).unwrap_err());
        assert_eq!(
            got,
            [
                "customer.organization.current_annual_sales",
                "customer.organization.end_customer_units[0].name",
                "customer.contact_persons[0].email",
                "customer.contact_persons[1].name",
                "customer.contact_persons[1].phone",
                "customer.contact_persons",
            ]
        );
    }

    #[test]
    fn limits_on_size() {
        let mut c = person();
        c.notes = "x".repeat(2001);
        c.soft_facts = Some(pb::SoftFacts {
            hobbies: vec!["go".into(); 101],
            ..Default::default()
        });
        c.product_attributes.insert(" ".into(), "v".into());
        let got = fields(customer("customer", &c, today()).unwrap_err());
        assert_eq!(
            got,
            [
                "customer.soft_facts.hobbies",
                "customer.product_attributes",
                "customer.notes"
            ]
        );
    }

    #[test]
    fn archive_number_given_is_normalised() {
        let mut c = person();
        c.archive_number = "vip-7".into();
        let valid = customer("customer", &c, today()).unwrap();
        assert_eq!(valid.archive_number.unwrap().as_str(), "VIP-7");
    }
}
