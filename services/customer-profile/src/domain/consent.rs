//! Whether a customer may be contacted, by channel and purpose (001): e-mail
//! marketing needs the customer's opt-in, SMS promotions need prior notice, a
//! customer who declines promotions gets none, and an opt-out always wins.
//! Service contact (follow-ups, complaint handling, care) is allowed unless the
//! customer opted out of it on that channel.

/// A contact channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    InPerson,
    Phone,
    Sms,
    Email,
    Fax,
    Messaging,
    Post,
}

impl Channel {
    /// From the wire/storage code (`ContactChannel`).
    pub fn from_code(code: i32) -> Option<Self> {
        Some(match code {
            1 => Self::InPerson,
            2 => Self::Phone,
            3 => Self::Sms,
            4 => Self::Email,
            5 => Self::Fax,
            6 => Self::Messaging,
            7 => Self::Post,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::InPerson => "in person",
            Self::Phone => "phone",
            Self::Sms => "SMS",
            Self::Email => "e-mail",
            Self::Fax => "fax",
            Self::Messaging => "messaging",
            Self::Post => "post",
        }
    }
}

/// Why the customer would be contacted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Service,
    Marketing,
}

impl Purpose {
    pub fn from_code(code: i32) -> Option<Self> {
        match code {
            1 => Some(Self::Service),
            2 => Some(Self::Marketing),
            _ => None,
        }
    }
}

/// The customer's answer in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentStatus {
    OptedIn,
    OptedOut,
    NoticeGiven,
}

impl ConsentStatus {
    pub fn from_code(code: i32) -> Option<Self> {
        match code {
            1 => Some(Self::OptedIn),
            2 => Some(Self::OptedOut),
            3 => Some(Self::NoticeGiven),
            _ => None,
        }
    }
}

/// The answer to "may I contact this customer this way?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub reason: String,
}

fn decide(allowed: bool, reason: impl Into<String>) -> Decision {
    Decision {
        allowed,
        reason: reason.into(),
    }
}

/// Like [`may_contact`], for a customer who may have left the programme: no
/// one markets to a customer who left (003 exit); service contact (closing
/// their affairs) still follows their consent.
pub fn may_contact_customer(
    channel: Channel,
    purpose: Purpose,
    consent: Option<ConsentStatus>,
    declines_promotions: bool,
    exited: bool,
) -> Decision {
    if exited && purpose == Purpose::Marketing {
        return decide(false, "the customer has left the VIP programme");
    }
    may_contact(channel, purpose, consent, declines_promotions)
}

/// Decides from the consent in force (if any) and whether the customer's
/// archive says they decline promotions.
pub fn may_contact(
    channel: Channel,
    purpose: Purpose,
    consent: Option<ConsentStatus>,
    declines_promotions: bool,
) -> Decision {
    let by = channel.name();
    if consent == Some(ConsentStatus::OptedOut) {
        let what = match purpose {
            Purpose::Service => "service contact",
            Purpose::Marketing => "marketing",
        };
        return decide(false, format!("the customer opted out of {what} by {by}"));
    }
    match purpose {
        Purpose::Service => decide(
            true,
            format!("service contact by {by} is allowed unless the customer opts out"),
        ),
        Purpose::Marketing if declines_promotions => {
            decide(false, "the customer's archive says they decline promotions")
        }
        Purpose::Marketing => match (channel, consent) {
            (Channel::Email, Some(ConsentStatus::OptedIn)) => {
                decide(true, "the customer opted in to e-mail marketing")
            }
            (Channel::Email, _) => decide(false, "e-mail marketing needs the customer's opt-in"),
            (Channel::Sms, Some(ConsentStatus::OptedIn | ConsentStatus::NoticeGiven)) => {
                decide(true, "the customer was told of SMS promotions in advance")
            }
            (Channel::Sms, _) => decide(false, "SMS promotions need prior notice to the customer"),
            (_, Some(ConsentStatus::OptedIn)) => {
                decide(true, format!("the customer opted in to marketing by {by}"))
            }
            _ => decide(
                true,
                format!("marketing by {by} is allowed; the customer has not opted out"),
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Channel::*;
    use ConsentStatus::*;
    use Purpose::*;

    #[test]
    fn the_documents_rules_table() {
        let cases = [
            // channel, purpose, consent, declines, allowed
            (Email, Marketing, None, false, false),
            (Email, Marketing, Some(NoticeGiven), false, false),
            (Email, Marketing, Some(OptedIn), false, true),
            (Sms, Marketing, None, false, false),
            (Sms, Marketing, Some(NoticeGiven), false, true),
            (Sms, Marketing, Some(OptedIn), false, true),
            (Phone, Marketing, None, false, true),
            (Post, Marketing, None, false, true),
            (Email, Marketing, Some(OptedIn), true, false),
            (Phone, Marketing, None, true, false),
            (Email, Service, None, true, true),
            (Phone, Service, None, false, true),
            (Phone, Service, Some(OptedOut), false, false),
            (Sms, Marketing, Some(OptedOut), false, false),
            (InPerson, Marketing, Some(OptedOut), false, false),
        ];
        for (channel, purpose, consent, declines, allowed) in cases {
            let d = may_contact(channel, purpose, consent, declines);
            assert_eq!(
                d.allowed, allowed,
                "{channel:?} {purpose:?} {consent:?} declines={declines}: {}",
                d.reason
            );
            assert!(!d.reason.is_empty());
        }
    }

    #[test]
    fn codes() {
        assert_eq!(Channel::from_code(4), Some(Email));
        assert_eq!(Channel::from_code(0), None);
        assert_eq!(Purpose::from_code(2), Some(Marketing));
        assert_eq!(Purpose::from_code(3), None);
        assert_eq!(ConsentStatus::from_code(3), Some(NoticeGiven));
        assert_eq!(ConsentStatus::from_code(0), None);
    }

    #[test]
    fn no_marketing_to_customers_who_left() {
        let d = may_contact_customer(
            Channel::Email,
            Purpose::Marketing,
            Some(ConsentStatus::OptedIn),
            false,
            true,
        );
        assert!(!d.allowed);
        assert!(d.reason.contains("left"));
        assert!(
            may_contact_customer(Channel::Phone, Purpose::Service, None, false, true).allowed,
            "service contact still follows consent"
        );
        assert!(
            may_contact_customer(
                Channel::Email,
                Purpose::Marketing,
                Some(ConsentStatus::OptedIn),
                false,
                false
            )
            .allowed
        );
    }
}
