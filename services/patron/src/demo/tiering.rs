//! Tiering: the preset's policy made the one in force, the facts the
//! company sets by hand, and the tiers that came of a year of purchases.

use std::collections::BTreeMap;
use std::time::Duration;

use patron_proto::common::v1::Money;
use patron_proto::tiering::v1 as pb;
use patron_proto::tiering::v1::tiering_service_client::TieringServiceClient;
use tonic::Code;

use super::Target;
use super::calls::retrying;
use super::calls::{ADMIN, once_settled, refused, until};
use super::plan::Customer;

/// The policy in force after [`activate`].
#[derive(Debug, Clone)]
pub struct Activated {
    pub policy: String,
    pub version: i32,
    /// It was in force already (the suite started with this preset).
    pub already: bool,
}

/// Makes the preset's text the tier policy in force, unless it already is.
pub async fn activate(target: &Target, id: &str, text: &str) -> anyhow::Result<Activated> {
    let mut client = TieringServiceClient::new(target.tiering.clone());
    let policies = retrying!(
        client,
        list_tier_policies,
        target,
        ADMIN,
        pb::ListTierPoliciesRequest {}
    )
    .map_err(|s| refused("list the tier policies", s))?
    .into_inner();
    let name = format!("tierPolicies/{id}");
    if let Some(p) = policies
        .tier_policies
        .iter()
        .find(|p| p.name == name && p.active && p.preset == text)
    {
        return Ok(Activated {
            policy: name,
            version: p.version,
            already: true,
        });
    }
    let created = retrying!(
        client,
        create_tier_policy,
        target,
        ADMIN,
        pb::CreateTierPolicyRequest {
            preset: text.to_owned(),
            activate: true,
        }
    )
    .map_err(|s| refused(format!("store and activate the preset {id}"), s))?
    .into_inner();
    Ok(Activated {
        policy: created.name,
        version: created.version,
        already: false,
    })
}

/// Waits until tiering has counted every purchase and refund: the whole
/// company's lifetime spend, as tiering ranks it, is what was recorded.
pub async fn wait_for_spend(
    target: &Target,
    expected_minor: i64,
    patience: Duration,
) -> anyhow::Result<()> {
    let client = TieringServiceClient::new(target.tiering.clone());
    let seen = std::sync::atomic::AtomicI64::new(0);
    until("tiering counting every recorded purchase", patience, || {
        let mut client = client.clone();
        let request = target.signed(
            ADMIN,
            pb::ListTopCustomersRequest {
                window: "lifetime".into(),
                top_percent: 10,
            },
        );
        let seen = &seen;
        async move {
            let ranking = match client.list_top_customers(request).await {
                Ok(answer) => answer.into_inner(),
                // Busy: ask again at the next turn.
                Err(status) if super::calls::transient(&status) => return Ok(false),
                Err(status) => return Err(refused("rank the customers by spend", status)),
            };
            let total = ranking.total_spend.map_or(0, |m| m.amount_minor);
            seen.store(total, std::sync::atomic::Ordering::Relaxed);
            Ok(total == expected_minor)
        }
    })
    .await
    .map_err(|e| {
        let seen = seen.load(std::sync::atomic::Ordering::Relaxed);
        e.context(format!(
            "tiering counts {seen} of {expected_minor} minor units"
        ))
    })
}

/// Sets each customer's standing where the company sets one (designations,
/// credit grades, regions); how many were set.
pub async fn set_standings(
    target: &Target,
    customers: &[(Customer, String)],
    currency: &str,
) -> anyhow::Result<usize> {
    let client = TieringServiceClient::new(target.tiering.clone());
    let mut set = 0;
    for (customer, name) in customers {
        let Some(standing) = &customer.standing else {
            continue;
        };
        let message = pb::UpdateCustomerStandingRequest {
            standing: Some(pb::CustomerStanding {
                name: format!("{name}/standing"),
                credit_grade: standing.credit_grade.unwrap_or_default().into(),
                arrears: Some(Money {
                    currency_code: currency.into(),
                    amount_minor: 0,
                }),
                bad_records: standing.bad_records,
                region: standing.region.unwrap_or_default().into(),
                designated_tier_code: standing.designated.unwrap_or_default().into(),
            }),
        };
        once_settled(
            format!("set the standing of {}", customer.archive_number),
            &[Code::NotFound],
            Duration::from_secs(30),
            || {
                let mut client = client.clone();
                let request = target.signed(ADMIN, message.clone());
                async move { client.update_customer_standing(request).await }
            },
        )
        .await?;
        set += 1;
    }
    Ok(set)
}

/// How many customers hold each tier now ("" for none).
pub async fn tiers(target: &Target, names: &[String]) -> anyhow::Result<BTreeMap<String, usize>> {
    let mut client = TieringServiceClient::new(target.tiering.clone());
    let mut counts = BTreeMap::new();
    for name in names {
        let assignment = retrying!(
            client,
            get_tier_assignment,
            target,
            ADMIN,
            pb::GetTierAssignmentRequest {
                name: format!("{name}/tierAssignment"),
            }
        );
        let tier = match assignment {
            Ok(a) => a.into_inner().tier_code,
            // Tiering keeps no assignment for a customer no rule placed.
            Err(status) if status.code() == Code::NotFound => String::new(),
            Err(status) => return Err(refused(format!("read the tier of {name}"), status)),
        };
        *counts.entry(tier).or_insert(0) += 1;
    }
    Ok(counts)
}
