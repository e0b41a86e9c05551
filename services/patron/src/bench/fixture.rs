//! The data the benchmark reads and writes, made through the API at the
//! start of each run under ids of the run's own (so runs against the same
//! suite never meet): a region, a viewer and an account manager in it, and
//! customers of that region that the manager manages, each created with a
//! request id.

use std::time::Duration;

use anyhow::Context;
use futures::{StreamExt, TryStreamExt};
use patron_kit::auth::Authenticator;
use patron_proto::profile::v1 as pb;
use patron_proto::profile::v1::customer_service_client::CustomerServiceClient;
use patron_proto::profile::v1::organization_service_client::OrganizationServiceClient;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Code, Request};

/// Who a call is made as: the headers every call of theirs carries.
#[derive(Clone)]
pub struct Caller {
    bearer: MetadataValue<tonic::metadata::Ascii>,
    /// Sent by callers who read sensitive fields in clear.
    purpose: Option<MetadataValue<tonic::metadata::Ascii>>,
}

impl Caller {
    /// `subject` holding `role`, with a token signed by `auth`.
    pub fn new(auth: &Authenticator, subject: &str, role: &str) -> anyhow::Result<Self> {
        // Long enough for any run; a token that lapsed mid-run would make
        // every later call an error.
        let token = auth.mint(
            subject,
            &[role.to_owned()],
            chrono::Utc::now(),
            Duration::from_secs(6 * 3600),
        );
        Ok(Self {
            bearer: format!("Bearer {token}").parse()?,
            purpose: None,
        })
    }

    /// `message` as this caller's call.
    pub fn signed<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        let headers = request.metadata_mut();
        headers.insert("authorization", self.bearer.clone());
        if let Some(purpose) = &self.purpose {
            headers.insert("x-access-purpose", purpose.clone());
        }
        request
    }

    /// The `Authorization` header's value, for HTTP calls.
    pub fn authorization(&self) -> &str {
        self.bearer.to_str().unwrap_or_default()
    }
}

/// What a run made, and as whom it calls.
pub struct Fixture {
    /// `customers/{id}`, all in the run's region, all managed by its manager.
    pub customers: Vec<String>,
    pub admin: Caller,
    /// A viewer in the run's region: masked reads through the unit's reach.
    pub viewer: Caller,
    /// The customers' account manager: masked reads of their own customers.
    pub manager: Caller,
    /// The run's own id, in every id and external id it makes.
    pub run: String,
}

/// Makes the run's data through customer-profile at `profile`.
pub async fn make(
    profile: &Channel,
    auth: &Authenticator,
    customers: usize,
) -> anyhow::Result<Fixture> {
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let unit = format!("bench-{run}");
    let viewer_id = format!("bench-{run}-viewer");
    let manager_id = format!("bench-{run}-manager");
    let mut admin = Caller::new(auth, "patron-bench", "admin")?;
    admin.purpose = Some("patron bench: clear-field reads".parse()?);

    let mut directory = OrganizationServiceClient::new(profile.clone());
    directory
        .create_org_unit(admin.signed(pb::CreateOrgUnitRequest {
            org_unit: Some(pb::OrgUnit {
                display_name: format!("Benchmark region {run}"),
                kind: pb::OrgUnitKind::Region as i32,
                parent: "orgUnits/company".into(),
                ..Default::default()
            }),
            org_unit_id: unit.clone(),
        }))
        .await
        .context("creating the benchmark's region")?;
    for (id, limit) in [(&viewer_id, 0), (&manager_id, customers as i32)] {
        directory
            .create_staff_member(admin.signed(pb::CreateStaffMemberRequest {
                staff_member: Some(pb::StaffMember {
                    display_name: id.clone(),
                    org_unit: format!("orgUnits/{unit}"),
                    customer_limit: limit,
                    ..Default::default()
                }),
                staff_member_id: id.clone(),
            }))
            .await
            .with_context(|| format!("adding staff member {id}"))?;
    }

    let client = CustomerServiceClient::new(profile.clone());
    let names: Vec<String> = futures::stream::iter(0..customers)
        .map(|i| {
            let mut client = client.clone();
            let archive = pb::Customer {
                kind: pb::CustomerKind::Person as i32,
                display_name: format!("Bench {run} {i}"),
                org_unit: format!("orgUnits/{unit}"),
                account_manager: manager_id.clone(),
                contact: Some(pb::ContactDetails {
                    // A sensitive field: masked for the viewer, clear for the admin.
                    mobile_phone: format!("139{:08}", i),
                    email: format!("bench.{run}.{i}@example.com"),
                    ..Default::default()
                }),
                ..Default::default()
            };
            let request = admin.signed(pb::CreateCustomerRequest {
                customer: Some(archive),
                request_id: uuid::Uuid::new_v4().to_string(),
            });
            async move {
                let created = client
                    .create_customer(request)
                    .await
                    .with_context(|| format!("creating benchmark customer {i}"))?;
                anyhow::Ok(created.into_inner().name)
            }
        })
        .buffer_unordered(8)
        .try_collect()
        .await?;
    Ok(Fixture {
        customers: names,
        viewer: Caller::new(auth, &viewer_id, "viewer")?,
        manager: Caller::new(auth, &manager_id, "account_manager")?,
        admin,
        run,
    })
}

/// Reads every customer once as `caller`, so the measured reads find the
/// cache warm; waits out a suite that has not yet seen the new staff.
pub async fn warm(profile: &Channel, caller: &Caller, customers: &[String]) -> anyhow::Result<()> {
    let mut client = CustomerServiceClient::new(profile.clone());
    for name in customers {
        let started = std::time::Instant::now();
        loop {
            let answer = client
                .get_customer(caller.signed(pb::GetCustomerRequest { name: name.clone() }))
                .await;
            match answer {
                Ok(_) => break,
                Err(s)
                    if matches!(s.code(), Code::NotFound | Code::Unavailable)
                        && started.elapsed() < Duration::from_secs(30) =>
                {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(s) => {
                    return Err(anyhow::anyhow!(
                        "reading {name} before the benchmark: {:?}: {}",
                        s.code(),
                        s.message()
                    ));
                }
            }
        }
    }
    Ok(())
}
