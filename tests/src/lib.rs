//! Starts the suite for a test: customer-profile and the gateway on ports of
//! their own, a database of the test's own, and helpers to call the gateway
//! over HTTP as a portal would.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use patron_complaint::{self as complaint, ComplaintConfig};
use patron_customer_profile::{self as profile, ProfileConfig};
use patron_gateway::GatewayConfig;
use patron_kit::auth::{AuthConfig, Authenticator, Claims};
use patron_kit::clock::{Clock, ManualClock};
use patron_kit::testing::{self, TestDatabase};
use patron_scheduling::{self as scheduling, SchedulingConfig};
use patron_tiering::{self as tiering, TieringConfig};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub mod faults;

/// How the suite runs customer-profile on `listen` with `db`.
pub fn profile_config(
    listen: std::net::SocketAddr,
    db: patron_kit::db::DbConfig,
    cache: &patron_kit::cache::CacheConfig,
    auth: &AuthConfig,
    clock: &ManualClock,
) -> ProfileConfig {
    ProfileConfig {
        common: testing::common_config(listen, db, cache, auth, Arc::new(clock.clone())),
        keys: testing::key_ring(),
        archive_prefix: "A".into(),
        review_period: Duration::from_secs(365 * 24 * 3600),
        manager_limit: 3,
    }
}

/// How the suite runs a complaint instance on `listen` with `db`, asking
/// the customer-profile at `profile_url` about customers it has not heard of.
pub fn complaint_config(
    listen: std::net::SocketAddr,
    db: patron_kit::db::DbConfig,
    cache: &patron_kit::cache::CacheConfig,
    auth: &AuthConfig,
    clock: &ManualClock,
    profile_url: &str,
    consumer_name: &str,
) -> ComplaintConfig {
    ComplaintConfig {
        common: testing::common_config(listen, db, cache, auth, Arc::new(clock.clone())),
        preset: Some("health-chain".into()),
        consumer_name: consumer_name.into(),
        deadline_poll: Duration::from_millis(100),
        profile: complaint::customers::ProfileConfig {
            url: profile_url.to_owned(),
        },
        intake_group: complaint::INTAKE_GROUP,
    }
}

/// How the suite runs a scheduling instance on `listen` with `db`, asking
/// the customer-profile at `profile_url` for contact permissions.
pub fn scheduling_config(
    listen: std::net::SocketAddr,
    db: patron_kit::db::DbConfig,
    cache: &patron_kit::cache::CacheConfig,
    auth: &AuthConfig,
    clock: &ManualClock,
    profile_url: &str,
    consumer_name: &str,
) -> SchedulingConfig {
    SchedulingConfig {
        common: testing::common_config(listen, db, cache, auth, Arc::new(clock.clone())),
        preset: Some("health-chain".into()),
        consumer_name: consumer_name.into(),
        generation_poll: Duration::from_millis(500),
        profile: scheduling::profile::ProfileConfig {
            url: profile_url.to_owned(),
        },
        public_url: SCHEDULING_PUBLIC_URL.into(),
    }
}

/// The public address the suite's scheduling instances make calendar feed
/// URLs under; a test swaps it for the suite's gateway address.
pub const SCHEDULING_PUBLIC_URL: &str = "https://patron.example.test";

/// A running suite.
pub struct Suite {
    pub base_url: String,
    /// customer-profile's gRPC address.
    pub profile_url: String,
    /// tiering's gRPC address.
    pub tiering_url: String,
    /// complaint's gRPC address (the first instance).
    pub complaint_url: String,
    /// scheduling's gRPC address (the first instance).
    pub scheduling_url: String,
    pub http: reqwest::Client,
    pub auth: Authenticator,
    pub auth_config: AuthConfig,
    pub db: TestDatabase,
    /// Every service's clock: it stands at [`testing::test_now`] until a
    /// test moves it, so no test depends on the machine's date.
    pub clock: ManualClock,
    /// Each service's `/metrics` URL, by schema (and the gateway's), when
    /// started with [`Suite::start_measured`].
    pub metrics_urls: BTreeMap<String, String>,
    cache: patron_kit::cache::CacheConfig,
    shutdown: CancellationToken,
}

