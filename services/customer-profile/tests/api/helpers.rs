use std::sync::Arc;
use std::time::Duration;

use patron_customer_profile::{ProfileConfig, SCHEMA, serve};
use patron_kit::auth::Authenticator;
use patron_kit::cache::CacheConfig;
use patron_kit::clock::SharedClock;
use patron_kit::testing::{self, TestDatabase};
use patron_proto::common::v1::Date;
use patron_proto::profile::v1::customer_service_client::CustomerServiceClient;
use patron_proto::profile::v1::organization_service_client::OrganizationServiceClient;
use patron_proto::profile::v1::{self as pb, Customer, CustomerKind};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

pub struct TestApp {
    pub client: CustomerServiceClient<Channel>,
    pub channel: Channel,
    pub db: TestDatabase,
    pub cache: CacheConfig,
    pub config: ProfileConfig,
    auth: Authenticator,
    shutdown: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with_cache(testing::cache_config()).await
}

pub async fn spawn_app_with_cache(cache: CacheConfig) -> TestApp {
    spawn_app_with(cache, Arc::new(testing::test_clock())).await
}

pub async fn spawn_app_with(cache: CacheConfig, clock: SharedClock) -> TestApp {
    let db = TestDatabase::create(&[SCHEMA]).await;
    let auth = testing::auth_config();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = ProfileConfig {
        common: testing::common_config(addr, db.service_config(SCHEMA), &cache, &auth, clock),
        keys: testing::key_ring(),
        archive_prefix: "T".into(),
        review_period: Duration::from_secs(365 * 24 * 3600),
        manager_limit: 3,
    };
    let shutdown = CancellationToken::new();
    tokio::spawn(serve(config.clone(), listener, shutdown.clone()));
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let app = TestApp {
        client: CustomerServiceClient::new(channel.clone()),
        channel,
        db,
        cache,
        config,
        auth: Authenticator::new(&auth),
        shutdown,
    };
    // The staff member `as_role` speaks for works at the company level.
    app.add_staff(STAFF, "company", 0).await;
    app
}

/// The subject of the tokens `as_role` mints.
pub const STAFF: &str = "staff-1";

impl TestApp {
    /// Another instance of the service on the same database (a restart, or
    /// a second replica), with its own key ring.
    pub async fn another_instance(
        &self,
        keys: patron_kit::crypto::KeyRing,
    ) -> CustomerServiceClient<Channel> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut config = ProfileConfig {
            keys,
            ..self.config.clone()
        };
        config.common.listen = addr;
        tokio::spawn(serve(config, listener, self.shutdown.clone()));
        let channel = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        CustomerServiceClient::new(channel)
    }
}

impl TestApp {
    /// A request carrying a token for [`STAFF`] with `role`.
    pub fn as_role<T>(&self, role: &str, message: T) -> Request<T> {
        self.as_staff(STAFF, role, message)
    }

    /// A request carrying a token for `subject` with `role`.
    pub fn as_staff<T>(&self, subject: &str, role: &str, message: T) -> Request<T> {
        let token = self.auth.mint(
            subject,
            &[role.to_owned()],
            chrono::Utc::now(),
            Duration::from_secs(300),
        );
        let mut request = Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        request
    }

    /// The service's "now" (the injected clock, never the machine's).
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.config.common.clock.now()
    }

    pub fn admin<T>(&self, message: T) -> Request<T> {
        self.as_role("admin", message)
    }

    pub async fn create(&self, customer: Customer) -> Customer {
        self.client
            .clone()
            .create_customer(self.admin(pb::CreateCustomerRequest {
                customer: Some(customer),
                request_id: String::new(),
            }))
            .await
            .unwrap()
            .into_inner()
    }

    pub async fn get(&self, name: &str) -> Result<Customer, Status> {
        self.client
            .clone()
            .get_customer(self.admin(pb::GetCustomerRequest { name: name.into() }))
            .await
            .map(|r| r.into_inner())
    }

    pub fn organization(&self) -> OrganizationServiceClient<Channel> {
        OrganizationServiceClient::new(self.channel.clone())
    }

    /// Adds a staff member to `unit` (an id); `limit` 0 follows the policy.
    pub async fn add_staff(&self, id: &str, unit: &str, limit: i32) -> pb::StaffMember {
        self.organization()
            .create_staff_member(self.as_staff(
                "root",
                "admin",
                pb::CreateStaffMemberRequest {
                    staff_member: Some(pb::StaffMember {
                        display_name: format!("Staff {id}"),
                        org_unit: format!("orgUnits/{unit}"),
                        customer_limit: limit,
                        ..Default::default()
                    }),
                    staff_member_id: id.into(),
                },
            ))
            .await
            .unwrap()
            .into_inner()
    }

    /// Adds an org unit `id` of `kind` below `parent` (an id).
    pub async fn add_unit(&self, id: &str, kind: pb::OrgUnitKind, parent: &str) -> pb::OrgUnit {
        self.organization()
            .create_org_unit(self.as_staff(
                "root",
                "admin",
                pb::CreateOrgUnitRequest {
                    org_unit: Some(pb::OrgUnit {
                        display_name: format!("Unit {id}"),
                        kind: kind as i32,
                        parent: format!("orgUnits/{parent}"),
                        ..Default::default()
                    }),
                    org_unit_id: id.into(),
                },
            ))
            .await
            .unwrap()
            .into_inner()
    }

    pub async fn count_rows(&self) -> i64 {
        let mut conn = self.db.admin_connection().await;
        sqlx::query_scalar("SELECT count(*) FROM profile.customers")
            .fetch_one(&mut conn)
            .await
            .unwrap()
    }
}

pub fn person(name: &str) -> Customer {
    Customer {
        kind: CustomerKind::Person as i32,
        display_name: name.into(),
        contact: Some(pb::ContactDetails {
            mobile_phone: "138-0013-8000".into(),
            email: "wang.li@example.com".into(),
            ..Default::default()
        }),
        person: Some(pb::PersonFacts {
            gender: pb::Gender::Female as i32,
            birthday: Some(Date {
                year: 1980,
                month: 3,
                day: 8,
            }),
            id_card_number: "11010519491231002X".into(),
            ..Default::default()
        }),
        soft_facts: Some(pb::SoftFacts {
            hobbies: vec!["tea".into(), "calligraphy".into()],
            preferred_channel: pb::ContactChannel::Phone as i32,
            ..Default::default()
        }),
        family_members: vec![pb::FamilyMember {
            name: "Zhang Wei".into(),
            relation: "spouse".into(),
            birthday: Some(Date {
                year: 1978,
                month: 6,
                day: 1,
            }),
            ..Default::default()
        }],
        ..Default::default()
    }
}

pub fn organization(name: &str) -> Customer {
    Customer {
        kind: CustomerKind::Organization as i32,
        display_name: name.into(),
        organization: Some(pb::OrganizationFacts {
            industry: "steel".into(),
            current_annual_sales: Some(patron_proto::common::v1::Money {
                currency_code: "CNY".into(),
                amount_minor: 50_000_000_000,
            }),
            ..Default::default()
        }),
        contact_persons: vec![pb::ContactPerson {
            name: "Li Na".into(),
            position: "purchasing".into(),
            phone: "010-6552-9988".into(),
            primary: true,
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// The fields an INVALID_ARGUMENT status names.
pub fn bad_fields(status: &Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    patron_kit::error::violations_of(status)
        .into_iter()
        .map(|v| v.field)
        .collect()
}
