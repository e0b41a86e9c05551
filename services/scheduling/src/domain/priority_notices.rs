//! Priority notices (000 3.11: VIP customers have the right to learn first
//! of a policy or price change; the staff who serve them tell each of their
//! customers as soon as it is announced). A notice becomes one task per
//! affected VIP, for their manager, highest tier first: the tiers in the
//! order the policy in force declares them (highest first), narrowed to
//! those the notice names.

use uuid::Uuid;

/// Why the tiers a notice names are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TierChoiceError {
    #[error("{tier} is not a tier of the policy in force ({known})")]
    Unknown { tier: String, known: String },
    #[error("{tier} is named twice")]
    Twice { tier: String },
}

/// The tiers a notice goes to, highest first: every tier of the policy
/// (`policy_tiers`, highest first) when `asked` is empty, else those asked,
/// in the policy's order. Each problem is reported with its position in
/// `asked`.
pub fn tiers_to_notify(
    policy_tiers: &[String],
    asked: &[String],
) -> Result<Vec<String>, Vec<(usize, TierChoiceError)>> {
    let mut problems = Vec::new();
    for (i, tier) in asked.iter().enumerate() {
        if !policy_tiers.contains(tier) {
            problems.push((
                i,
                TierChoiceError::Unknown {
                    tier: tier.clone(),
                    known: policy_tiers.join(", "),
                },
            ));
        } else if asked[..i].contains(tier) {
            problems.push((i, TierChoiceError::Twice { tier: tier.clone() }));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(policy_tiers
        .iter()
        .filter(|t| asked.is_empty() || asked.contains(t))
        .cloned()
        .collect())
}

/// The id of the notice's task at `position` (0 for the first, the highest
/// tier's): `base` (a fresh time-ordered id) with its last 48 bits replaced
/// by the position, so the tasks' ids sort in the notice's order (lists show
/// tasks due the same day by id) and stay time-ordered UUIDs (version and
/// variant bits lie above). The store computes the same in SQL over the
/// whole set; positions beyond 2^48 wrap, far above any customer base.
pub fn task_id(base: Uuid, position: u64) -> Uuid {
    let mut bytes = *base.as_bytes();
    let low = (position & 0xFFFF_FFFF_FFFF).to_be_bytes();
    bytes[10..].copy_from_slice(&low[2..]);
    Uuid::from_bytes(bytes)
}

/// The first 20 hexadecimal digits of `base` (the part [`task_id`] keeps),
/// for the store's SQL to append each position to.
pub fn task_id_prefix(base: Uuid) -> String {
    base.simple().to_string()[..20].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(s: &[&str]) -> Vec<String> {
        s.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn every_tier_highest_first_unless_narrowed() {
        let policy = strings(&["diamond", "gold", "silver"]);
        assert_eq!(tiers_to_notify(&policy, &[]).unwrap(), policy);
        assert_eq!(
            tiers_to_notify(&policy, &strings(&["silver", "diamond"])).unwrap(),
            strings(&["diamond", "silver"]),
            "the policy's order, whatever the order asked"
        );
    }

    #[test]
    fn unknown_and_repeated_tiers_are_named_by_position() {
        let policy = strings(&["A", "B", "C"]);
        let err = tiers_to_notify(&policy, &strings(&["B", "Z", "B"])).unwrap_err();
        assert_eq!(err.len(), 2);
        assert_eq!(err[0].0, 1);
        assert_eq!(
            err[0].1.to_string(),
            "Z is not a tier of the policy in force (A, B, C)"
        );
        assert_eq!(err[1], (2, TierChoiceError::Twice { tier: "B".into() }));
    }

    #[test]
    fn task_ids_sort_by_position_and_stay_version_7() {
        let base = Uuid::now_v7();
        let ids: Vec<Uuid> = (0..1000).map(|p| task_id(base, p)).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        for id in &ids {
            assert_eq!(id.get_version_num(), 7);
            assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
            assert_eq!(task_id_prefix(*id), task_id_prefix(base));
        }
        assert_eq!(
            task_id(base, 0x1234).simple().to_string(),
            format!("{}000000001234", task_id_prefix(base))
        );
    }
}