impl Drop for Suite {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// What an HTTP call answered.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The field paths of an error's violations.
    pub fn violation_fields(&self) -> Vec<String> {
        self.body["error"]["details"][0]["fieldViolations"]
            .as_array()
            .map(|v| {
                v.iter()
                    .filter_map(|f| f["field"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn error_status(&self) -> &str {
        self.body["error"]["status"].as_str().unwrap_or_default()
    }
}

impl Suite {
    /// The suite with every service up.
    pub async fn start() -> Self {
        Self::start_with(true).await
    }

    /// The suite; with `profile_up` false, the gateway points at a port where
    /// nothing listens, as when the service is down.
    pub async fn start_with(profile_up: bool) -> Self {
        Self::start_inner(profile_up, false).await
    }

    /// The suite with every service up and serving `/metrics` on a port of
    /// its own, its states read every 200 ms.
    pub async fn start_measured() -> Self {
        Self::start_inner(true, true).await
    }

    async fn start_inner(profile_up: bool, measured: bool) -> Self {
        let mut metrics_urls = BTreeMap::new();
        let mut measure = |common: &mut patron_kit::runtime::CommonConfig| {
            if measured {
                let addr = free_port();
                metrics_urls.insert(common.db.schema.clone(), format!("http://{addr}/metrics"));
                common.metrics = patron_kit::metrics::MetricsConfig {
                    listen: Some(addr),
                    refresh: Duration::from_millis(200),
                };
            }
        };
        let db = TestDatabase::create(&[
            profile::SCHEMA,
            tiering::SCHEMA,
            complaint::SCHEMA,
            scheduling::SCHEMA,
        ])
        .await;
        let auth_config = testing::auth_config();
        let shutdown = CancellationToken::new();
        // One prefix for every service: tiering reads the streams profile writes.
        let cache = testing::cache_config();
        let clock = testing::test_clock();

        let profile_listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind profile");
        let profile_addr = profile_listener.local_addr().expect("profile addr");
        let upstream = if profile_up {
            let mut config = profile_config(
                profile_addr,
                db.service_config(profile::SCHEMA),
                &cache,
                &auth_config,
                &clock,
            );
            measure(&mut config.common);
            tokio::spawn(profile::serve(config, profile_listener, shutdown.clone()));
            format!("http://{profile_addr}")
        } else {
            drop(profile_listener);
            format!("http://{profile_addr}")
        };
        let profile_url = upstream.clone();

        let tiering_listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind tiering");
        let tiering_addr = tiering_listener.local_addr().expect("tiering addr");
        let tiering_url = format!("http://{tiering_addr}");
        if profile_up {
            let mut config = TieringConfig {
                common: testing::common_config(
                    tiering_addr,
                    db.service_config(tiering::SCHEMA),
                    &cache,
                    &auth_config,
                    Arc::new(clock.clone()),
                ),
                preset: Some("health-chain".into()),
                consumer_name: "suite".into(),
                sweep_pause: Duration::from_millis(200),
            };
            measure(&mut config.common);
            tokio::spawn(tiering::serve(config, tiering_listener, shutdown.clone()));
        }

        let complaint_listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind complaint");
        let complaint_url = format!(
            "http://{}",
            complaint_listener.local_addr().expect("complaint addr")
        );
        if profile_up {
            let mut config = complaint_config(
                complaint_listener.local_addr().expect("complaint addr"),
                db.service_config(complaint::SCHEMA),
                &cache,
                &auth_config,
                &clock,
                &profile_url,
                "suite-1",
            );
            measure(&mut config.common);
            tokio::spawn(complaint::serve(
                config,
                complaint_listener,
                shutdown.clone(),
            ));
        }

        let scheduling_listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind scheduling");
        let scheduling_addr = scheduling_listener.local_addr().expect("scheduling addr");
        let scheduling_url = format!("http://{scheduling_addr}");
        if profile_up {
            let mut config = scheduling_config(
                scheduling_addr,
                db.service_config(scheduling::SCHEMA),
                &cache,
                &auth_config,
                &clock,
                &profile_url,
                "suite-1",
            );
            measure(&mut config.common);
            tokio::spawn(scheduling::serve(
                config,
                scheduling_listener,
                shutdown.clone(),
            ));
        }

        let gateway_listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind gateway");
        let gateway_addr = gateway_listener.local_addr().expect("gateway addr");
        let config = GatewayConfig {
            listen: gateway_addr,
            auth: auth_config.clone(),
            upstreams: BTreeMap::from([
                ("profile".to_string(), upstream),
                ("tiering".to_string(), tiering_url.clone()),
                ("complaint".to_string(), complaint_url.clone()),
                ("scheduling".to_string(), scheduling_url.clone()),
            ]),
            resolve_interval: Duration::from_secs(5),
            call_timeout: Duration::from_secs(10),
            max_body_bytes: 64 * 1024,
            metrics: patron_kit::metrics::MetricsConfig {
                listen: measured.then(free_port),
                refresh: Duration::from_secs(1),
            },
        };
        if let Some(addr) = config.metrics.listen {
            metrics_urls.insert("gateway".into(), format!("http://{addr}/metrics"));
        }
        tokio::spawn(patron_gateway::serve(
            config,
            gateway_listener,
            shutdown.clone(),
        ));

        let suite = Self {
            base_url: format!("http://{gateway_addr}"),
            profile_url,
            tiering_url,
            complaint_url,
            scheduling_url,
            http: patron_kit::tls::http_client(Duration::from_secs(30)),
            auth: Authenticator::new(&auth_config),
            auth_config,
            db,
            clock,
            metrics_urls,
            cache,
            shutdown,
        };
        if profile_up {
            suite.wait_until_ready().await;
        }
        suite
    }

    /// Waits until the gateway reports every upstream serving (the service
    /// has migrated and listens).
    /// Generous: on a loaded two-core machine, four services migrating at
    /// once can take a while; it returns as soon as they are ready.
    async fn wait_until_ready(&self) {
        for _ in 0..1200 {
            let ready = self
                .http
                .get(format!("{}/readyz", self.base_url))
                .send()
                .await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the suite did not become ready within 60 s");
    }

    /// Starts one more complaint instance on the suite's database, as a
    /// second replica would run; its gRPC address. It stops with the suite.
    pub async fn start_complaint_replica(&self, name: &str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind complaint replica");
        let addr = listener.local_addr().expect("replica addr");
        let config = complaint_config(
            addr,
            self.db.service_config(complaint::SCHEMA),
            &self.cache,
            &self.auth_config,
            &self.clock,
            &self.profile_url,
            name,
        );
        tokio::spawn(complaint::serve(config, listener, self.shutdown.clone()));
        let url = format!("http://{addr}");
        wait_until_serving(&url).await;
        url
    }

    /// Starts one more scheduling instance on the suite's database, as a
    /// second replica would run, asking the customer-profile at
    /// `profile_url`; its gRPC address. It stops with the suite.
    pub async fn start_scheduling_replica(&self, name: &str, profile_url: &str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind scheduling replica");
        let addr = listener.local_addr().expect("replica addr");
        let config = scheduling_config(
            addr,
            self.db.service_config(scheduling::SCHEMA),
            &self.cache,
            &self.auth_config,
            &self.clock,
            profile_url,
            name,
        );
        tokio::spawn(scheduling::serve(config, listener, self.shutdown.clone()));
        let url = format!("http://{addr}");
        wait_until_serving(&url).await;
        url
    }

    /// The Redis holding the suite's event streams, and the streams' key prefix.
    pub fn event_streams(&self) -> (&str, &str) {
        (&self.cache.url, &self.cache.key_prefix)
    }

    /// An administrator's URL of the suite's database.
    pub fn admin_database_url(&self) -> String {
        let admin = testing::admin_url();
        let server = admin.rsplit_once('/').map_or(admin.as_str(), |(s, _)| s);
        format!("{server}/{}", self.db.name)
    }

    /// The suite's "now".
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// Today in the company's zone (Shanghai) by the suite's clock.
    pub fn today(&self) -> chrono::NaiveDate {
        patron_kit::clock::today(&self.clock, chrono_tz::Asia::Shanghai)
    }

    /// Waits until tiering has applied every event profile has committed so
    /// far: after it, what tiering shows is what those events made of it.
    pub async fn wait_for_tiering_to_catch_up(&self) {
        self.wait_for_group("tiering", "tiering", &[("profile", None)])
            .await;
    }

    /// Waits until complaint has applied every event of the topics it reads
    /// that profile and tiering have committed so far (where customers and
    /// staff sit, tiers, the policy in force).
    pub async fn wait_for_complaint_to_catch_up(&self) {
        let topics = [
            "profile.customers",
            "profile.directory",
            "tiering.tiers",
            "tiering.policies",
        ];
        self.wait_for_group(
            "complaint",
            "complaint",
            &[
                ("profile", Some(&topics[..])),
                ("tiering", Some(&topics[..])),
            ],
        )
        .await;
    }

    /// Waits until scheduling has applied every event of the topics it reads
    /// that profile and tiering have committed so far (where customers and
    /// staff sit, tiers, the policy in force).
    pub async fn wait_for_scheduling_to_catch_up(&self) {
        let topics = [
            "profile.customers",
            "profile.directory",
            "tiering.tiers",
            "tiering.policies",
        ];
        self.wait_for_group(
            "scheduling",
            "scheduling",
            &[
                ("profile", Some(&topics[..])),
                ("tiering", Some(&topics[..])),
            ],
        )
        .await;
    }

    /// Waits until consumer `group` (its processed events in `schema`) has
    /// applied every event in the outboxes of `sources` (schema, and the
    /// topics it reads there: `None` for all).
    async fn wait_for_group(&self, group: &str, schema: &str, sources: &[(&str, Option<&[&str]>)]) {
        let mut conn = self.db.admin_connection().await;
        let mut behind: i64 = 0;
        for _ in 0..1200 {
            behind = 0;
            for (source, topics) in sources {
                let topics: Vec<String> = topics
                    .map(|t| t.iter().map(|s| s.to_string()).collect())
                    .unwrap_or_default();
                let sql = format!(
                    "SELECT count(*) FROM {source}.outbox o
                      WHERE (cardinality($2::text[]) = 0 OR o.topic = ANY($2))
                        AND NOT EXISTS (SELECT 1 FROM {schema}.processed_events p
                                         WHERE p.consumer_group = $1 AND p.event_id = o.event_id)"
                );
                let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .bind(group)
                    .bind(&topics)
                    .fetch_one(&mut conn)
                    .await
                    .expect("counting events a group has not applied");
                behind += count;
            }
            if behind == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let failures: Vec<(i32, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT failures, last_error FROM {schema}.event_failures WHERE consumer_group = $1"
        )))
        .bind(group)
        .fetch_all(&mut conn)
        .await
        .unwrap_or_default();
        let waiting: Vec<(Option<String>, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT usename::text, wait_event_type, left(query, 120) FROM pg_stat_activity
              WHERE datname = current_database() AND state <> 'idle'",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap_or_default();
        let mut lagging = Vec::new();
        for (source, topics) in sources {
            let topics: Vec<String> = topics
                .map(|t| t.iter().map(|s| s.to_string()).collect())
                .unwrap_or_default();
            let sql = format!(
                "SELECT o.topic || ' at ' || o.created_at::text || ' published '
                        || coalesce(o.published_at::text, 'not yet') FROM {source}.outbox o
                  WHERE (cardinality($2::text[]) = 0 OR o.topic = ANY($2)) AND NOT EXISTS (SELECT 1 FROM {schema}.processed_events p
                                     WHERE p.consumer_group = $1 AND p.event_id = o.event_id)"
            );
            let found: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(group)
                .bind(&topics)
                .fetch_all(&mut conn)
                .await
                .unwrap_or_default();
            lagging.extend(found);
        }
        panic!(
            "{group} is still {behind} events behind after 60 s; failures: {failures:?}; \
             not applied: {lagging:?}; busy: {waiting:?}"
        );
    }

    /// A valid token for `role`.
    pub fn token(&self, role: &str) -> String {
        self.auth.mint(
            "staff-9",
            &[role.to_owned()],
            chrono::Utc::now(),
            Duration::from_secs(600),
        )
    }

    /// A token with claims a test chose (expired, wrong audience…).
    pub fn token_with(&self, edit: impl FnOnce(&mut Claims)) -> String {
        let now = chrono::Utc::now().timestamp();
        let mut claims = Claims {
            sub: "staff-9".into(),
            iss: self.auth_config.issuer.clone(),
            aud: self.auth_config.audience.clone().into(),
            iat: now,
            nbf: None,
            exp: now + 600,
            roles: vec!["admin".into()],
        };
        edit(&mut claims);
        self.auth.mint_claims(&claims)
    }

    /// Sends `method path` with `body` and an optional bearer token.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base_url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        Self::reply(request).await
    }

    /// POSTs `body` as it is, with `content_type`, as an administrator: a
    /// body that is not JSON, or too big, which [`Suite::call`] cannot send.
    pub async fn post_raw(&self, path: &str, content_type: &str, body: String) -> Reply {
        let request = self
            .http
            .post(format!("{}{path}", self.base_url))
            .bearer_auth(self.token("admin"))
            .header("content-type", content_type)
            .body(body);
        Self::reply(request).await
    }

    async fn reply(request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("the gateway answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    /// As an administrator.
    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Reply {
        let token = self.token("admin");
        self.call(method, path, Some(&token), body).await
    }
}

/// A loopback address with a port free a moment ago, for a listener the
/// service binds itself.
fn free_port() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
}

/// Waits until the gRPC server at `url` reports itself ready.
pub async fn wait_until_serving(url: &str) {
    for _ in 0..200 {
        if is_ready(url).await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} did not become ready within 10 s");
}

/// Whether the gRPC server at `url` answers its readiness check as serving
/// (migrated, its database and Redis answering), asked once, within
/// seconds: a server that accepts but never answers is not ready.
pub async fn is_ready(url: &str) -> bool {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    let Ok(endpoint) = tonic::transport::Endpoint::from_shared(url.to_owned()) else {
        return false;
    };
    let Ok(channel) = endpoint
        .connect_timeout(Duration::from_secs(1))
        .timeout(Duration::from_secs(2))
        .connect()
        .await
    else {
        return false;
    };
    let answer = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: "patron.readiness".into(),
        })
        .await;
    answer.is_ok_and(|a| a.into_inner().status == 1)
}
