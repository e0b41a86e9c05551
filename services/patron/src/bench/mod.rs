//! `patron bench`: issue 16's table measured against a running suite, each
//! path beside its baseline from the same run, every answer checked, each
//! row bounded in time. It makes its own data (a region, two staff members
//! and a few hundred customers, under ids of the run's own) and leaves it;
//! the scratch table of the INSERT baseline is dropped at the end.

pub mod baseline;
pub mod events;
pub mod fixture;
pub mod load;
pub mod reads;
pub mod table;
pub mod writes;

use std::sync::Arc;
use std::time::Duration;

use patron_kit::auth::Authenticator;
use patron_kit::clock::SharedClock;
use tokio_util::sync::CancellationToken;

use self::load::Bound;
use self::reads::Expect;
pub use self::table::{Figures, Goal, Row, Table};

/// The running suite.
#[derive(Clone)]
pub struct Target {
    /// customer-profile's gRPC URL.
    pub profile_url: String,
    /// The gateway's base URL (`http://127.0.0.1:8080`).
    pub gateway_url: String,
    /// A connection to the suite's database that may read every service's
    /// schema and create a table (the administrator's).
    pub database_url: String,
    /// The Redis holding the event streams, and the streams' key prefix.
    pub events_redis_url: String,
    pub stream_prefix: String,
    /// Mints the benchmark's tokens with the suite's signing key.
    pub auth: Arc<Authenticator>,
    /// The suite's "now", for the purchases' times.
    pub clock: SharedClock,
}

/// How hard and how long.
#[derive(Debug, Clone)]
pub struct Options {
    /// Per row (each baseline too).
    pub duration: Duration,
    /// gRPC reads: connections, and concurrent calls on each.
    pub connections: usize,
    pub streams: usize,
    /// The gateway's HTTP/1.1 connections (one call at a time each).
    pub http_connections: usize,
    /// Concurrent RecordTransaction clients (and INSERT clients).
    pub writers: usize,
    /// How many customers to make.
    pub customers: usize,
    /// How long to wait for the write row's events to reach the stream and tiering.
    pub patience: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            duration: Duration::from_secs(5),
            connections: 4,
            streams: 50,
            http_connections: 50,
            writers: 32,
            customers: 300,
            patience: Duration::from_secs(60),
        }
    }
}

/// Runs every row; the table. Progress goes to stderr.
pub async fn run(target: &Target, options: &Options) -> anyhow::Result<Table> {
    let bound = Bound::For(options.duration);
    let say = |what: &str| eprintln!("patron bench: {what}");
    let profile = reads::connections(&target.profile_url, options.connections).await?;
    say(&format!("making {} customers", options.customers));
    let data = fixture::make(&profile[0], &target.auth, options.customers).await?;
    for caller in [&data.viewer, &data.manager] {
        fixture::warm(&profile[0], caller, &data.customers).await?;
    }
    let customers = Arc::new(data.customers.clone());

    let stop = CancellationToken::new();
    let bare_addr = baseline::start_bare_health(stop.clone()).await?;
    let bare = reads::connections(&format!("http://{bare_addr}"), options.connections).await?;
    say("bare tonic health Check");
    let bare_before = Figures::of(&reads::health_check(&bare, options.streams, bound).await);

    let mut rows = Vec::new();
    let shape = format!("{}×{}", options.connections, options.streams);
    for (path, caller, expect) in [
        (
            "GetCustomer, masked (viewer), cached",
            &data.viewer,
            Expect::Masked,
        ),
        (
            "GetCustomer, masked (account manager), cached",
            &data.manager,
            Expect::Masked,
        ),
        (
            "GetCustomer, clear sensitive fields (admin; audited)",
            &data.admin,
            Expect::Clear,
        ),
    ] {
        say(path);
        let measured = reads::get_customer(
            &profile,
            options.streams,
            caller,
            customers.clone(),
            expect,
            bound,
        )
        .await;
        rows.push(Row {
            path: format!("{path}, {shape}"),
            patron: Figures::of(&measured),
            baseline: None,
            goal: Goal::RatioAtLeast(0.5),
        });
    }
    let masked = rows[0].patron.clone();
    rows[2].goal = Goal::ShareOf {
        fraction: 0.5,
        of: "the masked read",
        rate: masked.per_second.unwrap_or_default(),
    };

    say("health Check on Patron's own port");
    rows.push(Row {
        path: format!("health Check on customer-profile's port, {shape}"),
        patron: Figures::of(&reads::health_check(&profile, options.streams, bound).await),
        baseline: None,
        goal: Goal::RatioAtLeast(0.8),
    });

    // The bare server again, after the rows it is the baseline of: on a
    // shared machine one reading can be low (the suite still busy with the
    // fixture's events), and the faster of the two is the fairer bar.
    say("bare tonic health Check, again");
    let bare_after = Figures::of(&reads::health_check(&bare, options.streams, bound).await);
    stop.cancel();
    let bare_health = faster(bare_before, bare_after);
    for row in &mut rows {
        row.baseline = Some(("bare tonic health Check".to_owned(), bare_health.clone()));
    }

    say("gateway GET /v1/customers/{id}");
    let measured = reads::gateway_get(
        &target.gateway_url,
        options.http_connections,
        &data.viewer,
        customers.clone(),
        bound,
    )
    .await;
    rows.push(Row {
        path: format!(
            "gateway GET /v1/customers/{{id}} (viewer), HTTP/1.1, {} connections",
            options.http_connections
        ),
        patron: Figures::of(&measured),
        baseline: Some(("masked gRPC read (viewer)".to_owned(), masked)),
        goal: Goal::RatioAtLeast(0.7),
    });

    say("plain single-row INSERT");
    let scratch =
        baseline::Scratch::create(&target.database_url, &data.run, options.writers).await?;
    let inserts = Figures::of(&scratch.insert_rows(options.writers, bound).await);
    scratch.drop_table().await?;

    say("RecordTransaction");
    let stream = patron_kit::events::stream_key(
        &target.stream_prefix,
        patron_kit::events::topics::PROFILE_TRANSACTIONS.name(),
    );
    let watch = events::watch(&target.events_redis_url, stream).await?;
    let (recorded, acks) = writes::record_transactions(
        &profile,
        options.writers,
        &data.admin,
        customers.clone(),
        &data.run,
        target.clock.clone(),
        bound,
    )
    .await;
    rows.push(Row {
        path: format!("RecordTransaction, {} clients", options.writers),
        patron: Figures::of(&recorded),
        baseline: Some(("plain single-row INSERT".to_owned(), inserts)),
        goal: Goal::RatioAtLeast(0.5),
    });

    say("waiting for the transactions' events on the stream and in tiering");
    let (on_stream, event_ids) = watch.finish(&acks, options.patience).await?;
    rows.push(Row {
        path: "commit (acknowledged) → event on the stream".into(),
        patron: Figures::latencies_of(&on_stream),
        baseline: None,
        goal: Goal::P99AtMost(Duration::from_millis(50)),
    });
    let tiered = events::tier_decided(&target.database_url, &event_ids, options.patience).await?;
    rows.push(Row {
        path: "commit → tier decided (tiering's transaction), at that rate".into(),
        patron: Figures::latencies_of(&tiered),
        baseline: None,
        goal: Goal::P99AtMost(Duration::from_millis(200)),
    });
    Ok(Table { rows })
}

/// The better of two readings of the same baseline.
fn faster(a: Figures, b: Figures) -> Figures {
    if b.per_second.unwrap_or_default() > a.per_second.unwrap_or_default() {
        b
    } else {
        a
    }
}
