//! Churn early warning over the API: who is at risk and why (per manager),
//! and who left over a period and why.

use std::collections::BTreeMap;

use patron_kit::auth::{self, Permission};
use patron_kit::{ServiceError, Violations, paging, timestamp};
use patron_proto::tiering::v1 as pb;
use tonic::Request;
use uuid::Uuid;

use super::{TieringApi, assignment_view};
use crate::{access, store};

/// ExitKind codes in profile's CustomerExited.
const REVOKED: i16 = 1;
const VOLUNTARY: i16 = 2;

impl TieringApi {
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
        let visible = access::visibility(&mut conn, &caller, &req.account_manager).await?;
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

    /// GetChurnReport.
    pub(super) async fn churn_report(
        &self,
        request: Request<pb::GetChurnReportRequest>,
    ) -> Result<pb::ChurnReport, ServiceError> {
        auth::caller(&request)?.require(Permission::ReadCustomers)?;
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
        let counts = store::churn_counts(&self.pool, start, end).await?;
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
            *report.by_tier.entry(tier.unwrap_or_default()).or_default() += count;
            *reasons.entry(reason).or_default() += count;
        }
        let mut reasons: Vec<pb::ReasonCount> = reasons
            .into_iter()
            .map(|(reason, count)| pb::ReasonCount { reason, count })
            .collect();
        reasons.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.reason.cmp(&b.reason)));
        report.reasons = reasons;
        Ok(report)
    }
}
