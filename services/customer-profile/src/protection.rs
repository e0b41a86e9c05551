//! The sensitive part of an archive (ID card, phones, address, financial
//! facts): split from the readable record, sealed with the key ring and bound
//! to the customer's id, indexed blindly for exact look-up, and masked for
//! staff without the sensitive-read permission. Redis never sees it unmasked.

use patron_kit::ServiceError;
use patron_kit::crypto::KeyRing;
use patron_proto::profile::v1 as pb;
use prost::Message;
use uuid::Uuid;

use crate::domain::contact::PhoneNumber;
use crate::domain::identity_card::IdCardNumber;
use crate::domain::masking;

/// The fields held sealed, as update-mask paths.
pub const SENSITIVE_FIELDS: &[&str] = &[
    "person.id_card_number",
    "contact.mobile_phone",
    "contact.office_phone",
    "contact.home_phone",
    "contact.address",
    "financial",
];

/// The sensitive fields `customer` holds a value for.
pub fn present_fields(customer: &pb::Customer) -> Vec<String> {
    let mut fields = Vec::new();
    let mut note = |path: &str, set: bool| {
        if set {
            fields.push(path.to_owned());
        }
    };
    if let Some(p) = &customer.person {
        note("person.id_card_number", !p.id_card_number.is_empty());
    }
    if let Some(c) = &customer.contact {
        note("contact.mobile_phone", !c.mobile_phone.is_empty());
        note("contact.office_phone", !c.office_phone.is_empty());
        note("contact.home_phone", !c.home_phone.is_empty());
        note("contact.address", !c.address.is_empty());
    }
    note("financial", customer.financial.is_some());
    fields
}

/// Whether an audit path lies inside a sensitive field.
pub fn is_sensitive_path(path: &str) -> bool {
    SENSITIVE_FIELDS.iter().any(|f| {
        path == *f
            || path
                .strip_prefix(f)
                .is_some_and(|rest| rest.starts_with('.'))
    })
}

/// Blind-index kinds.
const PHONE: &str = "phone";
const ID_CARD: &str = "id_card";

/// A customer's sealed part and its look-up indexes, ready to store.
#[derive(Debug, Clone, Default)]
pub struct Sealed {
    pub sensitive: Vec<u8>,
    pub phone_index: Vec<String>,
    pub id_card_index: Option<String>,
}

/// Seals, opens, indexes and masks with the service's key ring.
#[derive(Clone, Debug)]
pub struct Protection {
    keys: KeyRing,
}

impl Protection {
    pub fn new(keys: KeyRing) -> Self {
        Self { keys }
    }

    /// `customer` without its sensitive fields, and those fields alone.
    pub fn split(customer: &pb::Customer) -> (pb::Customer, pb::Customer) {
        let mut public = customer.clone();
        let mut sensitive = pb::Customer::default();
        if let Some(person) = public.person.as_mut()
            && !person.id_card_number.is_empty()
        {
            sensitive.person = Some(pb::PersonFacts {
                id_card_number: std::mem::take(&mut person.id_card_number),
                ..Default::default()
            });
        }
        if let Some(contact) = public.contact.as_mut() {
            let taken = pb::ContactDetails {
                mobile_phone: std::mem::take(&mut contact.mobile_phone),
                office_phone: std::mem::take(&mut contact.office_phone),
                home_phone: std::mem::take(&mut contact.home_phone),
                address: std::mem::take(&mut contact.address),
                ..Default::default()
            };
            if taken != pb::ContactDetails::default() {
                sensitive.contact = Some(taken);
            }
        }
        sensitive.financial = public.financial.take();
        (public, sensitive)
    }

    /// Puts the sensitive fields back into `public`.
    pub fn merge(public: &mut pb::Customer, sensitive: pb::Customer) {
        if let Some(s) = sensitive.person {
            public
                .person
                .get_or_insert_with(Default::default)
                .id_card_number = s.id_card_number;
        }
        if let Some(s) = sensitive.contact {
            let contact = public.contact.get_or_insert_with(Default::default);
            contact.mobile_phone = s.mobile_phone;
            contact.office_phone = s.office_phone;
            contact.home_phone = s.home_phone;
            contact.address = s.address;
        }
        public.financial = sensitive.financial;
    }

