//! Tiering with the rest of the suite: transactions recorded in
//! customer-profile reach tiering as events and move customers between the
//! health-chain preset's tiers, each decision explained and recorded.

use std::time::Duration;

use patron_proto::common::v1::Money;
use patron_proto::profile::v1::customer_service_client::CustomerServiceClient;
use patron_proto::profile::v1::transaction_service_client::TransactionServiceClient;
use patron_proto::profile::v1::{self as profile_pb};
use patron_proto::tiering::v1::tiering_service_client::TieringServiceClient;
use patron_proto::tiering::v1::{self as pb};
use patron_suite_tests::Suite;
use reqwest::Method;
use tonic::transport::Channel;
use tonic::{Code, Request};

struct Clients {
    customers: CustomerServiceClient<Channel>,
    transactions: TransactionServiceClient<Channel>,
    tiering: TieringServiceClient<Channel>,
    token: String,
    /// The suite's "now" when the clients were made.
    now: chrono::DateTime<chrono::Utc>,
}

async fn clients(suite: &Suite) -> Clients {
    let connect = |url: String| async move {
        tonic::transport::Endpoint::from_shared(url)
            .unwrap()
            .connect()
            .await
            .unwrap()
    };
    Clients {
        customers: CustomerServiceClient::new(connect(suite.profile_url.clone()).await),
        transactions: TransactionServiceClient::new(connect(suite.profile_url.clone()).await),
        tiering: TieringServiceClient::new(connect(suite.tiering_url.clone()).await),
        token: suite.token("admin"),
        now: suite.now(),
    }
}

impl Clients {
    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {}", self.token).parse().unwrap(),
        );
        request
    }

    async fn customer(&mut self, name: &str) -> String {
        let request = self.request(profile_pb::CreateCustomerRequest {
            customer: Some(profile_pb::Customer {
                kind: profile_pb::CustomerKind::Person as i32,
                display_name: name.into(),
                ..Default::default()
            }),
            request_id: String::new(),
        });
        self.customers
            .create_customer(request)
            .await
            .unwrap()
            .into_inner()
            .name
    }

    async fn record(
        &mut self,
        customer: &str,
        external_id: &str,
        kind: profile_pb::TransactionKind,
        yuan: i64,
    ) {
        self.record_at(customer, external_id, kind, yuan, self.now)
            .await
    }

    async fn record_at(
        &mut self,
        customer: &str,
        external_id: &str,
        kind: profile_pb::TransactionKind,
        yuan: i64,
        at: chrono::DateTime<chrono::Utc>,
    ) {
        let request = self.request(profile_pb::RecordTransactionRequest {
            parent: customer.into(),
            transaction: Some(profile_pb::Transaction {
                external_id: external_id.into(),
                kind: kind as i32,
                occur_time: Some(patron_kit::timestamp::to_proto(at)),
                product: "checkup".into(),
                amount: Some(Money {
                    currency_code: "CNY".into(),
                    amount_minor: yuan * 100,
                }),
                ..Default::default()
            }),
        });
        self.transactions.record_transaction(request).await.unwrap();
    }

    async fn assignment(&mut self, customer: &str) -> Result<pb::TierAssignment, tonic::Status> {
        let request = self.request(pb::GetTierAssignmentRequest {
            name: format!("{customer}/tierAssignment"),
        });
        self.tiering
            .get_tier_assignment(request)
            .await
            .map(|r| r.into_inner())
    }

    /// Waits until the customer's assignment satisfies `done` (events take
    /// a moment to travel).
    async fn wait_for(
        &mut self,
        customer: &str,
        done: impl Fn(&pb::TierAssignment) -> bool,
    ) -> pb::TierAssignment {
        for _ in 0..200 {
            if let Ok(a) = self.assignment(customer).await
                && done(&a)
            {
                return a;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the assignment of {customer} never got there: {:?}",
            self.assignment(customer).await
        );
    }
}

