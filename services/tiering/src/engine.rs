//! Re-evaluating one customer inside the caller's transaction: read the
//! active policy and the customer's figures, decide, record the assignment,
//! and when the tier in effect changes, its history row and TierChanged
//! event, all in that same transaction.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono_tz::Tz;
use patron_kit::clock::{self, SharedClock};
use patron_kit::events::EventBatch;
use patron_kit::{ServiceError, resource_name};
use patron_proto::tiering::v1 as pb;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::churn::ComplaintHistory;
use crate::domain::evaluate::{self, Standing};
use crate::domain::policy::Policy;
use crate::domain::preset;
use crate::domain::tier_decision::{self, HeldTier, PinnedTier, TierDecision};
use crate::store::{self, AssignmentRow, ChangeRow, PolicyRow, StandingRow};
use patron_kit::directory::store as customer_facts;

/// What a re-evaluation needs besides the database.
#[derive(Clone)]
pub struct Engine {
    pub clock: SharedClock,
    pub zone: Tz,
    /// The active policy, read once per version rather than once per customer.
    parsed: Arc<Mutex<Option<ParsedPolicy>>>,
    /// Callers' units, kept for the kit's bound and forgotten as profile's
    /// directory events are applied (the calls and the consumer share it).
    pub reach: patron_kit::directory::ReachCache,
}

/// A policy version's id, number and engine form.
type ParsedPolicy = (String, i32, Arc<Policy>);

/// What a decision about one customer reads.
struct Inputs<'a> {
    current: Option<AssignmentRow>,
    standing: Option<&'a StandingRow>,
    figures: crate::domain::evaluate::Figures,
    complaints: ComplaintHistory,
}

// The occasions of a decision are the tier rule's words; callers name them
// through the engine that applies it.
pub use crate::domain::tier_decision::{Occasion, Override};

/// A stored policy, read back into the engine's form.
pub fn policy_of(row: &PolicyRow) -> Result<Policy, ServiceError> {
    preset::parse(&row.preset).map(|p| p.policy).map_err(|e| {
        ServiceError::internal(anyhow::anyhow!(
            "stored policy {} v{} no longer reads: {e}",
            row.id,
            row.version
        ))
    })
}

/// A stored standing as the evaluation reads it (empty texts are unset).
pub fn standing_of(row: Option<&StandingRow>) -> Standing {
    let set = |text: &str| (!text.is_empty()).then(|| text.to_owned());
    Standing {
        region: row.and_then(|s| set(&s.region)),
        designated: row.and_then(|s| set(&s.designated_tier)),
    }
}

impl Engine {
    pub fn new(clock: SharedClock, zone: Tz) -> Self {
        Self {
            clock,
            zone,
            parsed: Arc::default(),
            reach: patron_kit::directory::ReachCache::default(),
        }
    }

    /// The policy of a stored version, parsed once.
    fn policy(&self, row: &PolicyRow) -> Result<Arc<Policy>, ServiceError> {
        let mut parsed = self.parsed.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((id, version, policy)) = parsed.as_ref()
            && *id == row.id
            && *version == row.version
        {
            return Ok(policy.clone());
        }
        let policy = Arc::new(policy_of(row)?);
        *parsed = Some((row.id.clone(), row.version, policy.clone()));
        Ok(policy)
    }

    /// The active policy version and its engine form (parsed once per version).
    pub async fn active(
        &self,
        conn: &mut PgConnection,
    ) -> Result<Option<(PolicyRow, Arc<Policy>)>, ServiceError> {
        let Some(row) = store::active_policy(conn).await? else {
            return Ok(None);
        };
        let policy = self.policy(&row)?;
        Ok(Some((row, policy)))
    }

    /// Decides `customer`'s tier under the active policy and records it.
    /// `None` when no policy is active yet (figures are still kept).
    pub async fn reevaluate(
        &self,
        tx: &mut PgConnection,
        customer: Uuid,
        occasion: Occasion,
        actor: &str,
    ) -> Result<Option<AssignmentRow>, ServiceError> {
        let Some(active) = self.active(tx).await? else {
            return Ok(None);
        };
        self.reevaluate_under(tx, &active, customer, occasion, actor)
            .await
            .map(Some)
    }

