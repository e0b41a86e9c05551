use patron_proto::profile::v1 as pb;

use crate::helpers::*;

async fn list(app: &TestApp, req: pb::ListCustomersRequest) -> pb::ListCustomersResponse {
    app.client
        .clone()
        .list_customers(app.admin(req))
        .await
        .unwrap()
        .into_inner()
}

fn names(resp: &pb::ListCustomersResponse) -> Vec<String> {
    resp.customers
        .iter()
        .map(|c| c.display_name.clone())
        .collect()
}

#[tokio::test]
async fn find_by_archive_number_name_phone_and_manager() {
    let app = spawn_app().await;
    app.add_staff("mgr-7", "company", 0).await;
    let mut wang = person("Wang Li");
    wang.archive_number = "VIP-100".into();
    wang.account_manager = "mgr-7".into();
    app.create(wang).await;
    let mut zhang = person("Zhang Min");
    zhang.contact.as_mut().unwrap().mobile_phone = "139 1111 2222".into();
    zhang.contact.as_mut().unwrap().office_phone = "+86 10 6552 9988".into();
    app.create(zhang).await;
    app.create(organization("Wangfujing 50%_Trading")).await;

    let by_number = list(
        &app,
        pb::ListCustomersRequest {
            archive_number: "vip-100".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(names(&by_number), ["Wang Li"]);

    let by_name = list(
        &app,
        pb::ListCustomersRequest {
            display_name_contains: "WANG".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        names(&by_name),
        ["Wangfujing 50%_Trading", "Wang Li"],
        "newest first, case-insensitive"
    );

    let literal = list(
        &app,
        pb::ListCustomersRequest {
            display_name_contains: "50%_".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        names(&literal),
        ["Wangfujing 50%_Trading"],
        "wildcards match literally"
    );
    let wildcard = list(
        &app,
        pb::ListCustomersRequest {
            display_name_contains: "%".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(names(&wildcard), ["Wangfujing 50%_Trading"]);

    let by_phone = list(
        &app,
        pb::ListCustomersRequest {
            phone: "13911112222".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        names(&by_phone),
        ["Zhang Min"],
        "formatting does not matter"
    );
    let by_office = list(
        &app,
        pb::ListCustomersRequest {
            phone: "+861065529988".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(names(&by_office), ["Zhang Min"]);
    let partial = list(
        &app,
        pb::ListCustomersRequest {
            phone: "13911112".into(),
            ..Default::default()
        },
    )
    .await;
    assert!(partial.customers.is_empty(), "phone look-up is exact");

    let by_manager = list(
        &app,
        pb::ListCustomersRequest {
            account_manager: "mgr-7".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(names(&by_manager), ["Wang Li"]);

    let both = list(
        &app,
        pb::ListCustomersRequest {
            display_name_contains: "wang".into(),
            account_manager: "mgr-7".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(names(&both), ["Wang Li"]);
}

#[tokio::test]
async fn pages_cover_every_customer_once() {
    let app = spawn_app().await;
    for i in 0..7 {
        app.create(person(&format!("Customer {i}"))).await;
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = list(
            &app,
            pb::ListCustomersRequest {
                page_size: 3,
                page_token: token.clone(),
                ..Default::default()
            },
        )
        .await;
        pages += 1;
        seen.extend(names(&page));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(pages, 3);
    let want: Vec<String> = (0..7).rev().map(|i| format!("Customer {i}")).collect();
    assert_eq!(seen, want);

    // A token is bound to its filter.
    let first = list(
        &app,
        pb::ListCustomersRequest {
            page_size: 3,
            ..Default::default()
        },
    )
    .await;
    let err = app
        .client
        .clone()
        .list_customers(app.admin(pb::ListCustomersRequest {
            page_size: 3,
            page_token: first.next_page_token,
            display_name_contains: "x".into(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["page_token"]);
}

/// The plan PostgreSQL settles on for a prepared statement (its generic
/// plan, chosen without the values), with sequential scans priced out: a
/// filter the statement can serve from an index names that index.
async fn generic_plan(app: &TestApp, sql: &str, arguments: &str) -> String {
    use sqlx::Row;
    let mut conn = app.db.admin_connection().await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "SET search_path = profile;
         SET plan_cache_mode = force_generic_plan;
         SET enable_seqscan = off;
         PREPARE listing AS {sql};"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    let rows = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "EXPLAIN EXECUTE listing({arguments})"
    )))
    .fetch_all(&mut conn)
    .await
    .unwrap();
    rows.iter()
        .map(|r| r.get::<String, _>(0))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn each_lookup_uses_its_index_under_a_generic_plan() {
    use patron_customer_profile::store::{CustomerFilter, ReachFilter, list_statement};
    let app = spawn_app().await;
    app.create(person("Planned")).await;
    // Enough archives, each with its own number, phones and card and one of
    // 50 managers, that the statistics tell them apart.
    let mut conn = app.db.admin_connection().await;
    sqlx::raw_sql(
        "INSERT INTO profile.customers
         SELECT (jsonb_populate_record(NULL::profile.customers, to_jsonb(c) || jsonb_build_object(
                   'id', gen_random_uuid(), 'archive_number', 'N' || g,
                   'phone_index', ARRAY['p' || g], 'id_card_index', 'c' || g,
                   'account_manager', 'm' || (g % 50)))).*
           FROM profile.customers c, generate_series(1, 5000) g;
         ANALYZE profile.customers;",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let everyone = ReachFilter::default();
    let cases: [(CustomerFilter, &str, &str); 4] = [
        (
            CustomerFilter {
                archive_number: Some("A000001".into()),
                ..Default::default()
            },
            "'A000001', 51",
            "customers_archive_number_key",
        ),
        (
            CustomerFilter {
                phone_index: Some("blind".into()),
                ..Default::default()
            },
            "'blind', 51",
            "customers_phone_index_idx",
        ),
        (
            CustomerFilter {
                id_card_index: Some("blind".into()),
                ..Default::default()
            },
            "'blind', 51",
            "customers_id_card_index_idx",
        ),
        (
            CustomerFilter {
                account_manager: Some("li.na".into()),
                ..Default::default()
            },
            "'li.na', 51",
            "customers_account_manager_idx",
        ),
    ];
    for (filter, arguments, index) in cases {
        let statement = list_statement(&filter, &everyone, None, 51);
        let plan = generic_plan(&app, statement.sql().as_str(), arguments).await;
        assert!(
            plan.contains(index),
            "{filter:?} should use {index}:\n{plan}"
        );
    }
}
