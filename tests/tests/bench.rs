//! `patron bench` against a running suite, briefly: every row of issue 16's
//! table is measured and no answer was an error. Speed is not asserted.

use std::sync::Arc;
use std::time::Duration;

use patron::bench::{self, Options, Target};
use patron_kit::auth::Authenticator;
use patron_suite_tests::Suite;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_benchmark_measures_every_row_without_errors() {
    let suite = Suite::start().await;
    let (redis_url, prefix) = suite.event_streams();
    let target = Target {
        profile_url: suite.profile_url.clone(),
        gateway_url: suite.base_url.clone(),
        database_url: suite.admin_database_url(),
        events_redis_url: redis_url.to_owned(),
        stream_prefix: prefix.to_owned(),
        auth: Arc::new(Authenticator::new(&suite.auth_config)),
        clock: Arc::new(suite.clock.clone()),
    };
    let options = Options {
        duration: Duration::from_millis(300),
        connections: 2,
        streams: 4,
        http_connections: 4,
        writers: 4,
        customers: 20,
        patience: Duration::from_secs(60),
    };
    let table = bench::run(&target, &options)
        .await
        .expect("the benchmark runs");
    let text = table.to_string();
    println!("{text}");

    let paths: Vec<&str> = table.rows.iter().map(|r| r.path.as_str()).collect();
    for expected in [
        "GetCustomer, masked (viewer), cached",
        "GetCustomer, masked (account manager), cached",
        "GetCustomer, clear sensitive fields (admin; audited)",
        "health Check on customer-profile's port",
        "gateway GET /v1/customers/{id}",
        "RecordTransaction",
        "commit (acknowledged) → event on the stream",
        "commit → tier decided",
    ] {
        assert!(
            paths.iter().any(|p| p.starts_with(expected)),
            "no row for {expected}: {paths:?}"
        );
    }
    for row in &table.rows {
        assert_eq!(
            row.patron.errors, 0,
            "{}: {:?}",
            row.path, row.patron.first_error
        );
        assert!(row.patron.samples > 0, "{} measured nothing", row.path);
        if let Some((what, base)) = &row.baseline {
            assert_eq!(base.errors, 0, "{what}: {:?}", base.first_error);
            assert!(base.samples > 0, "{what} measured nothing");
        }
    }
    // One line per row under the header, each with every column.
    assert_eq!(text.lines().count(), table.rows.len() + 2, "{text}");
    assert!(text.lines().all(|l| l.matches('|').count() == 13), "{text}");
}
