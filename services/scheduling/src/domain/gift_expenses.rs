//! Gifts and relationship expenses (客情费, 001: 礼品馈赠申请表 — "when a gift
//! seems necessary for a special customer, fill in the gift budget request
//! and submit it to the superior for approval"). A manager asks with a
//! budget; a supervisor approves it within their authority (the policy's
//! amount for their role) or refuses it; only an approved expense is spent,
//! and spending more than approved needs a note and stays within what the
//! policy tolerates. Amounts are minor units of the company's currency.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

/// How much a person may approve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ApprovalLimit {
    /// Up to this many minor units, included.
    UpTo(i64),
    Unlimited,
}

impl ApprovalLimit {
    pub fn covers(self, amount_minor: i64) -> bool {
        match self {
            ApprovalLimit::Unlimited => true,
            ApprovalLimit::UpTo(limit) => amount_minor <= limit,
        }
    }
}

/// The `[scheduling.gift_expenses]` policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GiftExpensePolicy {
    /// The approval limit per role; a role not listed approves nothing.
    pub approval: BTreeMap<String, ApprovalLimit>,
    /// How far above the approved amount a spending may go, with a note,
    /// in basis points of the approved amount (0: never above).
    pub overspend_bp: u32,
}

impl Default for GiftExpensePolicy {
    /// A company that said nothing: only administrators approve, and nothing
    /// is spent above what was approved.
    fn default() -> Self {
        Self {
            approval: [("admin".to_owned(), ApprovalLimit::Unlimited)].into(),
            overspend_bp: 0,
        }
    }
}

impl GiftExpensePolicy {
    /// A person's limit: the highest of their roles'; `None` when no role of
    /// theirs may approve at all.
    pub fn limit_of(&self, roles: &[String]) -> Option<ApprovalLimit> {
        roles
            .iter()
            .filter_map(|r| self.approval.get(r).copied())
            .max()
    }

    /// The most an approved amount may end up costing.
    pub fn most_spent(&self, approved_minor: i64) -> i64 {
        let extra = i128::from(approved_minor) * i128::from(self.overspend_bp) / 10_000;
        i64::try_from(i128::from(approved_minor) + extra).unwrap_or(i64::MAX)
    }

    /// Reads the section from the preset (amounts in major units, turned
    /// into minor units with `digits`).
    pub fn from_toml(value: &toml::Value, digits: u32) -> Result<Self, Vec<(String, String)>> {
        const FIELD: &str = "scheduling.gift_expenses";
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            approval: BTreeMap<String, toml::Value>,
            #[serde(default)]
            overspend_up_to: Option<f64>,
        }
        let raw: Raw = value
            .clone()
            .try_into()
            .map_err(|e: toml::de::Error| vec![(FIELD.to_owned(), e.message().to_owned())])?;
        let mut problems = Vec::new();
        let mut approval = BTreeMap::new();
        let scale = 10i64.checked_pow(digits).unwrap_or(i64::MAX);
        for (role, value) in &raw.approval {
            let field = format!("{FIELD}.approval.{role}");
            if patron_vocab::roles::permissions_of(role).is_empty() {
                problems.push((
                    field.clone(),
                    format!("{role:?} is not a role of the suite"),
                ));
            }
            let limit = match value {
                toml::Value::String(s) if s == "unlimited" => Some(ApprovalLimit::Unlimited),
                toml::Value::Integer(n) if *n >= 0 => n
                    .checked_mul(scale)
                    .filter(|m| patron_vocab::money::bounded(*m).is_ok())
                    .map(ApprovalLimit::UpTo),
                _ => None,
            };
            match limit {
                Some(limit) => {
                    approval.insert(role.clone(), limit);
                }
                None => problems.push((
                    field,
                    "must be an amount of at least 0 (within 10^15 minor units) or \"unlimited\""
                        .to_owned(),
                )),
            }
        }
        if approval.is_empty() && problems.is_empty() {
            problems.push((
                format!("{FIELD}.approval"),
                "name at least one role that approves".to_owned(),
            ));
        }
        let overspend_bp = match raw.overspend_up_to {
            None => 0,
            Some(share) if (0.0..=10.0).contains(&share) => (share * 10_000.0).round() as u32,
            Some(_) => {
                problems.push((
                    format!("{FIELD}.overspend_up_to"),
                    "must be a share of the approved amount from 0 to 10".to_owned(),
                ));
                0
            }
        };
        if problems.is_empty() {
            Ok(Self {
                approval,
                overspend_bp,
            })
        } else {
            Err(problems)
        }
    }
}

