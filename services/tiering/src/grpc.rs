//! The TieringService gRPC API: policies in and out, assignments and their
//! history, standings. Decisions are made by `engine`; rules are in `domain`.

use patron_kit::auth;
use patron_kit::{ServiceError, Violations, paging, resource_name, timestamp};
use patron_proto::common::v1::Money;
use patron_proto::tiering::v1 as pb;
use patron_proto::tiering::v1::tiering_service_server::TieringService;
use patron_vocab::Change;
use patron_vocab::roles::Permission;
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::access;
use crate::domain::evaluate;
use crate::domain::{check_policy_id, preset};
use crate::engine::{self, Engine, Occasion};
use crate::store::{self, AssignmentRow, PolicyRow, StandingRow};
use patron_kit::directory::CustomerFacts;

mod churn;
mod discounts;
pub mod points_service;

const POLICIES: &str = "tierPolicies";

/// The API's state.
#[derive(Clone)]
pub struct TieringApi {
    pub pool: PgPool,
    pub engine: Engine,
}

fn policy_name(id: &str) -> String {
    format!("{POLICIES}/{id}")
}

fn parse_policy_name(field: &str, name: &str) -> Result<String, ServiceError> {
    name.strip_prefix(POLICIES)
        .and_then(|rest| rest.strip_prefix('/'))
        .filter(|id| check_policy_id(id).is_ok())
        .map(str::to_owned)
        .ok_or_else(|| {
            ServiceError::invalid(field, "must be a policy name of the form tierPolicies/{id}")
        })
}

/// The customer id in `customers/{id}/<suffix>`.
fn parse_customer_child(field: &str, name: &str, suffix: &str) -> Result<Uuid, ServiceError> {
    name.strip_suffix(suffix)
        .and_then(|parent| parent.strip_suffix('/'))
        .and_then(|parent| resource_name::parse(field, "customers", parent).ok())
        .ok_or_else(|| {
            ServiceError::invalid(
                field,
                format!("must be of the form customers/{{id}}/{suffix}"),
            )
        })
}

fn policy_view(row: &PolicyRow) -> Result<pb::TierPolicy, ServiceError> {
    let policy = engine::policy_of(row)?;
    let money = |minor: i64| Money {
        currency_code: policy.currency.clone(),
        amount_minor: minor,
    };
    Ok(pb::TierPolicy {
        name: policy_name(&row.id),
        version: row.version,
        title: row.title.clone(),
        source: row.source.clone(),
        tiers: policy
            .tiers
            .iter()
            .map(|t| pb::Tier {
                code: t.code.clone(),
                display_name: t.name.clone(),
                owner_level: t.owner_level.clone().unwrap_or_default(),
                price_level: t.benefits.price_level.clone().unwrap_or_default(),
                credit_allowance: t
                    .benefits
                    .credit_allowance
                    .and_then(|a| a.single())
                    .map(money),
                credit_allowance_range: t.benefits.credit_allowance.map(|a| pb::MoneyRange {
                    lower: a.lower.map(|b| money(b.amount)),
                    lower_exclusive: a.lower.is_some_and(|b| b.exclusive),
                    upper: a.upper.map(|b| money(b.amount)),
                    upper_exclusive: a.upper.is_some_and(|b| b.exclusive),
                    description: a.describe(|minor| {
                        let digits = patron_vocab::money::digits_or_default(&policy.currency);
                        format!(
                            "{} {}",
                            patron_vocab::money::format_minor(minor, digits),
                            policy.currency
                        )
                    }),
                }),
                priority_order: t.benefits.priority_order,
                priority_production: t.benefits.priority_production,
                priority_delivery: t.benefits.priority_delivery,
                progress_feedback: t.benefits.progress_feedback,
                visiting_level: t.benefits.visiting_level.clone().unwrap_or_default(),
                free_support_staff: t.benefits.free_support_staff as i32,
                member_discount_percent: t.benefits.member_discount_percent.unwrap_or(0) as i32,
                birthday_discount_percent: t.benefits.birthday_discount_percent.unwrap_or(0) as i32,
            })
            .collect(),
        preset: row.preset.clone(),
        active: row.active,
        create_time: Some(timestamp::to_proto(row.created_at)),
        created_by: row.created_by.clone(),
    })
}

