//! Measurement: Redis memory per cached customer. Creates `count` customers
//! with the contact details and soft facts a branch usually records, reads
//! each once through GetCustomer (which caches it), then sums Redis's own
//! `MEMORY USAGE` of every key under the run's prefix. Run:
//! `cargo run --release -p patron-suite-tests --bin bench-cache-memory -- [count]`.

use std::sync::Arc;
use std::time::Duration;

use patron_customer_profile::{self as profile, ProfileConfig};
use patron_kit::auth::Authenticator;
use patron_kit::clock::SystemClock;
use patron_kit::testing::{self, TestDatabase};
use patron_proto::profile::v1 as pb;
use patron_proto::profile::v1::customer_service_client::CustomerServiceClient;
use redis::AsyncCommands;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

fn customer(i: usize) -> pb::Customer {
    pb::Customer {
        kind: pb::CustomerKind::Person as i32,
        display_name: format!("李晓明{i}"),
        person: Some(pb::PersonFacts {
            gender: pb::Gender::Female as i32,
            approximate_age: 40,
            job: "教师".into(),
            employer: "上海市第三中学".into(),
            ..Default::default()
        }),
        contact: Some(pb::ContactDetails {
            email: format!("xiaoming.li{i}@example.com"),
            mobile_phone: format!("139{:08}", i),
            address: "上海市徐汇区漕溪北路 88 号 12 楼".into(),
            ..Default::default()
        }),
        soft_facts: Some(pb::SoftFacts {
            hobbies: vec!["摄影".into(), "徒步".into()],
            consumption_habits: "每季度体检，偏好周末上午".into(),
            ..Default::default()
        }),
        notes: "老客户，由门店介绍".into(),
        ..Default::default()
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(3_000);
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
        archive_prefix: "M".into(),
        review_period: Duration::from_secs(365 * 24 * 3600),
        manager_limit: 3,
    };
    let shutdown = CancellationToken::new();
    let served = tokio::spawn(profile::serve(config, listener, shutdown.clone()));
    let url = format!("http://{addr}");
    patron_suite_tests::wait_until_serving(&url).await;
    let channel = Channel::from_shared(url)?.connect().await?;
    let bearer: tonic::metadata::MetadataValue<_> = format!(
        "Bearer {}",
        Authenticator::new(&auth).mint(
            "bench",
            &["admin".into()],
            chrono::Utc::now(),
            Duration::from_secs(3600),
        )
    )
    .parse()?;
    fn authorized<T>(
        bearer: &tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
        message: T,
    ) -> tonic::Request<T> {
        let mut r = tonic::Request::new(message);
        r.metadata_mut().insert("authorization", bearer.clone());
        r
    }
    let mut client = CustomerServiceClient::new(channel);
    let mut names = Vec::with_capacity(count);
    for i in 0..count {
        let created = client
            .create_customer(authorized(
                &bearer,
                pb::CreateCustomerRequest {
                    customer: Some(customer(i)),
                    request_id: String::new(),
                },
            ))
            .await?
            .into_inner();
        names.push(created.name);
    }
    // Writes leave a floor beside the (absent) entry; measure both.
    for name in &names {
        client
            .get_customer(authorized(
                &bearer,
                pb::GetCustomerRequest { name: name.clone() },
            ))
            .await?;
    }

    let mut redis = redis::Client::open(cache.url.as_str())?
        .get_multiplexed_async_connection()
        .await?;
    let keys: Vec<String> = {
        let mut iter: redis::AsyncIter<String> =
            redis.scan_match(format!("{}:*", cache.key_prefix)).await?;
        let mut keys = Vec::new();
        while let Some(key) = iter.next_item().await {
            keys.push(key?);
        }
        keys
    };
    // The streams share the prefix in a test (the events' Redis is the cache's).
    let (mut entries, mut floors, mut other) = ((0usize, 0u64), (0usize, 0u64), (0usize, 0u64));
    for key in &keys {
        let bytes: Option<u64> = redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(key)
            .arg("SAMPLES")
            .arg(0)
            .query_async(&mut redis)
            .await?;
        let bytes = bytes.unwrap_or_default();
        let slot = if key.ends_with(":floor") {
            &mut floors
        } else if key.contains(":profile:") {
            &mut entries
        } else {
            &mut other
        };
        slot.0 += 1;
        slot.1 += bytes;
    }
    let per = |(n, b): (usize, u64)| if n == 0 { 0 } else { b / n as u64 };
    println!("customers cached        {count}");
    println!(
        "entries                 {:>6} keys  {:>9} bytes  {:>5} bytes/key",
        entries.0,
        entries.1,
        per(entries)
    );
    println!(
        "floors                  {:>6} keys  {:>9} bytes  {:>5} bytes/key",
        floors.0,
        floors.1,
        per(floors)
    );
    println!(
        "events (streams, relay) {:>6} keys  {:>9} bytes (one event per created customer)",
        other.0, other.1
    );
    println!(
        "per cached customer     {:>6} bytes (entries and floors over customers)",
        (entries.1 + floors.1) / count.max(1) as u64
    );
    if !keys.is_empty() {
        let _: () = redis.del(&keys).await?;
    }
    shutdown.cancel();
    served.await??;
    Ok(())
}
