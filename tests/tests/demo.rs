//! `patron demo` against a running suite: what it says it loaded is what
//! the lists and reports show (customers, tiers, complaints in every state,
//! tasks and contacts), and a second run loads nothing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use patron::demo::{self, AlreadyLoaded, Options, Summary, Target};
use patron_kit::auth::Authenticator;
use patron_suite_tests::Suite;
use reqwest::Method;
use serde_json::Value;

fn channel(url: &str) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(url.to_owned())
        .unwrap()
        .connect_lazy()
}

fn target(suite: &Suite) -> Target {
    Target {
        profile: channel(&suite.profile_url),
        tiering: channel(&suite.tiering_url),
        complaint: channel(&suite.complaint_url),
        scheduling: channel(&suite.scheduling_url),
        auth: Arc::new(Authenticator::new(&suite.auth_config)),
        clock: Arc::new(suite.clock.clone()),
        zone: chrono_tz::Asia::Shanghai,
    }
}

fn options(preset: &str, customers: usize) -> Options {
    Options {
        preset: preset.into(),
        seed: 7,
        customers,
        patience: Duration::from_secs(120),
        // The suite's scheduler plans every 500 ms.
        plan_settle: Duration::from_secs(2),
    }
}

/// Every item of a gateway list, following its pages.
async fn all(suite: &Suite, path: &str, field: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut token = String::new();
    loop {
        let separator = if path.contains('?') { '&' } else { '?' };
        let page = suite
            .admin(
                Method::GET,
                &format!("{path}{separator}pageSize=500&pageToken={token}"),
                None,
            )
            .await;
        assert_eq!(page.status, 200, "{path}: {:?}", page.body);
        items.extend(page.body[field].as_array().cloned().unwrap_or_default());
        match page.body["nextPageToken"].as_str() {
            Some(next) if !next.is_empty() => token = next.to_owned(),
            _ => return items,
        }
    }
}

/// The complaints per state as the complaint list shows them.
async fn complaints_by_state(suite: &Suite) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for complaint in all(suite, "/v1/complaints", "complaints").await {
        let state = complaint["state"].as_str().unwrap();
        let state = state.trim_start_matches("COMPLAINT_STATE_").to_lowercase();
        *counts.entry(state).or_insert(0) += 1;
    }
    counts
}

async fn check_what_the_lists_show(suite: &Suite, summary: &Summary) {
    // Customers, and their spend as tiering ranks it.
    let customers = all(suite, "/v1/customers", "customers").await;
    assert_eq!(customers.len(), summary.customers);
    let top = suite
        .admin(Method::GET, "/v1/topCustomers?window=lifetime", None)
        .await;
    assert_eq!(
        top.body["customerCount"], summary.customers as i64,
        "{:?}",
        top.body
    );
    assert_eq!(
        top.body["totalSpend"]["amountMinor"].as_str().unwrap(),
        summary.spend_minor.to_string()
    );

    // Tiers: every customer counted once, read again one by one.
    assert_eq!(summary.tiers.values().sum::<usize>(), summary.customers);
    let mut tiers = BTreeMap::new();
    for c in &customers {
        let name = c["name"].as_str().unwrap();
        let a = suite
            .admin(Method::GET, &format!("/v1/{name}/tierAssignment"), None)
            .await;
        let tier = if a.status == 404 {
            String::new()
        } else {
            a.body["tierCode"].as_str().unwrap_or_default().to_owned()
        };
        *tiers.entry(tier).or_insert(0) += 1;
    }
    assert_eq!(tiers, summary.tiers);

    // Complaints in every state, as listed; the reopened one is back at
    // accepted, one is paused, one repeats an earlier complaint.
    let by_state = complaints_by_state(suite).await;
    assert_eq!(by_state, summary.complaints);
    for state in [
        "received",
        "accepted",
        "investigating",
        "awaiting_sign_off",
        "resolved",
        "feedback_given",
        "closed",
        "not_valid",
    ] {
        assert!(
            by_state.get(state).is_some_and(|n| *n > 0),
            "{state}: {by_state:?}"
        );
    }
    let listed = all(suite, "/v1/complaints", "complaints").await;
    let count = |test: &dyn Fn(&Value) -> bool| listed.iter().filter(|c| test(c)).count();
    let text = |c: &Value, field: &str| c[field].as_str().is_some_and(|r| !r.is_empty());
    let reopened = count(&|c| c["reopenCount"] == 1 && c["state"] == "COMPLAINT_STATE_ACCEPTED");
    let paused = count(&|c| text(c, "pausedReason"));
    let repeating = count(&|c| text(c, "repeatOf"));
    assert_eq!(
        (reopened, paused, repeating),
        (
            summary.complaints_reopened,
            summary.complaints_paused,
            summary.complaints_repeating
        )
    );
    assert!(reopened > 0 && paused > 0 && repeating > 0);
    assert!(
        listed
            .iter()
            .filter(|c| c["state"] == "COMPLAINT_STATE_CLOSED")
            .all(|c| c["survey"]["score"]
                .as_i64()
                .is_some_and(|s| (1..=5).contains(&s)))
    );

    // Tasks planned, some closed by the contacts logged; every contact listed.
    let tasks = all(suite, "/v1/tasks", "tasks").await;
    assert!(!tasks.is_empty());
    assert!(summary.tasks > 0 && summary.tasks_closed > 0);
    let done = tasks
        .iter()
        .filter(|t| t["state"] == "TASK_STATE_DONE")
        .count();
    assert!(
        done >= summary.tasks_closed,
        "{done} done, {} closed",
        summary.tasks_closed
    );
    let logs = all(suite, "/v1/contactLogs", "contactLogs").await;
    assert_eq!(logs.len(), summary.tasks_closed + summary.earlier_contacts);
}

