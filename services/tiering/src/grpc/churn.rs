//! Churn early warning over the API: who is at risk and why (per manager),
//! and who left over a period and why.

use std::collections::BTreeMap;

use patron_kit::auth;
use patron_kit::{ServiceError, Violations, paging, timestamp};
use patron_proto::tiering::v1 as pb;
use patron_vocab::roles::Permission;
use tonic::Request;
use uuid::Uuid;

use super::{TieringApi, assignment_view};
use crate::domain::churn_rate;
use crate::{access, store};

/// ExitKind codes in profile's CustomerExited.
const REVOKED: i16 = 1;
const VOLUNTARY: i16 = 2;

impl TieringApi {
    /// The churn rates of every tiered customer, then of each of the active
    /// policy's tiers, from the period's leavers by tier.
    async fn churn_rates(
        &self,
        visible: &store::Visibility,
        leavers: &std::collections::HashMap<String, i32>,
    ) -> Result<Vec<pb::ChurnRate>, ServiceError> {
        let mut conn = self.pool.acquire().await?;
        let Some((_, policy)) = self.engine.active(&mut conn).await? else {
            return Ok(Vec::new());
        };
        drop(conn);
        let holders: BTreeMap<String, i64> = store::holders_by_tier(&self.pool, visible)
            .await?
            .into_iter()
            .collect();
        let leavers: BTreeMap<String, i64> = leavers
            .iter()
            .map(|(tier, n)| (tier.clone(), i64::from(*n)))
            .collect();
        let tiers: Vec<String> = policy.tiers.iter().map(|t| t.code.clone()).collect();
        let count = |n: i64| i32::try_from(n).unwrap_or(i32::MAX);
        Ok(
            churn_rate::figures(&tiers, &leavers, &holders, &policy.churn_targets)
                .into_iter()
                .map(|f| pb::ChurnRate {
                    within_target: f.within_target().unwrap_or(false),
                    tier_code: f.tier.unwrap_or_default(),
                    churned: count(f.churned),
                    base: count(f.base),
                    rate_percent: f.rate.map(churn_rate::format_percent).unwrap_or_default(),
                    target_percent: f.target.map(churn_rate::format_percent).unwrap_or_default(),
                })
                .collect(),
        )
    }

    /// ListChurnRisks.
    pub(super) async fn churn_risks(
        &self,
        request: Request<pb::ListChurnRisksRequest>,
    ) -> Result<pb::ListChurnRisksResponse, ServiceError> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::ReadCustomers)?;
        let req = request.get_ref();
        let limit = paging::page_size("page_size", req.page_size)?;
        let mut conn = self.pool.acquire().await?;
        let visible =
            access::visibility(&self.engine.reach, &mut conn, &caller, &req.account_manager)
                .await?;
        drop(conn);
        let fingerprint = paging::filter_fingerprint(&["churn", &req.account_manager]);
        let after: Option<Uuid> =
            paging::decode_token("page_token", &req.page_token, &fingerprint)?;
        let rows = store::list_churn_risks(&self.pool, &visible, after, limit + 1).await?;
        let (rows, next_page_token) =
            paging::finish_page(rows, limit, &fingerprint, |r| r.customer_id);
        Ok(pb::ListChurnRisksResponse {
            tier_assignments: rows.iter().map(assignment_view).collect(),
            next_page_token,
        })
    }

    /// GetChurnReport: counted over the customers the caller reaches, so
    /// nobody learns company-wide figures or other units' exit reasons.
    pub(super) async fn churn_report(
        &self,
        request: Request<pb::GetChurnReportRequest>,
    ) -> Result<pb::ChurnReport, ServiceError> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::ReadCustomers)?;
        let mut conn = self.pool.acquire().await?;
        let visible = access::visibility(&self.engine.reach, &mut conn, &caller, "").await?;
        drop(conn);
        let req = request.into_inner();
        let mut violations = Violations::new();
        let mut instant = |field: &str, t: Option<&prost_types::Timestamp>| {
            t.and_then(|t| {
                let parsed = timestamp::from_proto(t);
                if parsed.is_none() {
                    violations.add(field, "is not a valid time");
                }
                parsed
            })
        };
        let start = instant("start_time", req.start_time.as_ref());
        let end = instant("end_time", req.end_time.as_ref());
        if let (Some(s), Some(e)) = (start, end)
            && e <= s
        {
            violations.add("end_time", "must be after start_time");
        }
        violations.into_result()?;
        let counts = store::churn_counts(&self.pool, &visible, start, end).await?;
        let mut report = pb::ChurnReport::default();
        let mut reasons: BTreeMap<String, i32> = BTreeMap::new();
        for (kind, tier, reason, count) in counts {
            let count = i32::try_from(count).unwrap_or(i32::MAX);
            report.churned += count;
            match kind {
                REVOKED => report.revoked += count,
                VOLUNTARY => report.voluntary += count,
                _ => {}
            }
            match tier.filter(|t| !t.is_empty()) {
                Some(tier) => *report.by_tier.entry(tier).or_default() += count,
                None => report.untiered += count,
            }
            *reasons.entry(reason).or_default() += count;
        }
        let mut reasons: Vec<pb::ReasonCount> = reasons
            .into_iter()
            .map(|(reason, count)| pb::ReasonCount { reason, count })
            .collect();
        reasons.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.reason.cmp(&b.reason)));
        report.reasons = reasons;
        let mut rates = self.churn_rates(&visible, &report.by_tier).await?;
        if !rates.is_empty() {
            report.overall = Some(rates.remove(0));
        }
        report.rates = rates;
        Ok(report)
    }
}