    /// Like [`reevaluate`](Self::reevaluate), under a policy version the
    /// caller has already read in this transaction.
    pub async fn reevaluate_under(
        &self,
        tx: &mut PgConnection,
        active: &(PolicyRow, Arc<Policy>),
        customer: Uuid,
        occasion: Occasion,
        actor: &str,
    ) -> Result<AssignmentRow, ServiceError> {
        self.reevaluate_many(tx, active, &[(customer, occasion)], actor)
            .await?
            .pop()
            .ok_or_else(|| ServiceError::not_found(format!("customers/{customer}")))
    }

    /// Re-decides many customers in the caller's transaction, each once
    /// (the first occasion listed counts), reading their assignments,
    /// standings and figures a query each for all of them rather than per
    /// customer; the daily sweep's batches go through here. Traced: the tier
    /// events it writes continue the trace of what asked for the decision.
    pub async fn reevaluate_many(
        &self,
        tx: &mut PgConnection,
        active: &(PolicyRow, Arc<Policy>),
        customers: &[(Uuid, Occasion)],
        actor: &str,
    ) -> Result<Vec<AssignmentRow>, ServiceError> {
        let ids: Vec<Uuid> = customers.iter().map(|(id, _)| *id).collect();
        store::lock_customers(tx, &ids).await?;
        self.reevaluate_locked(tx, active, customers, actor).await
    }

    /// Like [`reevaluate_many`](Self::reevaluate_many), for a caller that
    /// holds every one of `customers`' locks already (the consumer's batch,
    /// the sweep's claim): taking them again would cost a round trip.
    #[tracing::instrument(
        name = "decide tiers",
        skip_all,
        fields(customers = customers.len(), actor = %actor, policy = %active.id, version = active.version)
    )]
    pub async fn reevaluate_locked(
        &self,
        tx: &mut PgConnection,
        (active, policy): &(PolicyRow, Arc<Policy>),
        customers: &[(Uuid, Occasion)],
        actor: &str,
    ) -> Result<Vec<AssignmentRow>, ServiceError> {
        let mut seen = std::collections::HashSet::new();
        let customers: Vec<&(Uuid, Occasion)> = customers
            .iter()
            .filter(|(id, _)| seen.insert(*id))
            .collect();
        let ids: Vec<Uuid> = customers.iter().map(|(id, _)| *id).collect();
        // A deleted archive is tiered no more, nor is a customer who left
        // the programme: their tier stays as it was when they left, whatever
        // late purchases or a new policy would say (read under their locks,
        // so a deletion or exit applied meanwhile counts).
        let gone = customer_facts::gone_among(tx, &ids).await?;
        let customers: Vec<&(Uuid, Occasion)> = customers
            .into_iter()
            .filter(|(id, _)| !gone.contains(id))
            .collect();
        let ids: Vec<Uuid> = customers.iter().map(|(id, _)| *id).collect();
        let mut currents = store::assignments_of(tx, &ids).await?;
        let standings = store::standings_of(tx, &ids).await?;
        let now = self.clock.now();
        let today = clock::today(self.clock.as_ref(), self.zone);
        let mut figures_of =
            store::figures_of(tx, &ids, &policy.figures_needed(), today, &standings).await?;
        let mut complaints_of = self.complaint_histories(tx, policy, &ids, now).await?;
        let decided: Vec<Decided> = customers
            .iter()
            .map(|(customer, occasion)| {
                let inputs = Inputs {
                    current: currents.remove(customer),
                    standing: standings.get(customer),
                    figures: figures_of.remove(customer).unwrap_or_default(),
                    complaints: complaints_of.remove(customer).unwrap_or_default(),
                };
                decide(
                    (active, policy),
                    *customer,
                    occasion,
                    actor,
                    inputs,
                    now,
                    today,
                )
            })
            .collect();
        // Most of a day's sweep decides what is stored already: those rows
        // are only stamped, not sent and parsed again in full.
        let (unchanged, changed): (Vec<&Decided>, Vec<&Decided>) =
            decided.iter().partition(|d| d.unchanged);
        let rows: Vec<&AssignmentRow> = changed.iter().map(|d| &d.row).collect();
        let mut versions = store::put_assignments(tx, &rows).await?;
        let confirmed: Vec<Uuid> = unchanged.iter().map(|d| d.row.customer_id).collect();
        versions.extend(store::confirm_assignments(tx, &confirmed, now).await?);
        let mut stored = Vec::with_capacity(decided.len());
        let mut changes = Vec::new();
        let mut events = EventBatch::default();
        for Decided {
            mut row,
            churn_raised,
            change,
            ..
        } in decided
        {
            let name = resource_name::format("customers", row.customer_id);
            if let Some(event) = churn_raised {
                events.push(&name, &event, now);
            }
            if let Some((change, event)) = change {
                changes.push((row.customer_id, change));
                events.push(&name, &event, now);
            }
            // What was written is the row as decided, at the version the
            // database gave it.
            if let Some(version) = versions.get(&row.customer_id) {
                row.version = *version;
                stored.push(row);
            }
        }
        store::insert_changes(tx, &changes).await?;
        events.write(tx).await?;
        Ok(stored)
    }
}