#[tokio::test]
async fn the_demo_loads_a_health_chain_that_every_list_shows_and_refuses_a_second_load() {
    let suite = Suite::start().await;
    let target = target(&suite);
    let summary = demo::run(&target, &options("health-chain", 40))
        .await
        .unwrap();
    println!("{summary}");
    assert_eq!(summary.customers, 40);
    assert!(summary.purchases >= 40);
    assert!(
        summary.policy_was_active,
        "the suite runs health-chain already"
    );
    // A year of purchases places customers in several tiers, designations in A and B.
    let tiered: Vec<&String> = summary.tiers.keys().filter(|t| !t.is_empty()).collect();
    assert!(tiered.len() >= 3, "{:?}", summary.tiers);
    assert!(summary.role_holders > 0);
    check_what_the_lists_show(&suite, &summary).await;

    // What was loaded is what the seed and the clock plan: the same
    // archives, names and spend.
    let flavour = demo::flavour::of("health-chain").unwrap();
    let planned = demo::plan::customers(7, flavour, 40, suite.now());
    let mut expected: Vec<(String, String)> = planned
        .iter()
        .map(|c| (c.archive_number.clone(), c.display_name.clone()))
        .collect();
    let mut loaded: Vec<(String, String)> = all(&suite, "/v1/customers", "customers")
        .await
        .iter()
        .map(|c| {
            let text = |f: &str| c[f].as_str().unwrap().to_owned();
            (text("archiveNumber"), text("displayName"))
        })
        .collect();
    expected.sort();
    loaded.sort();
    assert_eq!(loaded, expected);
    let planned_spend: i64 = planned.iter().map(|c| c.net_minor()).sum();
    assert_eq!(summary.spend_minor, planned_spend);

    // A second run finds customers and loads nothing.
    let again = demo::run(&target, &options("health-chain", 40))
        .await
        .unwrap_err();
    assert!(again.downcast_ref::<AlreadyLoaded>().is_some(), "{again:#}");
    assert_eq!(all(&suite, "/v1/customers", "customers").await.len(), 40);
    assert_eq!(complaints_by_state(&suite).await, summary.complaints);
}

#[tokio::test]
async fn the_demo_activates_the_preset_asked_for_and_designates_its_cards() {
    let suite = Suite::start().await;
    let summary = demo::run(&target(&suite), &options("telecom-vip", 30))
        .await
        .unwrap();
    println!("{summary}");
    assert!(!summary.policy_was_active);
    let active = suite
        .admin(Method::GET, "/v1/tierPolicies/telecom-vip", None)
        .await;
    assert_eq!(active.body["active"], true, "{:?}", active.body);
    // Cards come by designation only: every card holder was designated.
    let holders: usize = summary
        .tiers
        .iter()
        .filter(|(t, _)| !t.is_empty())
        .map(|(_, n)| n)
        .sum();
    assert_eq!(holders, summary.standings);
    assert!(holders > 0);
    check_what_the_lists_show(&suite, &summary).await;
}

/// Key accounts: organisations, with the standings the company sets (credit
/// grades and bad records; city groups and designated diamonds).
#[tokio::test]
async fn the_demo_loads_key_accounts_under_the_industrial_and_postal_presets() {
    for preset in ["industrial-b2b", "postal-key-accounts"] {
        let suite = Suite::start().await;
        let summary = demo::run(&target(&suite), &options(preset, 25))
            .await
            .unwrap();
        println!("{summary}");
        let customers = all(&suite, "/v1/customers", "customers").await;
        assert!(
            customers
                .iter()
                .all(|c| c["kind"] == "CUSTOMER_KIND_ORGANIZATION"),
            "{preset}"
        );
        if preset == "industrial-b2b" {
            assert_eq!(
                summary.standings, 25,
                "every key account has a credit grade"
            );
        }
        check_what_the_lists_show(&suite, &summary).await;
    }
}

#[tokio::test]
async fn the_demo_refuses_a_preset_it_does_not_know_and_loads_nothing() {
    let suite = Suite::start().await;
    let err = demo::run(&target(&suite), &options("my-own", 30))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("health-chain"), "{err}");
    assert!(all(&suite, "/v1/customers", "customers").await.is_empty());
}
