//! Measurement: the rate of cached GetCustomer calls by a viewer (a
//! unit-scoped role), an account manager and an admin reading in the clear
//! (audited), against profile served in this process on a fresh database,
//! `concurrency` calls in flight for `seconds` each. Every answer is
//! checked; an error counts as one. A supervisor reads in the clear, so
//! their reads are audited too. Run:
//! `cargo run --release -p patron-customer-profile --example bench_reads -- [seconds] [concurrency]`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use patron_customer_profile::{self as profile, ProfileConfig};
use patron_kit::auth::Authenticator;
use patron_kit::clock::SystemClock;
use patron_kit::testing::{self, TestDatabase};
use patron_proto::profile::v1 as pb;
use patron_proto::profile::v1::customer_service_client::CustomerServiceClient;
use patron_proto::profile::v1::organization_service_client::OrganizationServiceClient;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;

const CUSTOMERS: usize = 200;
const CHANNELS: usize = 4;

fn authorized<T>(bearer: &MetadataValue<Ascii>, message: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    r.metadata_mut().insert("authorization", bearer.clone());
    r
}

struct Run {
    errors: usize,
    latencies: Vec<Duration>,
    elapsed: Duration,
}

/// `concurrency` loops reading `names` round-robin as `bearer` for `seconds`.
async fn run(
    channels: &[Channel],
    bearer: &MetadataValue<Ascii>,
    names: &Arc<Vec<String>>,
    seconds: u64,
    concurrency: usize,
) -> Run {
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let loops = (0..concurrency).map(|i| {
        let mut client = CustomerServiceClient::new(channels[i % channels.len()].clone());
        let (bearer, names) = (bearer.clone(), names.clone());
        tokio::spawn(async move {
            let (mut latencies, mut errors) = (Vec::new(), 0);
            let mut next = i;
            while Instant::now() < until {
                let name = names[next % names.len()].clone();
                next += concurrency;
                let at = Instant::now();
                match client
                    .get_customer(authorized(&bearer, pb::GetCustomerRequest { name }))
                    .await
                {
                    Ok(r) if !r.get_ref().name.is_empty() => latencies.push(at.elapsed()),
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        })
    });
    let mut all = Run {
        errors: 0,
        latencies: Vec::new(),
        elapsed: Duration::ZERO,
    };
    for done in futures::future::join_all(loops).await {
        let (latencies, errors) = done.expect("a loop panicked");
        all.errors += errors;
        all.latencies.extend(latencies);
    }
    all.elapsed = started.elapsed();
    all.latencies.sort();
    all
}

fn quantile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let concurrency: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let db = TestDatabase::create(&[profile::SCHEMA]).await;
    let auth = testing::auth_config();
    let cache = patron_kit::cache::CacheConfig {
        ttl: Duration::from_secs(3600),
        ..testing::cache_config()
    };
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let config = ProfileConfig {
        common: testing::common_config(
            addr,
            db.service_config(profile::SCHEMA),
            &cache,
            &auth,
            Arc::new(SystemClock),
        ),
        keys: testing::key_ring(),
        archive_prefix: "R".into(),
        review_period: Duration::from_secs(365 * 24 * 3600),
        manager_limit: 1_000,
    };
    let shutdown = CancellationToken::new();
    let served = tokio::spawn(profile::serve(config, listener, shutdown.clone()));
    let url = format!("http://{addr}");
    let mut channels = Vec::new();
    for _ in 0..CHANNELS {
        channels.push(loop {
            match Channel::from_shared(url.clone())?.connect().await {
                Ok(c) => break c,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        });
    }
    let authenticator = Authenticator::new(&auth);
    let bearer = |subject: &str, role: &str| -> MetadataValue<Ascii> {
        let token = authenticator.mint(
            subject,
            &[role.to_owned()],
            chrono::Utc::now(),
            Duration::from_secs(3600),
        );
        format!("Bearer {token}").parse().expect("a header value")
    };
    let admin = bearer("root", "admin");

    let mut organisation = OrganizationServiceClient::new(channels[0].clone());
    // The service may still be migrating: retry the first call.
    for attempt in 0.. {
        let unit = organisation
            .create_org_unit(authorized(
                &admin,
                pb::CreateOrgUnitRequest {
                    org_unit: Some(pb::OrgUnit {
                        display_name: "East".into(),
                        kind: pb::OrgUnitKind::Region as i32,
                        parent: "orgUnits/company".into(),
                        ..Default::default()
                    }),
                    org_unit_id: "east".into(),
                },
            ))
            .await;
        match unit {
            Ok(_) => break,
            Err(_) if attempt < 200 => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(e) => return Err(e.into()),
        }
    }
    for staff in ["zhao", "li"] {
        organisation
            .create_staff_member(authorized(
                &admin,
                pb::CreateStaffMemberRequest {
                    staff_member: Some(pb::StaffMember {
                        display_name: staff.into(),
                        org_unit: "orgUnits/east".into(),
                        ..Default::default()
                    }),
                    staff_member_id: staff.into(),
                },
            ))
            .await?;
    }
    let mut client = CustomerServiceClient::new(channels[0].clone());
    let mut names = Vec::with_capacity(CUSTOMERS);
    for i in 0..CUSTOMERS {
        let created = client
            .create_customer(authorized(
                &admin,
                pb::CreateCustomerRequest {
                    customer: Some(pb::Customer {
                        kind: pb::CustomerKind::Person as i32,
                        display_name: format!("Reader {i}"),
                        org_unit: "orgUnits/east".into(),
                        account_manager: "li".into(),
                        contact: Some(pb::ContactDetails {
                            mobile_phone: format!("139{i:08}"),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                },
            ))
            .await?
            .into_inner();
        names.push(created.name);
    }
    let names = Arc::new(names);

    println!(
        "GetCustomer, {CUSTOMERS} customers cached, {concurrency} in flight over {CHANNELS} connections, {seconds} s each"
    );
    println!("| caller | calls/s | errors | mean ms | p50 ms | p99 ms |");
    println!("| --- | --- | --- | --- | --- | --- |");
    let callers = [
        ("viewer (unit-scoped)", bearer("zhao", "viewer")),
        (
            "supervisor (unit-scoped, in the clear, audited)",
            bearer("zhao", "supervisor"),
        ),
        ("account manager", bearer("li", "account_manager")),
        ("admin, in the clear (audited)", admin.clone()),
    ];
    for (label, token) in &callers {
        // Warm: every record cached, every directory entry loaded.
        run(&channels, token, &names, 1, concurrency).await;
        let r = run(&channels, token, &names, seconds, concurrency).await;
        let ok = r.latencies.len();
        let mean = r.latencies.iter().map(Duration::as_secs_f64).sum::<f64>() / ok.max(1) as f64;
        println!(
            "| {label} | {:.0} | {} | {:.2} | {:.2} | {:.2} |",
            ok as f64 / r.elapsed.as_secs_f64(),
            r.errors,
            mean * 1000.0,
            quantile(&r.latencies, 0.5),
            quantile(&r.latencies, 0.99),
        );
    }
    shutdown.cancel();
    let _ = served.await;
    Ok(())
}