impl Engine {
    /// The complaints the churn rule looks at, on the company's days; none
    /// read when the policy's churn rule uses no complaints.
    async fn complaint_histories(
        &self,
        tx: &mut PgConnection,
        policy: &Policy,
        ids: &[Uuid],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<HashMap<Uuid, ComplaintHistory>, ServiceError> {
        let Some(rule) = policy.churn.as_ref().and_then(|c| c.complaints) else {
            return Ok(HashMap::new());
        };
        // A day more than the window, whatever the zone; the rule keeps
        // only the window's days.
        let since = now - chrono::Duration::days(i64::from(rule.window_days) + 1);
        let day = |at: chrono::DateTime<chrono::Utc>| at.with_timezone(&self.zone).date_naive();
        Ok(store::complaints_of(tx, ids, since)
            .await?
            .into_iter()
            .map(|(customer, rows)| {
                let history = ComplaintHistory {
                    received: rows.received.into_iter().map(day).collect(),
                    scores: rows
                        .scores
                        .into_iter()
                        .filter_map(|(score, at)| Some((u8::try_from(score).ok()?, day(at))))
                        .collect(),
                };
                (customer, history)
            })
            .collect())
    }
}

/// One customer's decision, to be recorded: the assignment, a churn risk
/// newly raised, and a change of tier with its event.
struct Decided {
    row: AssignmentRow,
    /// The stored row already says all of it but when it was decided.
    unchanged: bool,
    churn_raised: Option<pb::ChurnRiskRaised>,
    change: Option<(ChangeRow, pb::TierChanged)>,
}

/// Decides one customer from what was read for them (no I/O): the tier
/// rule decides, and this maps its decision onto the assignment row, the
/// history row and the events.
fn decide(
    (active, policy): (&PolicyRow, &Policy),
    customer: Uuid,
    occasion: &Occasion,
    actor: &str,
    Inputs {
        current,
        standing: standing_row,
        figures,
        complaints,
    }: Inputs<'_>,
    now: chrono::DateTime<chrono::Utc>,
    today: chrono::NaiveDate,
) -> Decided {
    let standing = standing_of(standing_row);
    let decision = evaluate::evaluate(policy, &figures, &standing);
    let earned = evaluate::explain(policy, &decision);
    let activity = policy
        .activity
        .as_ref()
        .map(|rule| crate::domain::activity::activity(rule, &figures));
    let churn_reasons = policy
        .churn
        .as_ref()
        .map(|rule| {
            crate::domain::churn::assess(
                policy,
                rule,
                &figures,
                activity.as_ref().map(|(a, _)| *a),
                &complaints,
                today,
            )
        })
        .unwrap_or_default();

    let held = current.as_ref().map(held_tier);
    let TierDecision {
        tier: effective,
        pending,
        pinned,
        next_review_at,
        change: change_reason,
    } = tier_decision::decide_tier(
        policy,
        held.as_ref(),
        decision.tier.as_deref(),
        occasion,
        actor,
        now,
    );
    let before = held.and_then(|h| h.tier);
    let explanation = match &pinned {
        Some(PinnedTier { tier, reason, by }) => {
            format!("{tier}: set by {by} ({reason}); the figures earn {earned}")
        }
        None => earned,
    };
    let check = |c: &evaluate::Check, rule: Option<usize>, deciding: bool| {
        let rule = rule.map(|i| &policy.rules[i]);
        serde_json::json!({
            "figure": c.figure.name(),
            "window": c.window.describe(),
            "value": c.value.map(|v| evaluate::format_value(policy, c.figure, v)),
            "comparison": c.comparison.symbol(),
            "threshold": evaluate::format_value(policy, c.figure, c.threshold),
            "held": c.held,
            "ruleTier": rule.map(|r| r.tier.as_str()).or(decision.tier.as_deref()),
            "rule": rule.map(|r| r.description.as_str()),
            "deciding": deciding,
        })
    };
    let deciding_rule = match decision.basis {
        evaluate::Basis::Rule(i) => Some(i),
        _ => None,
    };
    let checks = serde_json::Value::Array(
        decision
            .tried
            .iter()
            .flat_map(|(i, checks)| checks.iter().map(|c| check(c, Some(*i), false)))
            .chain(
                decision
                    .checks
                    .iter()
                    .map(|c| check(c, deciding_rule, true)),
            )
            .collect(),
    );
    let row = AssignmentRow {
        customer_id: customer,
        tier: effective.clone(),
        pending_tier: pending,
        policy_id: active.id.clone(),
        policy_version: active.version,
        explanation: explanation.clone(),
        checks,
        decided_at: now,
        next_review_at,
        version: 0,
        activity: activity.as_ref().map(|(a, _)| a.name().to_owned()),
        activity_reason: activity.map(|(_, why)| why),
        override_tier: pinned.as_ref().map(|p| p.tier.clone()),
        override_reason: pinned.as_ref().map(|p| p.reason.clone()),
        override_by: pinned.as_ref().map(|p| p.by.clone()),
        churn_reasons: churn_reasons.clone(),
        account_manager: String::new(),
    };
    let name = resource_name::format("customers", customer);
    let newly_at_risk =
        !churn_reasons.is_empty() && current.as_ref().is_none_or(|c| c.churn_reasons.is_empty());
    let churn_raised = newly_at_risk.then(|| pb::ChurnRiskRaised {
        customer: name.clone(),
        tier_code: effective.clone().unwrap_or_default(),
        reasons: churn_reasons,
    });
    let change = change_reason.map(|reason| {
        let reason = reason.as_str();
        let change = ChangeRow {
            id: 0,
            from_tier: before.clone(),
            to_tier: effective.clone(),
            reason: reason.into(),
            explanation: explanation.clone(),
            policy_id: active.id.clone(),
            policy_version: active.version,
            changed_at: now,
            actor: actor.into(),
        };
        let event = pb::TierChanged {
            customer: name,
            from_tier_code: before.unwrap_or_default(),
            to_tier_code: effective.unwrap_or_default(),
            reason: reason.into(),
            policy: format!("tierPolicies/{}", active.id),
            explanation,
            policy_version: active.version,
        };
        (change, event)
    });
    let unchanged = current.as_ref().is_some_and(|c| c.same_decision(&row));
    Decided {
        row,
        unchanged,
        churn_raised,
        change,
    }
}

/// A stored assignment as the tier rule reads it.
fn held_tier(row: &AssignmentRow) -> HeldTier {
    HeldTier {
        tier: row.tier.clone(),
        next_review_at: row.next_review_at,
        // A pin without a tier is no pin; its reason and author may be unset.
        pinned: row.override_tier.clone().map(|tier| PinnedTier {
            tier,
            reason: row.override_reason.clone().unwrap_or_default(),
            by: row.override_by.clone().unwrap_or_default(),
        }),
    }
}