fn assignment_view(row: &AssignmentRow) -> pb::TierAssignment {
    let text = |v: &serde_json::Value, key: &str| v[key].as_str().unwrap_or_default().to_owned();
    pb::TierAssignment {
        name: format!("customers/{}/tierAssignment", row.customer_id),
        tier_code: row.tier.clone().unwrap_or_default(),
        policy: policy_name(&row.policy_id),
        policy_version: row.policy_version,
        explanation: row.explanation.clone(),
        decide_time: Some(timestamp::to_proto(row.decided_at)),
        checks: row
            .checks
            .as_array()
            .map(|checks| {
                checks
                    .iter()
                    .map(|c| pb::FigureCheck {
                        figure: text(c, "figure"),
                        window: text(c, "window"),
                        value: c["value"].as_str().unwrap_or("unknown").to_owned(),
                        comparison: text(c, "comparison"),
                        threshold: text(c, "threshold"),
                        held: c["held"].as_bool().unwrap_or(false),
                        rule_tier_code: text(c, "ruleTier"),
                        rule: text(c, "rule"),
                        // Rows decided before tried rules were kept hold
                        // the deciding rule's comparisons only.
                        deciding: c["deciding"].as_bool().unwrap_or(true),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        pending_tier_code: row.pending_tier.clone().unwrap_or_default(),
        next_review_time: Some(timestamp::to_proto(row.next_review_at)),
        activity: row.activity.clone().unwrap_or_default(),
        activity_reason: row.activity_reason.clone().unwrap_or_default(),
        override_reason: row.override_reason.clone().unwrap_or_default(),
        overridden_by: row.override_by.clone().unwrap_or_default(),
        churn_risks: row.churn_reasons.clone(),
        account_manager: row.account_manager.clone(),
    }
}

impl TieringApi {
    /// What profile said of the customer; PERMISSION_DENIED when the
    /// customer is outside the caller's reach.
    async fn require_customer(
        &self,
        caller: &patron_kit::auth::Caller,
        customer: Uuid,
    ) -> Result<CustomerFacts, ServiceError> {
        let mut conn = self.pool.acquire().await?;
        access::require_customer(&self.engine.reach, &mut conn, caller, customer).await
    }

    async fn evaluate(
        &self,
        customer: Uuid,
        facts: &CustomerFacts,
        actor: &str,
        standing: Option<&StandingRow>,
    ) -> Result<pb::TierAssignment, ServiceError> {
        self.evaluate_on(customer, facts, actor, standing, Occasion::Figures)
            .await
    }

    /// Re-decides the customer (storing a new standing first when given);
    /// `facts` are the customer's as the reach check read them.
    async fn evaluate_on(
        &self,
        customer: Uuid,
        facts: &CustomerFacts,
        actor: &str,
        standing: Option<&StandingRow>,
        occasion: Occasion,
    ) -> Result<pb::TierAssignment, ServiceError> {
        if facts.exited {
            return Err(ServiceError::FailedPrecondition(format!(
                "customers/{customer} left the programme: a leaver's tier stays as it was when they left and is not decided again"
            )));
        }
        let mut tx = self.pool.begin().await?;
        // The customer's lock before any row of theirs (the lock order in `store`).
        store::lock_customers(&mut tx, &[customer]).await?;
        if let Some(standing) = standing {
            let change = Change {
                actor,
                at: self.engine.clock.now(),
            };
            store::put_standing(&mut tx, customer, standing, change).await?;
        }
        let Some(mut assigned) = self
            .engine
            .reevaluate(&mut tx, customer, occasion, actor)
            .await?
        else {
            return Err(ServiceError::FailedPrecondition(
                "no tier policy is active yet: create one with activate = true".into(),
            ));
        };
        assigned.account_manager = facts.account_manager.clone();
        tx.commit().await?;
        Ok(assignment_view(&assigned))
    }
}

#[tonic::async_trait]
impl TieringService for TieringApi {
    async fn create_tier_policy(
        &self,
        request: Request<pb::CreateTierPolicyRequest>,
    ) -> Result<Response<pb::TierPolicy>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::EditPolicies)?;
        let req = request.into_inner();
        if req.preset.trim().is_empty() {
            return Err(ServiceError::invalid("preset", "is required").into());
        }
        let parsed = preset::parse(&req.preset).map_err(|e| {
            let mut violations = Violations::new();
            for (field, reason) in e.problems {
                violations.add(format!("preset.{field}"), reason);
            }
            ServiceError::InvalidArgument(violations)
        })?;
        let change = Change {
            actor: &caller.subject,
            at: self.engine.clock.now(),
        };
        let sections =
            serde_json::to_value(&parsed.other_sections).map_err(ServiceError::internal)?;
        let mut tx = self.pool.begin().await.map_err(ServiceError::from)?;
        let mut row = store::insert_policy(
            &mut tx,
            &parsed.policy.id,
            &parsed.policy.title,
            &parsed.source,
            &req.preset,
            &sections,
            change,
        )
        .await?;
        if req.activate {
            store::activate(&mut tx, &row, change).await?;
            row.active = true;
        }
        tx.commit().await.map_err(ServiceError::from)?;
        tracing::info!(policy = %row.id, version = row.version, active = row.active, "tier policy stored");
        Ok(Response::new(policy_view(&row)?))
    }

    async fn get_tier_policy(
        &self,
        request: Request<pb::GetTierPolicyRequest>,
    ) -> Result<Response<pb::TierPolicy>, Status> {
        auth::caller(&request)?.require(Permission::ReadCustomers)?;
        let req = request.into_inner();
        let id = parse_policy_name("name", &req.name)?;
        if req.version < 0 {
            return Err(ServiceError::invalid("version", "must not be negative").into());
        }
        let version = (req.version > 0).then_some(req.version);
        let mut conn = self.pool.acquire().await.map_err(ServiceError::from)?;
        let row = store::policy(&mut conn, &id, version)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("tier policy {}", req.name)))?;
        Ok(Response::new(policy_view(&row)?))
    }

    async fn list_tier_policies(
        &self,
        request: Request<pb::ListTierPoliciesRequest>,
    ) -> Result<Response<pb::ListTierPoliciesResponse>, Status> {
        auth::caller(&request)?.require(Permission::ReadCustomers)?;
        let rows = store::latest_policies(&self.pool).await?;
        Ok(Response::new(pb::ListTierPoliciesResponse {
            tier_policies: rows.iter().map(policy_view).collect::<Result<_, _>>()?,
        }))
    }

    async fn activate_tier_policy(
        &self,
        request: Request<pb::ActivateTierPolicyRequest>,
    ) -> Result<Response<pb::TierPolicy>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::EditPolicies)?;
        let req = request.into_inner();
        let id = parse_policy_name("name", &req.name)?;
        if req.version <= 0 {
            return Err(ServiceError::invalid("version", "is required").into());
        }
        let mut tx = self.pool.begin().await.map_err(ServiceError::from)?;
        let mut row = store::policy(&mut tx, &id, Some(req.version))
            .await?
            .ok_or_else(|| {
                ServiceError::NotFound(format!("tier policy {} version {}", req.name, req.version))
            })?;
        let change = Change {
            actor: &caller.subject,
            at: self.engine.clock.now(),
        };
        store::activate(&mut tx, &row, change).await?;
        tx.commit().await.map_err(ServiceError::from)?;
        row.active = true;
        Ok(Response::new(policy_view(&row)?))
    }

    async fn get_tier_assignment(
        &self,
        request: Request<pb::GetTierAssignmentRequest>,
    ) -> Result<Response<pb::TierAssignment>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::ReadCustomers)?;
        let name = &request.get_ref().name;
        let customer = parse_customer_child("name", name, "tierAssignment")?;
        let mut conn = self.pool.acquire().await.map_err(ServiceError::from)?;
        let facts =
            access::require_customer(&self.engine.reach, &mut conn, &caller, customer).await?;
        let mut row = store::assignment(&mut conn, customer)
            .await?
            .ok_or_else(|| {
                // Said plainly: a read right after a purchase can come
                // before tiering has applied it.
                ServiceError::not_found_because(
                    name,
                    "the customer has not been tiered yet: a tier is decided from the purchases profile records, a moment after each one",
                )
            })?;
        row.account_manager = facts.account_manager;
        Ok(Response::new(assignment_view(&row)))
    }

    async fn evaluate_tier_assignment(
        &self,
        request: Request<pb::EvaluateTierAssignmentRequest>,
    ) -> Result<Response<pb::TierAssignment>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::EditCustomers)?;
        let customer = parse_customer_child("name", &request.get_ref().name, "tierAssignment")?;
        let facts = self.require_customer(&caller, customer).await?;
        Ok(Response::new(
            self.evaluate(customer, &facts, &caller.subject, None)
                .await?,
        ))
    }

    async fn update_customer_standing(
        &self,
        request: Request<pb::UpdateCustomerStandingRequest>,
    ) -> Result<Response<pb::TierAssignment>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::EditCustomers)?;
        let req = request.into_inner();
        let Some(standing) = req.standing else {
            return Err(ServiceError::invalid("standing", "is required").into());
        };
        let customer = parse_customer_child("standing.name", &standing.name, "standing")?;
        let facts = self.require_customer(&caller, customer).await?;
        let mut violations = Violations::new();
        let credit_rank = match standing.credit_grade.trim() {
            "" => None,
            grade => {
                let rank = preset::credit_rank(grade);
                if rank.is_none() {
                    violations.add(
                        "standing.credit_grade",
                        "must be a letter grade such as A, B or C",
                    );
                }
                rank.map(|r| r as i32)
            }
        };
        let arrears = match standing.arrears.as_ref() {
            None => 0,
            Some(m) => {
                match patron_vocab::money::Money::non_negative(&m.currency_code, m.amount_minor) {
                    Ok(money) => money.amount_minor,
                    Err(why) => {
                        violations.add("standing.arrears", why);
                        0
                    }
                }
            }
        };
        if standing.bad_records < 0 {
            violations.add("standing.bad_records", "must not be negative");
        }
        for (field, text) in [
            ("standing.region", &standing.region),
            (
                "standing.designated_tier_code",
                &standing.designated_tier_code,
            ),
        ] {
            if text.chars().count() > 64 {
                violations.add(field, "must be at most 64 characters");
            }
        }
        violations.into_result()?;
        let row = StandingRow {
            credit_rank,
            arrears_minor: arrears,
            bad_records: standing.bad_records,
            region: standing.region.trim().to_owned(),
            designated_tier: standing.designated_tier_code.trim().to_owned(),
        };
        Ok(Response::new(
            self.evaluate(customer, &facts, &caller.subject, Some(&row))
                .await?,
        ))
    }

    async fn override_tier_assignment(
        &self,
        request: Request<pb::OverrideTierAssignmentRequest>,
    ) -> Result<Response<pb::TierAssignment>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::OverrideTiers)?;
        let req = request.into_inner();
        let mut violations = Violations::new();
        let customer = parse_customer_child("name", &req.name, "tierAssignment")
            .map_err(|e| violations.add("name", e.to_string()))
            .ok();
        let reason = req.reason.trim();
        if reason.is_empty() {
            violations.add("reason", "is required: an override says why");
        } else if reason.chars().count() > 500 {
            violations.add("reason", "must be at most 500 characters");
        }
        let mut conn = self.pool.acquire().await.map_err(ServiceError::from)?;
        let known = self
            .engine
            .active(&mut conn)
            .await?
            .is_some_and(|(_, p)| p.tier(&req.tier_code).is_some());
        drop(conn);
        if !known {
            violations.add(
                "tier_code",
                format!("{:?} is not a tier of the active policy", req.tier_code),
            );
        }
        violations.into_result()?;
        let Some(customer) = customer else {
            return Err(ServiceError::invalid("name", "is required").into());
        };
        let facts = self.require_customer(&caller, customer).await?;
        let occasion = Occasion::Override(engine::Override {
            tier: req.tier_code.clone(),
            reason: reason.to_owned(),
        });
        let assigned = self
            .evaluate_on(customer, &facts, &caller.subject, None, occasion)
            .await?;
        tracing::info!(customer = %customer, tier = %req.tier_code, by = %caller.subject, "tier overridden");
        Ok(Response::new(assigned))
    }

    async fn list_pending_downgrades(
        &self,
        request: Request<pb::ListPendingDowngradesRequest>,
    ) -> Result<Response<pb::ListPendingDowngradesResponse>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::ReadCustomers)?;
        let req = request.get_ref();
        let limit = paging::page_size("page_size", req.page_size)?;
        let mut conn = self.pool.acquire().await.map_err(ServiceError::from)?;
        let visible =
            access::visibility(&self.engine.reach, &mut conn, &caller, &req.account_manager)
                .await?;
        let fingerprint = paging::filter_fingerprint(&["pending", &req.account_manager]);
        let after: Option<(chrono::DateTime<chrono::Utc>, Uuid)> =
            paging::decode_token("page_token", &req.page_token, &fingerprint)?;
        let rows = store::list_pending(&mut conn, &visible, after, limit + 1).await?;
        let (rows, next_page_token) = paging::finish_page(rows, limit, &fingerprint, |r| {
            (r.next_review_at, r.customer_id)
        });
        let Some((_, policy)) = self.engine.active(&mut conn).await? else {
            return Ok(Response::new(pb::ListPendingDowngradesResponse::default()));
        };
        let today = patron_kit::clock::today(self.engine.clock.as_ref(), self.engine.zone);
        let ids: Vec<Uuid> = rows.iter().map(|r| r.customer_id).collect();
        let standings = store::standings_of(&mut conn, &ids).await?;
        let mut figures_of =
            store::figures_of(&mut conn, &ids, &policy.figures_needed(), today, &standings).await?;
        let mut pending_downgrades = Vec::with_capacity(rows.len());
        for row in &rows {
            let figures = figures_of.remove(&row.customer_id).unwrap_or_default();
            let standing = engine::standing_of(standings.get(&row.customer_id));
            let short = row
                .tier
                .as_deref()
                .map(|tier| evaluate::shortfall(&policy, &figures, &standing, tier))
                .unwrap_or_default();
            let show = |f, v| evaluate::format_value(&policy, f, v);
            pending_downgrades.push(pb::PendingDowngrade {
                assignment: Some(assignment_view(row)),
                missing: short
                    .iter()
                    .map(|(c, m)| {
                        format!(
                            "{} {}: {} more",
                            c.figure.name(),
                            c.window.describe(),
                            show(c.figure, *m)
                        )
                    })
                    .collect(),
                shortfall: short
                    .iter()
                    .map(|(c, _)| pb::FigureCheck {
                        figure: c.figure.name().into(),
                        window: c.window.describe(),
                        value: c
                            .value
                            .map(|v| show(c.figure, v))
                            .unwrap_or_else(|| "unknown".into()),
                        comparison: c.comparison.symbol().into(),
                        threshold: show(c.figure, c.threshold),
                        held: c.held,
                        rule_tier_code: row.tier.clone().unwrap_or_default(),
                        rule: String::new(),
                        deciding: false,
                    })
                    .collect(),
            });
        }
        Ok(Response::new(pb::ListPendingDowngradesResponse {
            pending_downgrades,
            next_page_token,
        }))
    }

    async fn list_top_customers(
        &self,
        request: Request<pb::ListTopCustomersRequest>,
    ) -> Result<Response<pb::ListTopCustomersResponse>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::ReadCustomers)?;
        let req = request.into_inner();
        let mut violations = Violations::new();
        let window_text = if req.window.trim().is_empty() {
            "12 months"
        } else {
            req.window.trim()
        };
        let window = preset::parse_window(window_text);
        if window.is_none() {
            violations.add(
                "window",
                "must be calendar_year, lifetime or \"N months\" (1 to 60)",
            );
        }
        let percent = if req.top_percent == 0 {
            10
        } else {
            req.top_percent
        };
        if !(1..=100).contains(&percent) {
            violations.add("top_percent", "must be 1 to 100");
        }
        violations.into_result()?;
        let window = window.unwrap_or(crate::domain::policy::Window::RollingMonths(12));
        let today = patron_kit::clock::today(self.engine.clock.as_ref(), self.engine.zone);
        let mut conn = self.pool.acquire().await.map_err(ServiceError::from)?;
        let visible = access::visibility(&self.engine.reach, &mut conn, &caller, "").await?;
        let ranking = store::rank_by_spend(
            &mut conn,
            &visible,
            crate::domain::windows::first_day(window, today),
            today,
            percent,
            1000,
        )
        .await?;
        let currency = match self.engine.active(&mut conn).await? {
            Some((_, policy)) => policy.currency.clone(),
            None => "CNY".into(),
        };
        let money = |minor: i64| Money {
            currency_code: currency.clone(),
            amount_minor: minor,
        };
        let share_hundredths = if ranking.total_minor > 0 {
            (i128::from(ranking.top_minor) * 10_000 / i128::from(ranking.total_minor)) as i64
        } else {
            0
        };
        Ok(Response::new(pb::ListTopCustomersResponse {
            customers: ranking
                .top
                .iter()
                .enumerate()
                .map(|(i, (id, spend))| pb::RankedCustomer {
                    customer: resource_name::format("customers", *id),
                    rank: i as i32 + 1,
                    spend: Some(money(*spend)),
                })
                .collect(),
            customer_count: i32::try_from(ranking.customers).unwrap_or(i32::MAX),
            total_spend: Some(money(ranking.total_minor)),
            top_share_percent: format!("{}.{:02}", share_hundredths / 100, share_hundredths % 100),
        }))
    }

    async fn get_discount_eligibility(
        &self,
        request: Request<pb::GetDiscountEligibilityRequest>,
    ) -> Result<Response<pb::DiscountEligibility>, Status> {
        Ok(Response::new(self.discount_eligibility(request).await?))
    }

    async fn list_churn_risks(
        &self,
        request: Request<pb::ListChurnRisksRequest>,
    ) -> Result<Response<pb::ListChurnRisksResponse>, Status> {
        Ok(Response::new(self.churn_risks(request).await?))
    }

    async fn get_churn_report(
        &self,
        request: Request<pb::GetChurnReportRequest>,
    ) -> Result<Response<pb::ChurnReport>, Status> {
        Ok(Response::new(self.churn_report(request).await?))
    }

    async fn list_tier_changes(
        &self,
        request: Request<pb::ListTierChangesRequest>,
    ) -> Result<Response<pb::ListTierChangesResponse>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::ReadCustomers)?;
        let req = request.get_ref();
        let customer = resource_name::parse("parent", "customers", &req.parent)?;
        self.require_customer(&caller, customer).await?;
        let limit = paging::page_size("page_size", req.page_size)?;
        let fingerprint = paging::filter_fingerprint(&[&req.parent]);
        let before: Option<i64> =
            paging::decode_token("page_token", &req.page_token, &fingerprint)?;
        let rows = store::list_changes(&self.pool, customer, before, limit + 1).await?;
        let (rows, next_page_token) = paging::finish_page(rows, limit, &fingerprint, |r| r.id);
        Ok(Response::new(pb::ListTierChangesResponse {
            tier_changes: rows
                .iter()
                .map(|r| pb::TierChange {
                    from_tier_code: r.from_tier.clone().unwrap_or_default(),
                    to_tier_code: r.to_tier.clone().unwrap_or_default(),
                    reason: r.reason.clone(),
                    explanation: r.explanation.clone(),
                    policy: policy_name(&r.policy_id),
                    policy_version: r.policy_version,
                    change_time: Some(timestamp::to_proto(r.changed_at)),
                    actor: r.actor.clone(),
                })
                .collect(),
            next_page_token,
        }))
    }
}