#[tokio::test]
async fn transactions_move_a_customer_up_with_the_reasons() {
    let suite = Suite::start().await;
    let mut c = clients(&suite).await;
    let customer = c.customer("Wang Li").await;
    let purchase = profile_pb::TransactionKind::Purchase;

    c.record(&customer, "T-1", purchase, 150).await;
    let first = c.wait_for(&customer, |a| a.tier_code == "E").await;
    assert_eq!(first.policy, "tierPolicies/health-chain");
    assert_eq!(first.policy_version, 1);
    assert!(
        first.explanation.contains("no rule placed")
            && first
                .explanation
                .contains("D needs visits in the last 12 months ≥ 2 (has 1)"),
        "{}",
        first.explanation
    );
    // Every rule tried is on the wire, best tier first, none deciding.
    let tried: Vec<&str> = first
        .checks
        .iter()
        .map(|c| c.rule_tier_code.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(tried, ["A", "B", "C", "D"], "{:?}", first.checks);
    assert!(first.checks.iter().all(|c| !c.deciding && !c.held));

    c.record(&customer, "T-2", purchase, 40).await;
    let d = c.wait_for(&customer, |a| a.tier_code == "D").await;
    assert_eq!(
        d.explanation,
        "D: visits in the last 12 months 2 ≥ 2 (rule: D: 2 visits or 200 yuan in a year)"
    );

    c.record(&customer, "T-3", purchase, 1_010).await;
    let a = c.wait_for(&customer, |a| a.tier_code == "A").await;
    assert!(
        a.explanation
            .starts_with("A: spend in the last 12 months 1200.00 ≥ 1200.00"),
        "{}",
        a.explanation
    );
    let held: Vec<&str> = a
        .checks
        .iter()
        .filter(|c| c.held && c.deciding)
        .map(|c| c.figure.as_str())
        .collect();
    assert_eq!(held, ["spend"]);

    let request = c.request(pb::ListTierChangesRequest {
        parent: customer.clone(),
        ..Default::default()
    });
    let changes = c
        .tiering
        .list_tier_changes(request)
        .await
        .unwrap()
        .into_inner()
        .tier_changes;
    let path: Vec<(&str, &str, &str)> = changes
        .iter()
        .map(|c| {
            (
                c.from_tier_code.as_str(),
                c.to_tier_code.as_str(),
                c.reason.as_str(),
            )
        })
        .collect();
    assert_eq!(
        path,
        [
            ("D", "A", "upgrade"),
            ("E", "D", "upgrade"),
            ("", "E", "upgrade")
        ]
    );
    assert!(changes.iter().all(|c| c.actor == "tiering"));

    // Each change was published as TierChanged in the same transaction.
    let mut conn = suite.db.admin_connection().await;
    let events: i64 =
        sqlx::query_scalar("SELECT count(*) FROM tiering.outbox WHERE topic = 'tiering.tiers'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(events, 3);

    // Portals read the same through the gateway.
    let over_http = suite
        .admin(Method::GET, &format!("/v1/{customer}/tierAssignment"), None)
        .await;
    assert_eq!(over_http.status, 200, "{:?}", over_http.body);
    assert_eq!(over_http.body["tierCode"], "A");
}

#[tokio::test]
async fn a_downgrade_waits_for_the_periodic_review() {
    let suite = Suite::start().await;
    let mut c = clients(&suite).await;
    let customer = c.customer("Zhang Min").await;
    c.record(
        &customer,
        "T-1",
        profile_pb::TransactionKind::Purchase,
        1_200,
    )
    .await;
    c.wait_for(&customer, |a| a.tier_code == "A").await;
    c.record(&customer, "T-2", profile_pb::TransactionKind::Refund, 1_000)
        .await;
    let kept = c.wait_for(&customer, |a| a.pending_tier_code == "D").await;
    assert_eq!(
        kept.tier_code, "A",
        "the health chain downgrades at the yearly review"
    );
    assert!(
        kept.explanation.starts_with("D: "),
        "the explanation is of what the figures earn now"
    );

    // Managers see who will drop, and by how much they are short.
    let request = c.request(pb::ListPendingDowngradesRequest::default());
    let pending = c
        .tiering
        .list_pending_downgrades(request)
        .await
        .unwrap()
        .into_inner()
        .pending_downgrades;
    assert_eq!(pending.len(), 1);
    assert_eq!(
        pending[0].missing,
        [
            "visits in the last 12 months: 11 more",
            "spend in the last 12 months: 1000.00 more"
        ]
    );

    // A supervisor can keep them in a tier by hand, saying why: one at the
    // company, once tiering has heard where they sit.
    let placed = suite
        .admin(
            Method::POST,
            "/v1/staff?staffMemberId=staff-9",
            Some(serde_json::json!({"displayName": "Supervisor", "orgUnit": "orgUnits/company"})),
        )
        .await;
    assert_eq!(placed.status, 200, "{:?}", placed.body);
    let assignment_path = format!("/v1/{customer}/tierAssignment");
    for _ in 0..200 {
        let seen = suite
            .call(
                Method::GET,
                &assignment_path,
                Some(&suite.token("supervisor")),
                None,
            )
            .await;
        if seen.status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let override_to = |tier: &str, reason: &str, role: &str| {
        let mut request = Request::new(pb::OverrideTierAssignmentRequest {
            name: format!("{customer}/tierAssignment"),
            tier_code: tier.into(),
            reason: reason.into(),
        });
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {}", suite.token(role)).parse().unwrap(),
        );
        request
    };
    let err = c
        .tiering
        .override_tier_assignment(override_to("Z", " ", "supervisor"))
        .await
        .unwrap_err();
    let fields: Vec<String> = patron_kit::error::violations_of(&err)
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["reason", "tier_code"]);
    let err = c
        .tiering
        .override_tier_assignment(override_to("B", "loyal for 20 years", "viewer"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let set = c
        .tiering
        .override_tier_assignment(override_to("B", "loyal for 20 years", "supervisor"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (set.tier_code.as_str(), set.override_reason.as_str()),
        ("B", "loyal for 20 years")
    );
    assert!(
        set.explanation
            .starts_with("B: set by staff-9 (loyal for 20 years); the figures earn D"),
        "{}",
        set.explanation
    );
    let request = c.request(pb::ListTierChangesRequest {
        parent: customer.clone(),
        ..Default::default()
    });
    let latest = c
        .tiering
        .list_tier_changes(request)
        .await
        .unwrap()
        .into_inner()
        .tier_changes
        .remove(0);
    assert_eq!(
        (latest.reason.as_str(), latest.actor.as_str()),
        ("override", "staff-9")
    );
    // New figures do not undo it before the review.
    c.record(&customer, "T-3", profile_pb::TransactionKind::Purchase, 10)
        .await;
    suite.wait_for_tiering_to_catch_up().await;
    assert_eq!(c.assignment(&customer).await.unwrap().tier_code, "B");
}

#[tokio::test]
async fn the_top_customers_and_their_share_of_spend() {
    let suite = Suite::start().await;
    let mut c = clients(&suite).await;
    let mut names = Vec::new();
    for (i, yuan) in [1_000, 500, 300, 200].iter().enumerate() {
        let customer = c.customer(&format!("Customer {i}")).await;
        c.record(
            &customer,
            &format!("T-{i}"),
            profile_pb::TransactionKind::Purchase,
            *yuan,
        )
        .await;
        c.wait_for(&customer, |_| true).await;
        names.push(customer);
    }
    let request = c.request(pb::ListTopCustomersRequest {
        window: "12 months".into(),
        top_percent: 25,
    });
    let top = c
        .tiering
        .list_top_customers(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(top.customer_count, 4);
    assert_eq!(top.total_spend.unwrap().amount_minor, 200_000);
    assert_eq!(top.top_share_percent, "50.00");
    assert_eq!(top.customers.len(), 1);
    assert_eq!(
        (top.customers[0].customer.as_str(), top.customers[0].rank),
        (names[0].as_str(), 1)
    );
    let request = c.request(pb::ListTopCustomersRequest {
        window: "forever".into(),
        top_percent: 101,
    });
    let err = c.tiering.list_top_customers(request).await.unwrap_err();
    let fields: Vec<String> = patron_kit::error::violations_of(&err)
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["window", "top_percent"]);
}

#[tokio::test]
async fn standing_and_designation_decide_without_transactions() {
    let suite = Suite::start().await;
    let mut c = clients(&suite).await;
    let customer = c.customer("Director Chen").await;
    let request = c.request(pb::UpdateCustomerStandingRequest {
        standing: Some(pb::CustomerStanding {
            name: format!("{customer}/standing"),
            designated_tier_code: "A".into(),
            credit_grade: "B".into(),
            ..Default::default()
        }),
    });
    let assigned = c
        .tiering
        .update_customer_standing(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(assigned.tier_code, "A");
    assert_eq!(assigned.explanation, "A: designated by the company");

    let request = c.request(pb::UpdateCustomerStandingRequest {
        standing: Some(pb::CustomerStanding {
            name: format!("{customer}/standing"),
            credit_grade: "AA".into(),
            bad_records: -1,
            ..Default::default()
        }),
    });
    let err = c
        .tiering
        .update_customer_standing(request)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let fields: Vec<String> = patron_kit::error::violations_of(&err)
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["standing.credit_grade", "standing.bad_records"]);
}

#[tokio::test]
async fn policies_are_versioned_and_a_bad_preset_changes_nothing() {
    let suite = Suite::start().await;
    let mut c = clients(&suite).await;
    let bad = patron_tiering::presets::BUILT_IN[1]
        .1
        .replace("at_least = 1000", "at_least = \"a lot\"")
        .replace(
            "tier = \"VIP\"\ndescription",
            "tier = \"SVIP\"\ndescription",
        );
    let request = c.request(pb::CreateTierPolicyRequest {
        preset: bad,
        activate: true,
    });
    let err = c.tiering.create_tier_policy(request).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let fields: Vec<String> = patron_kit::error::violations_of(&err)
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(
        fields,
        [
            "preset.tiering.rules[0].tier",
            "preset.tiering.rules[0].any[0]"
        ]
    );
    let request = c.request(pb::ListTierPoliciesRequest {});
    let listed = c
        .tiering
        .list_tier_policies(request)
        .await
        .unwrap()
        .into_inner()
        .tier_policies;
    let names: Vec<(&str, i32, bool)> = listed
        .iter()
        .map(|p| (p.name.as_str(), p.version, p.active))
        .collect();
    assert_eq!(
        names,
        [("tierPolicies/health-chain", 1, true)],
        "nothing stored"
    );

    let edited = patron_tiering::presets::BUILT_IN[0]
        .1
        .replace("at_least = 1200", "at_least = 1000");
    let request = c.request(pb::CreateTierPolicyRequest {
        preset: edited,
        activate: false,
    });
    let second = c
        .tiering
        .create_tier_policy(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!((second.version, second.active), (2, false));
    let request = c.request(pb::ActivateTierPolicyRequest {
        name: "tierPolicies/health-chain".into(),
        version: 2,
    });
    assert!(
        c.tiering
            .activate_tier_policy(request)
            .await
            .unwrap()
            .into_inner()
            .active
    );
    let request = c.request(pb::GetTierPolicyRequest {
        name: "tierPolicies/health-chain".into(),
        version: 1,
    });
    let first = c
        .tiering
        .get_tier_policy(request)
        .await
        .unwrap()
        .into_inner();
    assert!(!first.active);
    assert_eq!(first.tiers.len(), 5);

    // Under version 2, 1,000 yuan is enough for A; the decision names v2.
    let customer = c.customer("Liu Yang").await;
    c.record(
        &customer,
        "T-1",
        profile_pb::TransactionKind::Purchase,
        1_000,
    )
    .await;
    let a = c.wait_for(&customer, |a| a.tier_code == "A").await;
    assert_eq!(a.policy_version, 2);

    let request = c.request(pb::CreateTierPolicyRequest {
        preset: patron_tiering::presets::BUILT_IN[0].1.into(),
        activate: false,
    });
    let mut viewer = c.request(pb::CreateTierPolicyRequest::default());
    *viewer.get_mut() = request.into_inner();
    viewer.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", suite.token("supervisor"))
            .parse()
            .unwrap(),
    );
    let err = c.tiering.create_tier_policy(viewer).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn falling_spend_raises_a_churn_risk_and_exits_feed_the_reasons_report() {
    let suite = Suite::start().await;
    let mut c = clients(&suite).await;
    let watched = format!(
        "{}\n[tiering.churn]\nmonths = 6\nfalling_below_percent = 50\ndormant_is_risk = false\n\
         [tiering.churn_targets_percent]\nall = 3.5\n",
        patron_tiering::presets::BUILT_IN[0].1
    );
    let request = c.request(pb::CreateTierPolicyRequest {
        preset: watched,
        activate: true,
    });
    c.tiering.create_tier_policy(request).await.unwrap();

    let customer = c.customer("Fading").await;
    let purchase = profile_pb::TransactionKind::Purchase;
    let now = c.now;
    let months_ago = |n: i64| now - chrono::Duration::days(30 * n);
    c.record_at(&customer, "F-1", purchase, 1_000, months_ago(8))
        .await;
    // Eight months ago 1,000 yuan, nothing since: already falling.
    let first = c.wait_for(&customer, |a| a.tier_code == "B").await;
    assert_eq!(
        first.churn_risks,
        ["spend in the last 6 months 0.00 is 0% of the 6 months before (1000.00)"]
    );
    c.record_at(&customer, "F-2", purchase, 100, months_ago(1))
        .await;
    let at_risk = c
        .wait_for(&customer, |a| {
            a.churn_risks.first().is_some_and(|r| r.contains("100.00"))
        })
        .await;
    assert_eq!(
        at_risk.churn_risks,
        ["spend in the last 6 months 100.00 is 10% of the 6 months before (1000.00)"]
    );
    let request = c.request(pb::ListChurnRisksRequest::default());
    let listed = c
        .tiering
        .list_churn_risks(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.tier_assignments.len(), 1);
    let mut conn = suite.db.admin_connection().await;
    let raised: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tiering.outbox WHERE position('ChurnRiskRaised'::bytea in envelope) > 0",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(raised, 1, "raised once, not on every evaluation");

    // The at-risk list per manager: the manager comes from profile's events.
    let staff = suite
        .admin(
            Method::POST,
            "/v1/staff?staffMemberId=li.na",
            Some(serde_json::json!({"displayName": "Li Na", "orgUnit": "orgUnits/company"})),
        )
        .await;
    assert_eq!(staff.status, 200, "{:?}", staff.body);
    let assigned = suite
        .admin(
            Method::POST,
            &format!("/v1/{customer}:assignAccountManager"),
            Some(serde_json::json!({"accountManager": "li.na"})),
        )
        .await;
    assert_eq!(assigned.status, 200, "{:?}", assigned.body);
    let manager_token = |staff: &str| {
        suite.token_with(|claims| {
            claims.sub = staff.into();
            claims.roles = vec!["account_manager".into()];
        })
    };
    let mut listed = serde_json::Value::Null;
    for _ in 0..200 {
        listed = suite
            .admin(
                Method::GET,
                "/v1/tierAssignments:churnRisks?accountManager=li.na",
                None,
            )
            .await
            .body;
        if listed["tierAssignments"]
            .as_array()
            .is_some_and(|a| a.len() == 1)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        listed["tierAssignments"][0]["accountManager"], "li.na",
        "{listed}"
    );
    let others = suite
        .admin(
            Method::GET,
            "/v1/tierAssignments:churnRisks?accountManager=zhao",
            None,
        )
        .await;
    assert_eq!(others.body["tierAssignments"], serde_json::json!([]));
    let own = suite
        .call(
            Method::GET,
            "/v1/tierAssignments:churnRisks",
            Some(&manager_token("li.na")),
            None,
        )
        .await;
    assert_eq!(
        own.body["tierAssignments"].as_array().map(Vec::len),
        Some(1)
    );
    let none = suite
        .call(
            Method::GET,
            "/v1/tierAssignments:churnRisks",
            Some(&manager_token("zhao")),
            None,
        )
        .await;
    assert_eq!(none.body["tierAssignments"], serde_json::json!([]));
    let snooping = suite
        .call(
            Method::GET,
            "/v1/tierAssignments:churnRisks?accountManager=li.na",
            Some(&manager_token("zhao")),
            None,
        )
        .await;
    assert_eq!(
        snooping.body["tierAssignments"],
        serde_json::json!([]),
        "asking for another's list shows only what the caller reaches"
    );

    // The customer leaves; the report counts why.
    let request = c.request(profile_pb::ExitCustomerRequest {
        name: customer.clone(),
        kind: profile_pb::ExitKind::Voluntary as i32,
        reason: "moved to a competitor".into(),
        written_request_reference: "letter 7".into(),
        etag: String::new(),
    });
    c.customers.exit_customer(request).await.unwrap();
    let mut report = pb::ChurnReport::default();
    for _ in 0..200 {
        let request = c.request(pb::GetChurnReportRequest::default());
        report = c
            .tiering
            .get_churn_report(request)
            .await
            .unwrap()
            .into_inner();
        if report.churned == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        (report.churned, report.voluntary, report.revoked),
        (1, 1, 0)
    );
    assert_eq!(report.by_tier["B"], 1);
    assert_eq!(report.reasons[0].reason, "moved to a competitor");
    // As figures against the target: the one tiered customer left.
    assert_eq!(report.untiered, 0);
    assert!(!report.by_tier.contains_key(""));
    let everyone = report.overall.as_ref().unwrap();
    assert_eq!(
        (
            everyone.tier_code.as_str(),
            everyone.churned,
            everyone.base,
            everyone.rate_percent.as_str(),
            everyone.target_percent.as_str(),
            everyone.within_target
        ),
        ("", 1, 1, "100.00", "3.50", false)
    );
    let b = report.rates.iter().find(|r| r.tier_code == "B").unwrap();
    assert_eq!((b.churned, b.base, b.target_percent.as_str()), (1, 1, ""));
    let a = report.rates.iter().find(|r| r.tier_code == "A").unwrap();
    assert_eq!(
        (a.base, a.rate_percent.as_str(), a.target_percent.as_str()),
        (0, "0.00", ""),
        "nobody held A, nobody left it; the policy sets A no target"
    );
    assert!(!a.within_target, "no target, nothing to be within");
    assert!(report.rates.iter().all(|r| !r.tier_code.is_empty()));

    // The report counts only customers the caller reaches: li.na sees her
    // customer's exit, zhao neither the count nor the written reason.
    let own = suite
        .call(
            Method::GET,
            "/v1/churnReport",
            Some(&manager_token("li.na")),
            None,
        )
        .await;
    assert_eq!(own.status, 200, "{:?}", own.body);
    assert_eq!(own.body["churned"], 1, "{:?}", own.body);
    let outside = suite
        .call(
            Method::GET,
            "/v1/churnReport",
            Some(&manager_token("zhao")),
            None,
        )
        .await;
    assert_eq!(outside.status, 200, "{:?}", outside.body);
    assert_eq!(outside.body["churned"], 0, "{:?}", outside.body);
    assert_eq!(
        outside.body["reasons"],
        serde_json::json!([]),
        "{:?}",
        outside.body
    );
    assert!(
        !outside.body.to_string().contains("competitor"),
        "{:?}",
        outside.body
    );
}

#[tokio::test]
async fn a_leaver_keeps_the_tier_they_left_with_and_buys_nothing_after_the_exit() {
    let suite = Suite::start().await;
    let mut c = clients(&suite).await;
    let customer = c.customer("Zhou Lan").await;
    // Before tiering has heard of a purchase, the tier is not found, and
    // the answer says why in one sentence.
    let early = c.assignment(&customer).await.unwrap_err();
    assert_eq!(early.code(), Code::NotFound);
    assert_eq!(
        early.message(),
        format!(
            "{customer}/tierAssignment not found: the customer has not been tiered yet: \
             a tier is decided from the purchases profile records, a moment after each one"
        )
    );
    c.record(&customer, "T-1", profile_pb::TransactionKind::Purchase, 100)
        .await;
    c.wait_for(&customer, |a| a.tier_code == "E").await;

    let request = c.request(profile_pb::ExitCustomerRequest {
        name: customer.clone(),
        kind: profile_pb::ExitKind::Voluntary as i32,
        reason: "moving abroad".into(),
        written_request_reference: "letter 9".into(),
        etag: String::new(),
    });
    c.customers.exit_customer(request).await.unwrap();

    // A purchase after the exit is refused over HTTP as over gRPC, naming it.
    let after = suite
        .admin(
            Method::POST,
            &format!("/v1/{customer}/transactions"),
            Some(
                serde_json::json!({"externalId": "T-2", "kind": "TRANSACTION_KIND_PURCHASE",
                "occurTime": c.now.to_rfc3339(), "product": "checkup",
                "amount": {"currencyCode": "CNY", "amountMinor": "120000"}}),
            ),
        )
        .await;
    assert_eq!(after.status, 400, "{:?}", after.body);
    assert_eq!(after.error_status(), "FAILED_PRECONDITION");
    assert!(
        after.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("left the programme"),
        "{:?}",
        after.body
    );

    // A purchase from before the exit, recorded late, is kept in the
    // figures but moves no tier: E is what they left with.
    c.record_at(
        &customer,
        "T-0",
        profile_pb::TransactionKind::Purchase,
        1_200,
        c.now - chrono::Duration::days(2),
    )
    .await;
    suite.wait_for_tiering_to_catch_up().await;
    let kept = c.assignment(&customer).await.unwrap();
    assert_eq!(kept.tier_code, "E", "{kept:?}");
    let request = c.request(pb::EvaluateTierAssignmentRequest {
        name: format!("{customer}/tierAssignment"),
    });
    let refused = c
        .tiering
        .evaluate_tier_assignment(request)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert!(
        refused.message().contains("left the programme"),
        "{refused:?}"
    );
}