/// Where an expense stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Requested,
    Approved,
    Refused,
    Spent,
    Withdrawn,
}

impl State {
    pub const ALL: [State; 5] = [
        State::Requested,
        State::Approved,
        State::Refused,
        State::Spent,
        State::Withdrawn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Requested => "requested",
            State::Approved => "approved",
            State::Refused => "refused",
            State::Spent => "spent",
            State::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A step someone asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    Approve,
    Refuse,
    RecordSpending,
    Withdraw,
}

impl Move {
    pub const ALL: [Move; 4] = [
        Move::Approve,
        Move::Refuse,
        Move::RecordSpending,
        Move::Withdraw,
    ];

    /// The step's name in the history (`approved`, …).
    pub fn action(self) -> &'static str {
        match self {
            Move::Approve => "approved",
            Move::Refuse => "refused",
            Move::RecordSpending => "spent",
            Move::Withdraw => "withdrawn",
        }
    }

    fn words(self) -> &'static str {
        match self {
            Move::Approve => "approved",
            Move::Refuse => "refused",
            Move::RecordSpending => "recorded as spent",
            Move::Withdraw => "withdrawn",
        }
    }
}

/// A step that does not follow from where the expense stands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the expense is {from}; {}", explain(*.attempted))]
pub struct WrongMove {
    pub from: State,
    pub attempted: Move,
}

fn explain(attempted: Move) -> String {
    let only = match attempted {
        Move::Approve | Move::Refuse => "only a requested expense",
        Move::RecordSpending => "only an approved expense",
        Move::Withdraw => "only a requested or approved expense",
    };
    format!("{only} can be {}", attempted.words())
}

/// Where `attempted` takes an expense that is `from`.
pub fn next(from: State, attempted: Move) -> Result<State, WrongMove> {
    use Move as M;
    use State as S;
    match (from, attempted) {
        (S::Requested, M::Approve) => Ok(S::Approved),
        (S::Requested, M::Refuse) => Ok(S::Refused),
        (S::Approved, M::RecordSpending) => Ok(S::Spent),
        (S::Requested | S::Approved, M::Withdraw) => Ok(S::Withdrawn),
        _ => Err(WrongMove { from, attempted }),
    }
}

/// Why an approval (or a refusal) is not the caller's to give.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalRefused {
    #[error("nobody approves their own request")]
    OwnRequest,
    #[error("the policy gives none of the roles {roles} authority to approve gift expenses")]
    NoAuthority { roles: String },
    #[error("{amount_minor} (minor units) is above the approver's limit of {limit_minor}")]
    AboveLimit { amount_minor: i64, limit_minor: i64 },
}

/// Whether `approver` with `roles` may approve `amount_minor` of a request
/// `requester` made.
pub fn check_approval(
    policy: &GiftExpensePolicy,
    approver: &str,
    roles: &[String],
    requester: &str,
    amount_minor: i64,
) -> Result<(), ApprovalRefused> {
    if approver == requester {
        return Err(ApprovalRefused::OwnRequest);
    }
    let limit = policy
        .limit_of(roles)
        .ok_or_else(|| ApprovalRefused::NoAuthority {
            roles: if roles.is_empty() {
                "(none)".to_owned()
            } else {
                roles.join(", ")
            },
        })?;
    match limit {
        ApprovalLimit::UpTo(limit_minor) if amount_minor > limit_minor => {
            Err(ApprovalRefused::AboveLimit {
                amount_minor,
                limit_minor,
            })
        }
        _ => Ok(()),
    }
}

/// Whether `approver` with `roles` may refuse a request `requester` made:
/// anyone who may approve some amount, never their own.
pub fn check_refusal(
    policy: &GiftExpensePolicy,
    approver: &str,
    roles: &[String],
    requester: &str,
) -> Result<(), ApprovalRefused> {
    check_approval(policy, approver, roles, requester, 0)
}

/// Why a spending cannot be recorded as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpendingRefused {
    #[error("spending {spent_minor} is above the approved {approved_minor}: say why in the note")]
    NoteNeeded {
        spent_minor: i64,
        approved_minor: i64,
    },
    #[error(
        "spending {spent_minor} is above what the policy allows for an approval of \
         {approved_minor}: at most {most_minor}"
    )]
    AboveAllowed {
        spent_minor: i64,
        approved_minor: i64,
        most_minor: i64,
    },
}

