//! Who a complaint is about. The service knows customers from profile's
//! events (the kit's directory projection) and their tier from tiering's;
//! a customer it has not heard of yet is asked of customer-profile over
//! gRPC with the service's own identity, so a late event never refuses a
//! real customer, and one that does not exist is refused.
//!
//! What the projection says of a customer is kept in the process for the
//! kit's bound ([`directory::cached::FRESHNESS`]), so an intake costs no
//! read of its own; this replica's consumer forgets a customer the moment
//! it applies an event about them, and another replica's change (or an
//! event this one has not applied yet) shows within the bound.

use patron_kit::auth::AuthConfig;
use patron_kit::calls::{ServiceChannel, ServiceIdentity};
use patron_kit::config::ConfigError;
use patron_kit::directory::cached::Fresh;
use patron_kit::{ServiceError, directory};
use patron_proto::profile::v1::customer_service_client::CustomerServiceClient;
use patron_proto::profile::v1::organization_service_client::OrganizationServiceClient;
use patron_proto::profile::v1::{GetCustomerRequest, GetOrgUnitRequest};
use sqlx::PgPool;
use tonic::Code;
use uuid::Uuid;

/// What a complaint needs of its customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownCustomer {
    pub account_manager: String,
    /// The unit id (not the resource name).
    pub org_unit: String,
    pub org_unit_path: Vec<String>,
    pub exited: bool,
    /// Empty when tiering has not tiered them.
    pub tier: String,
}

/// How the service reaches customer-profile.
#[derive(Clone, Debug)]
pub struct ProfileConfig {
    /// `PATRON_PROFILE_URL` (one URL or several, comma-separated).
    pub url: String,
}

impl ProfileConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            url: patron_kit::config::env_or("PATRON_PROFILE_URL", "http://127.0.0.1:50051"),
        })
    }
}

/// Finds customers: the projection first, then customer-profile.
#[derive(Clone)]
pub struct Customers {
    pool: PgPool,
    profile: ServiceChannel,
    projected: ProjectedCustomers,
}

/// What the projection says of a customer.
#[derive(Debug, Clone)]
enum Projected {
    Known(KnownCustomer),
    Deleted,
    /// Not heard of yet; tiering's tier, if that came first.
    Unheard {
        tier: String,
    },
}

/// The projection's answers kept in the process, by customer id. Clones
/// share them: the service's calls read them, its consumer forgets them.
#[derive(Clone)]
pub struct ProjectedCustomers(Fresh<Projected>);

impl Default for ProjectedCustomers {
    fn default() -> Self {
        Self(Fresh::new(directory::cached::FRESHNESS))
    }
}

impl ProjectedCustomers {
    /// Forgets what an event about `customer` (its resource name or id)
    /// may have changed.
    pub fn forget(&self, customer: &str) {
        self.0
            .forget(customer.strip_prefix("customers/").unwrap_or(customer));
    }
}

impl Customers {
    /// `auth` verifies tokens and, in the shared-secret mode, signs the
    /// service's own.
    pub fn new(
        pool: PgPool,
        profile: &ProfileConfig,
        auth: &AuthConfig,
        projected: ProjectedCustomers,
    ) -> anyhow::Result<Self> {
        let identity = ServiceIdentity::from_env("complaint", auth)?;
        let profile = ServiceChannel::balanced(
            &profile.url,
            identity,
            patron_kit::calls::CallPolicy::from_env()?,
            std::time::Duration::from_secs(5),
        )?;
        Ok(Self {
            pool,
            profile,
            projected,
        })
    }

    /// The customer, or `None` when they do not exist or were deleted.
    pub async fn find(&self, id: Uuid) -> Result<Option<KnownCustomer>, ServiceError> {
        let projected = self
            .projected
            .0
            .get_or_load(&id.to_string(), || self.read_projection(id))
            .await?;
        match projected {
            Projected::Known(customer) => Ok(Some(customer)),
            Projected::Deleted => Ok(None),
            Projected::Unheard { tier } => self.ask_profile(id, tier).await,
        }
    }

    async fn read_projection(&self, id: Uuid) -> Result<Projected, ServiceError> {
        let mut conn = self.pool.acquire().await?;
        let (facts, tier) = directory::store::known_customer_and_tier(&mut conn, id).await?;
        Ok(match facts {
            None => Projected::Unheard { tier },
            Some(facts) if facts.deleted => Projected::Deleted,
            Some(facts) => Projected::Known(KnownCustomer {
                account_manager: facts.account_manager,
                org_unit: unit_id(&facts.org_unit),
                org_unit_path: facts.org_unit_path,
                exited: facts.exited,
                tier,
            }),
        })
    }

    async fn ask_profile(
        &self,
        id: Uuid,
        tier: String,
    ) -> Result<Option<KnownCustomer>, ServiceError> {
        let name = format!("customers/{id}");
        let asked = self
            .profile
            .call(
                GetCustomerRequest { name: name.clone() },
                |channel, request| async move {
                    CustomerServiceClient::new(channel)
                        .get_customer(request)
                        .await
                },
            )
            .await;
        let customer = match asked {
            Ok(customer) => customer,
            Err(status) if status.code() == Code::NotFound => return Ok(None),
            Err(status) => return Err(unavailable(&name, status)),
        };
        let org_unit = unit_id(&customer.org_unit);
        let org_unit_path = if org_unit.is_empty() {
            Vec::new()
        } else {
            let unit = self
                .profile
                .call(
                    GetOrgUnitRequest {
                        name: customer.org_unit.clone(),
                    },
                    |channel, request| async move {
                        OrganizationServiceClient::new(channel)
                            .get_org_unit(request)
                            .await
                    },
                )
                .await
                .map_err(|status| unavailable(&customer.org_unit, status))?;
            let mut path: Vec<String> = unit
                .ancestors
                .iter()
                .map(|a| a.strip_prefix("orgUnits/").unwrap_or(a).to_owned())
                .collect();
            path.push(org_unit.clone());
            path
        };
        Ok(Some(KnownCustomer {
            account_manager: customer.account_manager,
            org_unit,
            org_unit_path,
            exited: customer.exit.is_some(),
            tier,
        }))
    }
}

/// customer-profile could not say: the caller may try again.
fn unavailable(name: &str, status: tonic::Status) -> ServiceError {
    tracing::warn!(%name, code = ?status.code(), error = %status.message(), "customer-profile did not answer about a customer");
    ServiceError::Unavailable(format!(
        "customer-profile could not be asked about {name} ({}); try again",
        status.message()
    ))
}

/// A unit's id from its resource name (`orgUnits/{id}`) or its id.
fn unit_id(unit: &str) -> String {
    unit.strip_prefix("orgUnits/").unwrap_or(unit).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(projected: &ProjectedCustomers, id: Uuid, tier: &str) -> String {
        let tier = tier.to_owned();
        let found = projected
            .0
            .get_or_load(&id.to_string(), || async move {
                Ok::<_, ServiceError>(Projected::Unheard { tier })
            })
            .await
            .unwrap();
        match found {
            Projected::Unheard { tier } => tier,
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn an_event_about_a_customer_forgets_them_by_resource_name() {
        let projected = ProjectedCustomers::default();
        let (id, other) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(read(&projected, id, "A").await, "A");
        assert_eq!(read(&projected, other, "C").await, "C");
        assert_eq!(read(&projected, id, "B").await, "A", "kept, not read again");
        projected.forget(&format!("customers/{id}"));
        assert_eq!(read(&projected, id, "B").await, "B", "read again");
        assert_eq!(read(&projected, other, "D").await, "C", "others kept");
    }
}