    /// The sensitive fields as staff without permission see them; financial
    /// facts are withheld entirely.
    pub fn mask(sensitive: &pb::Customer) -> pb::Customer {
        let mut masked = pb::Customer::default();
        if let Some(p) = &sensitive.person {
            masked.person = Some(pb::PersonFacts {
                id_card_number: masking::id_card(&p.id_card_number),
                ..Default::default()
            });
        }
        if let Some(c) = &sensitive.contact {
            masked.contact = Some(pb::ContactDetails {
                mobile_phone: masking::phone(&c.mobile_phone),
                office_phone: masking::phone(&c.office_phone),
                home_phone: masking::phone(&c.home_phone),
                address: masking::address(&c.address),
                ..Default::default()
            });
        }
        masked
    }

    /// Seals the sensitive part of customer `id` and blind-indexes its
    /// phone numbers and ID card, already parsed by validation.
    pub fn seal(
        &self,
        id: Uuid,
        sensitive: &pb::Customer,
        phones: &[PhoneNumber],
        id_card: Option<&IdCardNumber>,
    ) -> Sealed {
        let mut phone_index: Vec<String> = Vec::new();
        for phone in phones {
            let index = self.phone_index(phone.normalized());
            if !phone_index.contains(&index) {
                phone_index.push(index);
            }
        }
        Sealed {
            sensitive: self.keys.seal(&sensitive.encode_to_vec(), id.as_bytes()),
            phone_index,
            id_card_index: id_card.map(|card| self.id_card_index(card.as_str())),
        }
    }

    /// The phone numbers and ID card of a sensitive part that this version
    /// never validated (rows written before sealing); values that do not
    /// parse are left unindexed.
    pub fn index_keys_of(sensitive: &pb::Customer) -> (Vec<PhoneNumber>, Option<IdCardNumber>) {
        let phones = sensitive
            .contact
            .iter()
            .flat_map(|c| [&c.mobile_phone, &c.office_phone, &c.home_phone])
            .filter_map(|raw| PhoneNumber::parse(raw).ok())
            .collect();
        let id_card = sensitive
            .person
            .as_ref()
            .and_then(|p| IdCardNumber::parse(&p.id_card_number).ok());
        (phones, id_card)
    }

    /// Opens customer `id`'s sealed part.
    pub fn open(&self, id: Uuid, sealed: &[u8]) -> Result<pb::Customer, ServiceError> {
        let bytes = self
            .keys
            .open(sealed, id.as_bytes())
            .map_err(|e| ServiceError::internal(anyhow::anyhow!("customer {id}: {e}")))?;
        pb::Customer::decode(bytes.as_slice()).map_err(ServiceError::internal)
    }

    /// Whether a sealed value should be re-sealed with the active key.
    pub fn needs_rotation(&self, sealed: &[u8]) -> bool {
        self.keys.needs_rotation(sealed)
    }

    pub fn phone_index(&self, normalized: &str) -> String {
        self.keys.blind_index(PHONE, normalized)
    }

    pub fn id_card_index(&self, normalized: &str) -> String {
        self.keys.blind_index(ID_CARD, normalized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> pb::Customer {
        pb::Customer {
            display_name: "王丽".into(),
            person: Some(pb::PersonFacts {
                id_card_number: "11010519491231002X".into(),
                job: "teacher".into(),
                ..Default::default()
            }),
            contact: Some(pb::ContactDetails {
                email: "a@b.cn".into(),
                mobile_phone: "13800138000".into(),
                address: "北京市朝阳区建国路88号".into(),
                ..Default::default()
            }),
            financial: Some(pb::FinancialFacts {
                income_level: "high".into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn split_then_merge_is_the_identity() {
        let (public, sensitive) = Protection::split(&full());
        assert_eq!(public.person.as_ref().unwrap().id_card_number, "");
        assert_eq!(public.person.as_ref().unwrap().job, "teacher");
        assert_eq!(public.contact.as_ref().unwrap().mobile_phone, "");
        assert_eq!(
            public.contact.as_ref().unwrap().email,
            "a@b.cn",
            "e-mail is not sensitive"
        );
        assert!(public.financial.is_none());
        let mut back = public;
        Protection::merge(&mut back, sensitive);
        assert_eq!(back, full());
    }

    #[test]
    fn masks_hide_but_let_staff_recognise() {
        let (_, sensitive) = Protection::split(&full());
        let masked = Protection::mask(&sensitive);
        assert_eq!(masked.contact.as_ref().unwrap().mobile_phone, "138****8000");
        assert_eq!(
            masked.person.as_ref().unwrap().id_card_number,
            "110105********002X"
        );
        assert_eq!(masked.contact.as_ref().unwrap().address, "北京市朝阳区****");
        assert!(masked.financial.is_none());
    }
}