/// Whether spending `spent_minor` of `approved_minor` may be recorded, with
/// or without a note.
pub fn check_spending(
    policy: &GiftExpensePolicy,
    approved_minor: i64,
    spent_minor: i64,
    has_note: bool,
) -> Result<(), SpendingRefused> {
    if spent_minor <= approved_minor {
        return Ok(());
    }
    let most_minor = policy.most_spent(approved_minor);
    if spent_minor > most_minor {
        return Err(SpendingRefused::AboveAllowed {
            spent_minor,
            approved_minor,
            most_minor,
        });
    }
    if !has_note {
        return Err(SpendingRefused::NoteNeeded {
            spent_minor,
            approved_minor,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(overspend_bp: u32) -> GiftExpensePolicy {
        GiftExpensePolicy {
            approval: [
                ("supervisor".to_owned(), ApprovalLimit::UpTo(200_000)),
                ("admin".to_owned(), ApprovalLimit::Unlimited),
            ]
            .into(),
            overspend_bp,
        }
    }

    fn roles(r: &[&str]) -> Vec<String> {
        r.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_supervisor_approves_up_to_their_limit_and_not_a_fen_more() {
        let p = policy(0);
        let sup = roles(&["supervisor"]);
        assert_eq!(check_approval(&p, "wang", &sup, "li", 1), Ok(()));
        assert_eq!(
            check_approval(&p, "wang", &sup, "li", 200_000),
            Ok(()),
            "the limit itself"
        );
        assert_eq!(
            check_approval(&p, "wang", &sup, "li", 200_001),
            Err(ApprovalRefused::AboveLimit {
                amount_minor: 200_001,
                limit_minor: 200_000
            })
        );
        let refusal = check_approval(&p, "wang", &sup, "li", 200_001)
            .unwrap_err()
            .to_string();
        assert!(refusal.contains("200000"), "names the limit: {refusal}");
    }

    #[test]
    fn the_highest_role_counts_and_unlimited_covers_everything() {
        let p = policy(0);
        let both = roles(&["account_manager", "supervisor"]);
        assert_eq!(p.limit_of(&both), Some(ApprovalLimit::UpTo(200_000)));
        let top = roles(&["supervisor", "admin"]);
        assert_eq!(p.limit_of(&top), Some(ApprovalLimit::Unlimited));
        assert_eq!(
            check_approval(
                &p,
                "boss",
                &top,
                "li",
                patron_vocab::money::MAX_AMOUNT_MINOR
            ),
            Ok(())
        );
    }

    #[test]
    fn a_role_not_listed_approves_and_refuses_nothing() {
        let p = policy(0);
        for r in [&["account_manager"][..], &["viewer"], &[]] {
            let r = roles(r);
            assert!(matches!(
                check_approval(&p, "li", &r, "zhao", 1),
                Err(ApprovalRefused::NoAuthority { .. })
            ));
            assert!(matches!(
                check_refusal(&p, "li", &r, "zhao"),
                Err(ApprovalRefused::NoAuthority { .. })
            ));
        }
        assert_eq!(
            check_refusal(&p, "wang", &roles(&["supervisor"]), "li"),
            Ok(())
        );
    }

    #[test]
    fn nobody_approves_or_refuses_their_own_request() {
        let p = policy(0);
        let admin = roles(&["admin"]);
        assert_eq!(
            check_approval(&p, "li", &admin, "li", 1),
            Err(ApprovalRefused::OwnRequest)
        );
        assert_eq!(
            check_refusal(&p, "li", &admin, "li"),
            Err(ApprovalRefused::OwnRequest)
        );
    }

    #[test]
    fn every_state_and_move() {
        use Move as M;
        use State as S;
        for from in State::ALL {
            for attempted in Move::ALL {
                let expected = match (from, attempted) {
                    (S::Requested, M::Approve) => Some(S::Approved),
                    (S::Requested, M::Refuse) => Some(S::Refused),
                    (S::Approved, M::RecordSpending) => Some(S::Spent),
                    (S::Requested, M::Withdraw) | (S::Approved, M::Withdraw) => Some(S::Withdrawn),
                    _ => None,
                };
                assert_eq!(next(from, attempted).ok(), expected, "{from} {attempted:?}");
            }
        }
        let wrong = next(State::Requested, Move::RecordSpending).unwrap_err();
        assert_eq!(
            wrong.to_string(),
            "the expense is requested; only an approved expense can be recorded as spent"
        );
        let again = next(State::Spent, Move::Approve).unwrap_err();
        assert_eq!(
            again.to_string(),
            "the expense is spent; only a requested expense can be approved"
        );
    }

    #[test]
    fn spending_within_the_approval_needs_nothing_more() {
        let p = policy(0);
        assert_eq!(check_spending(&p, 100_000, 0, false), Ok(()));
        assert_eq!(check_spending(&p, 100_000, 100_000, false), Ok(()));
    }

    #[test]
    fn spending_above_needs_a_note_and_the_policys_leave() {
        // No tolerance: a fen above is refused, note or not.
        let strict = policy(0);
        assert_eq!(
            check_spending(&strict, 100_000, 100_001, true),
            Err(SpendingRefused::AboveAllowed {
                spent_minor: 100_001,
                approved_minor: 100_000,
                most_minor: 100_000
            })
        );
        // 10 %: up to 110,000 with a note.
        let tolerant = policy(1_000);
        assert_eq!(tolerant.most_spent(100_000), 110_000);
        assert_eq!(
            check_spending(&tolerant, 100_000, 110_000, false),
            Err(SpendingRefused::NoteNeeded {
                spent_minor: 110_000,
                approved_minor: 100_000
            })
        );
        assert_eq!(check_spending(&tolerant, 100_000, 110_000, true), Ok(()));
        assert!(matches!(
            check_spending(&tolerant, 100_000, 110_001, true),
            Err(SpendingRefused::AboveAllowed {
                most_minor: 110_000,
                ..
            })
        ));
        // Rounds down, never up: 10 % of 9 fen is 0.
        assert_eq!(tolerant.most_spent(9), 9);
        assert_eq!(
            policy(100_000).most_spent(patron_vocab::money::MAX_AMOUNT_MINOR),
            11 * patron_vocab::money::MAX_AMOUNT_MINOR
        );
    }

    fn read(text: &str) -> Result<GiftExpensePolicy, Vec<(String, String)>> {
        let value: toml::Value = toml::from_str(text).unwrap();
        GiftExpensePolicy::from_toml(&value, 2)
    }

    #[test]
    fn the_section_reads_in_major_units() {
        let p = read(
            r#"approval = { supervisor = 2000, admin = "unlimited" }
               overspend_up_to = 0.1"#,
        )
        .unwrap();
        assert_eq!(p.approval["supervisor"], ApprovalLimit::UpTo(200_000));
        assert_eq!(p.approval["admin"], ApprovalLimit::Unlimited);
        assert_eq!(p.overspend_bp, 1_000);
        let p = read(r#"approval = { supervisor = 0 }"#).unwrap();
        assert_eq!(p.overspend_bp, 0, "no tolerance unless said");
    }

    #[test]
    fn a_bad_section_names_each_field() {
        let err = read(
            r#"approval = { supervisr = 2000, admin = -1, viewer = "lots" }
               overspend_up_to = -0.5"#,
        )
        .unwrap_err();
        let fields: Vec<&str> = err.iter().map(|(f, _)| f.as_str()).collect();
        for expected in [
            "scheduling.gift_expenses.approval.supervisr",
            "scheduling.gift_expenses.approval.admin",
            "scheduling.gift_expenses.approval.viewer",
            "scheduling.gift_expenses.overspend_up_to",
        ] {
            assert!(fields.contains(&expected), "{expected} in {fields:?}");
        }
        let err = read("approval = {}").unwrap_err();
        assert_eq!(err[0].0, "scheduling.gift_expenses.approval");
        let err = read("approval = { admin = 1 }\nceiling = 3").unwrap_err();
        assert!(err[0].1.contains("ceiling"), "{err:?}");
        let err = read("approval = { admin = 10000000000000000 }").unwrap_err();
        assert_eq!(err[0].0, "scheduling.gift_expenses.approval.admin");
    }

    #[test]
    fn the_default_lets_only_administrators_approve() {
        let p = GiftExpensePolicy::default();
        assert_eq!(p.limit_of(&roles(&["supervisor"])), None);
        assert_eq!(
            p.limit_of(&roles(&["admin"])),
            Some(ApprovalLimit::Unlimited)
        );
        assert_eq!(p.most_spent(500), 500);
    }
}
