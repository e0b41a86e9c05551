//! What scheduling asks of customer-profile: whether a marketing contact is
//! permitted (`CheckContactPermission`), over gRPC as the service itself
//! (`service:scheduling`) with a deadline. A profile that cannot answer
//! makes the answer "unknown, ask later", never "allowed".

use std::time::Duration;

use patron_kit::auth::AuthConfig;
use patron_kit::calls::{CallPolicy, ServiceChannel, ServiceIdentity};
use patron_kit::config::ConfigError;
use patron_proto::profile::v1 as profile_pb;
use patron_proto::profile::v1::consent_service_client::ConsentServiceClient;
use uuid::Uuid;

use crate::domain::policy::Channel;

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

/// Whether a marketing contact may be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Permission {
    Allowed(String),
    Denied(String),
    /// customer-profile could not be asked.
    Unknown(String),
}

/// customer-profile, as scheduling calls it.
#[derive(Clone)]
pub struct Profile {
    channel: ServiceChannel,
}

impl Profile {
    /// `auth` verifies tokens and, in the shared-secret mode, signs the
    /// service's own.
    pub fn new(profile: &ProfileConfig, auth: &AuthConfig) -> anyhow::Result<Self> {
        let identity = ServiceIdentity::from_env("scheduling", auth)?;
        let channel = ServiceChannel::balanced(
            &profile.url,
            identity,
            CallPolicy::from_env()?,
            Duration::from_secs(5),
        )?;
        Ok(Self { channel })
    }

    /// May `customer` be contacted by `channel` for marketing now?
    pub async fn marketing_permission(&self, customer: Uuid, channel: Channel) -> Permission {
        let request = profile_pb::CheckContactPermissionRequest {
            customer: patron_kit::resource_name::format("customers", customer),
            channel: profile_channel(channel) as i32,
            purpose: profile_pb::ContactPurpose::Marketing as i32,
        };
        let asked = self
            .channel
            .call(request, |channel, request| async move {
                ConsentServiceClient::new(channel)
                    .check_contact_permission(request)
                    .await
            })
            .await;
        match asked {
            Ok(answer) if answer.allowed => Permission::Allowed(answer.reason),
            Ok(answer) => Permission::Denied(answer.reason),
            Err(status) => {
                tracing::warn!(%customer, code = ?status.code(), error = %status.message(),
                    "customer-profile did not answer a contact permission");
                Permission::Unknown(format!(
                    "customer-profile could not be asked ({}); ask later",
                    status.message()
                ))
            }
        }
    }
}

/// Profile's name for a channel.
fn profile_channel(channel: Channel) -> profile_pb::ContactChannel {
    match channel {
        Channel::Visit => profile_pb::ContactChannel::InPerson,
        Channel::Phone => profile_pb::ContactChannel::Phone,
        Channel::Sms => profile_pb::ContactChannel::Sms,
        Channel::Email => profile_pb::ContactChannel::Email,
        Channel::Letter => profile_pb::ContactChannel::Post,
        Channel::Fax => profile_pb::ContactChannel::Fax,
    }
}
