//! A customer archive's identity: its kind, its name, and the facts the
//! archive is found by. A person and an organisation carry different
//! sections; these rules say which belongs to which.

use uuid::Uuid;

use super::archive_number::ArchiveNumber;
use super::contact::PhoneNumber;
use super::identity_card::IdCardNumber;

/// A person (retail member, individual VIP) or an organisation (key account).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerKind {
    Person,
    Organization,
}

impl CustomerKind {
    /// The code stored in the database.
    pub fn code(self) -> i16 {
        match self {
            Self::Person => 1,
            Self::Organization => 2,
        }
    }

    pub fn from_code(code: i16) -> Option<Self> {
        match code {
            1 => Some(Self::Person),
            2 => Some(Self::Organization),
            _ => None,
        }
    }
}

/// Sections of an archive that belong to one kind of customer only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KindSection {
    /// Hard facts of a person: gender, birthday, ID card…
    PersonFacts,
    /// Family members.
    FamilyMembers,
    /// Key-account business facts.
    OrganizationFacts,
    /// Contact persons at the organisation.
    ContactPersons,
}

impl CustomerKind {
    /// Whether an archive of this kind may carry `section`.
    pub fn allows(self, section: KindSection) -> bool {
        match section {
            KindSection::PersonFacts | KindSection::FamilyMembers => self == Self::Person,
            KindSection::OrganizationFacts | KindSection::ContactPersons => {
                self == Self::Organization
            }
        }
    }
}

/// The name a customer is known by: trimmed, 1 to 200 characters, no control
/// characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        // Invisible characters (a zero-width space, a BOM) are as blank as spaces.
        let s = patron_vocab::text::trim(raw);
        if s.is_empty() {
            return Err("is required");
        }
        if s.chars().count() > Self::MAX_CHARS {
            return Err("must be at most 200 characters");
        }
        if s.chars().any(char::is_control) {
            return Err("must not contain control characters");
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A customer archive whose facts have all been checked; what the store
/// indexes it by.
#[derive(Debug, Clone)]
pub struct ValidCustomer {
    pub kind: CustomerKind,
    /// `None` on create means "assign the next number".
    pub archive_number: Option<ArchiveNumber>,
    pub display_name: DisplayName,
    /// Every phone number of the archive, normalised, without repeats.
    pub phone_numbers: Vec<PhoneNumber>,
    /// The person's ID-card number, when given.
    pub id_card: Option<IdCardNumber>,
    pub account_manager: String,
    pub referred_by: Option<Uuid>,
}

impl ValidCustomer {
    /// The normalised phone numbers as the store keeps them.
    pub fn phone_keys(&self) -> Vec<String> {
        self.phone_numbers
            .iter()
            .map(|p| p.normalized().to_owned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_codes_round_trip() {
        for kind in [CustomerKind::Person, CustomerKind::Organization] {
            assert_eq!(CustomerKind::from_code(kind.code()), Some(kind));
        }
        assert_eq!(CustomerKind::from_code(0), None);
    }

    #[test]
    fn sections_by_kind() {
        use KindSection::*;
        let person = CustomerKind::Person;
        let org = CustomerKind::Organization;
        assert!(person.allows(PersonFacts) && person.allows(FamilyMembers));
        assert!(!person.allows(OrganizationFacts) && !person.allows(ContactPersons));
        assert!(org.allows(OrganizationFacts) && org.allows(ContactPersons));
        assert!(!org.allows(PersonFacts) && !org.allows(FamilyMembers));
    }

    #[test]
    fn display_names() {
        assert_eq!(DisplayName::parse("  王丽  ").unwrap().as_str(), "王丽");
        assert_eq!(DisplayName::parse("").unwrap_err(), "is required");
        assert_eq!(DisplayName::parse(" \t ").unwrap_err(), "is required");
        assert!(DisplayName::parse(&"字".repeat(200)).is_ok());
        assert!(DisplayName::parse(&"字".repeat(201)).is_err());
        assert!(DisplayName::parse("a\u{0}b").is_err());
    }
}
