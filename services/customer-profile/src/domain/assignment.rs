//! Manager assignment (000 3.2, 002): every VIP has one responsible account
//! manager, a manager carries a bounded number of customers (the policy's
//! limit, 3 in one company's rules), and a change of manager says why.

/// The longest reason kept.
pub const MAX_REASON_CHARS: usize = 500;

/// What an assignment request asks for, given the archive's current manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignment {
    /// The customer already has this manager: nothing changes.
    Unchanged,
    /// A manager (new or replacing one) takes the customer on.
    Assign { reason: String },
    /// The customer is released from their manager.
    Release { reason: String },
}

/// Why an assignment is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A field is wrong: (field, why).
    Invalid(&'static str, String),
    /// The manager is at their limit.
    AtLimit { manager: String, limit: u32 },
    /// The customer has left.
    Exited,
}

/// Decides what changing `current` to `requested` means. A first assignment
/// needs no reason; replacing or releasing a manager does.
pub fn plan(current: &str, requested: &str, reason: &str) -> Result<Assignment, Refusal> {
    let reason = reason.trim();
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(Refusal::Invalid(
            "reason",
            format!("must be at most {MAX_REASON_CHARS} characters"),
        ));
    }
    if current == requested {
        return Ok(Assignment::Unchanged);
    }
    if !current.is_empty() && reason.is_empty() {
        return Err(Refusal::Invalid(
            "reason",
            format!("is required to take the customer from {current}"),
        ));
    }
    if requested.is_empty() {
        Ok(Assignment::Release {
            reason: reason.to_owned(),
        })
    } else {
        Ok(Assignment::Assign {
            reason: reason.to_owned(),
        })
    }
}

/// Whether a manager who manages `managed` customers now may take one more
/// under `limit`.
pub fn check_capacity(manager: &str, managed: i64, limit: u32) -> Result<(), Refusal> {
    if managed >= i64::from(limit) {
        Err(Refusal::AtLimit {
            manager: manager.to_owned(),
            limit,
        })
    } else {
        Ok(())
    }
}

/// A staff member's limit: their own when set, the policy's otherwise.
pub fn limit_of(own: Option<i32>, policy_default: u32) -> u32 {
    own.and_then(|l| u32::try_from(l).ok())
        .filter(|l| *l > 0)
        .unwrap_or(policy_default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_assignment_needs_no_reason() {
        assert_eq!(
            plan("", "mgr-1", ""),
            Ok(Assignment::Assign { reason: "".into() })
        );
    }

    #[test]
    fn reassignment_and_release_need_a_reason() {
        assert!(matches!(
            plan("mgr-1", "mgr-2", "  "),
            Err(Refusal::Invalid("reason", _))
        ));
        assert!(matches!(
            plan("mgr-1", "", ""),
            Err(Refusal::Invalid("reason", _))
        ));
        assert_eq!(
            plan("mgr-1", "mgr-2", " on leave "),
            Ok(Assignment::Assign {
                reason: "on leave".into()
            })
        );
        assert_eq!(
            plan("mgr-1", "", "left the company"),
            Ok(Assignment::Release {
                reason: "left the company".into()
            })
        );
    }

    #[test]
    fn same_manager_changes_nothing() {
        assert_eq!(plan("mgr-1", "mgr-1", ""), Ok(Assignment::Unchanged));
        assert_eq!(plan("", "", ""), Ok(Assignment::Unchanged));
    }

    #[test]
    fn overlong_reasons_are_refused() {
        let long = "因".repeat(MAX_REASON_CHARS + 1);
        assert!(plan("", "mgr-1", &long).is_err());
        assert!(plan("", "mgr-1", &"因".repeat(MAX_REASON_CHARS)).is_ok());
    }

    #[test]
    fn capacity_is_the_limit() {
        assert!(check_capacity("m", 0, 3).is_ok());
        assert!(check_capacity("m", 2, 3).is_ok());
        assert_eq!(
            check_capacity("m", 3, 3),
            Err(Refusal::AtLimit {
                manager: "m".into(),
                limit: 3
            })
        );
        assert!(
            check_capacity("m", 4, 3).is_err(),
            "already over, e.g. after a limit cut"
        );
    }

    #[test]
    fn own_limit_overrides_the_policy() {
        assert_eq!(limit_of(None, 3), 3);
        assert_eq!(limit_of(Some(10), 3), 10);
        assert_eq!(limit_of(Some(0), 3), 3);
        assert_eq!(limit_of(Some(-1), 3), 3);
    }
}
