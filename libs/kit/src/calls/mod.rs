//! Calls from one service to another: with the calling service's own
//! identity ([`ServiceIdentity`]), over a channel that spreads calls over the
//! callee's replicas ([`balance`]), each call with a deadline and retried on
//! UNAVAILABLE.
//!
//! ```text
//! let identity = ServiceIdentity::from_env("complaint", &config.common.auth)?;
//! let profile = ServiceChannel::from_env("profile", "http://127.0.0.1:50051", identity)?;
//! let customer = profile
//!     .call(GetCustomerRequest { name }, |channel, request| async move {
//!         CustomerServiceClient::new(channel).get_customer(request).await
//!     })
//!     .await?;
//! ```
//!
//! Only UNAVAILABLE is retried: the callee (or the way to it) was not there,
//! so the call was most likely not applied; creates carry a `request_id`
//! for the case it was.

pub mod balance;
pub mod identity;

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Code, Request, Response, Status};

use crate::config::{self, ConfigError};

pub use identity::{ClientCredentials, Credentials, ServiceIdentity, service_subject};

/// How each call is made: its deadline (all attempts together) and retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallPolicy {
    /// The whole call's deadline, sent as `grpc-timeout` (what is left of
    /// it on each attempt).
    pub deadline: Duration,
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The pause before the first retry; each next one doubles.
    pub first_backoff: Duration,
}

impl Default for CallPolicy {
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(5),
            attempts: 3,
            first_backoff: Duration::from_millis(100),
        }
    }
}

impl CallPolicy {
    /// From `PATRON_CALL_TIMEOUT_MS` (5 s), `PATRON_CALL_ATTEMPTS` (3) and
    /// `PATRON_CALL_BACKOFF_MS` (100 ms).
    pub fn from_env() -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let attempts = config::env_parse("PATRON_CALL_ATTEMPTS", defaults.attempts)?;
        if attempts == 0 {
            return Err(ConfigError {
                name: "PATRON_CALL_ATTEMPTS".into(),
                reason: "must be at least 1".into(),
            });
        }
        Ok(Self {
            deadline: config::env_millis("PATRON_CALL_TIMEOUT_MS", defaults.deadline)?,
            attempts,
            first_backoff: config::env_millis("PATRON_CALL_BACKOFF_MS", defaults.first_backoff)?,
        })
    }
}

/// A way to call one other service as this service.
#[derive(Clone, Debug)]
pub struct ServiceChannel {
    channel: Channel,
    identity: ServiceIdentity,
    policy: CallPolicy,
}

impl ServiceChannel {
    pub fn new(channel: Channel, identity: ServiceIdentity, policy: CallPolicy) -> Self {
        Self {
            channel,
            identity,
            policy,
        }
    }

    /// Calls balanced over every address of `urls` (one URL or several
    /// separated by commas), resolved again every `resolve_interval`. Must
    /// be called within a Tokio runtime.
    pub fn balanced(
        urls: &str,
        identity: ServiceIdentity,
        policy: CallPolicy,
        resolve_interval: Duration,
    ) -> anyhow::Result<Self> {
        let channel =
            balance::balanced_channel(urls, balance::system_resolver(), resolve_interval)?;
        Ok(Self::new(channel, identity, policy))
    }

    /// The service of `area` at `PATRON_<AREA>_URL` (as the gateway names
    /// it; `default_url` when unset), resolved again every
    /// `PATRON_CALL_RESOLVE_SECS` (5 s), with [`CallPolicy::from_env`].
    pub fn from_env(
        area: &str,
        default_url: &str,
        identity: ServiceIdentity,
    ) -> anyhow::Result<Self> {
        let variable = format!("PATRON_{}_URL", area.to_ascii_uppercase());
        let urls = config::env_or(&variable, default_url);
        let interval = config::env_secs("PATRON_CALL_RESOLVE_SECS", Duration::from_secs(5))?;
        Self::balanced(&urls, identity, CallPolicy::from_env()?, interval)
            .map_err(|e| anyhow::anyhow!("{variable}: {e}"))
    }

    pub fn policy(&self) -> CallPolicy {
        self.policy
    }

    /// The same channel and identity with another policy.
    pub fn with_policy(&self, policy: CallPolicy) -> Self {
        Self {
            policy,
            ..self.clone()
        }
    }

    /// Sends `message` with `send` (a generated client's method on the
    /// channel it is given), as this service, within the deadline, trying
    /// again after a pause while the answer is UNAVAILABLE and attempts are
    /// left. DEADLINE_EXCEEDED when the deadline passes first.
    pub async fn call<M, R, F, Fut>(&self, message: M, mut send: F) -> Result<R, Status>
    where
        M: Clone,
        F: FnMut(Channel, Request<M>) -> Fut,
        Fut: Future<Output = Result<Response<R>, Status>>,
    {
        let deadline = Instant::now() + self.policy.deadline;
        let mut backoff = self.policy.first_backoff;
        let mut attempt = 1;
        loop {
            let outcome = self
                .attempt(message.clone(), deadline, &mut send)
                .await
                .map(Response::into_inner);
            let status = match outcome {
                Ok(answer) => return Ok(answer),
                Err(status) => transport_failure_is_unavailable(status),
            };
            let left = deadline.saturating_duration_since(Instant::now());
            if status.code() != Code::Unavailable
                || attempt >= self.policy.attempts
                || left <= backoff
            {
                return Err(status);
            }
            tracing::debug!(attempt, error = %status.message(), "a call met UNAVAILABLE; trying again");
            tokio::time::sleep(backoff).await;
            backoff = backoff.saturating_mul(2);
            attempt += 1;
        }
    }

    async fn attempt<M, R, F, Fut>(
        &self,
        message: M,
        deadline: Instant,
        send: &mut F,
    ) -> Result<Response<R>, Status>
    where
        F: FnMut(Channel, Request<M>) -> Fut,
        Fut: Future<Output = Result<Response<R>, Status>>,
    {
        let expired = || Status::deadline_exceeded("the call's deadline passed");
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(expired());
        }
        let sent = async {
            let mut request = Request::new(message);
            request.set_timeout(left);
            let authorization = self.identity.authorization().await?;
            let value = MetadataValue::try_from(authorization)
                .map_err(|_| Status::internal("the service's token is not a header value"))?;
            request.metadata_mut().insert("authorization", value);
            let mut trace = http::HeaderMap::new();
            crate::telemetry::inject_current(&mut trace);
            if let Some(parent) = trace
                .get("traceparent")
                .and_then(|v| MetadataValue::try_from(v.as_bytes()).ok())
            {
                request.metadata_mut().insert("traceparent", parent);
            }
            send(self.channel.clone(), request).await
        };
        // The callee stops at grpc-timeout; this stops waiting on a callee
        // (or a network, or the identity provider) that does not answer.
        match tokio::time::timeout(left, sent).await {
            Err(_) => Err(expired()),
            // tonic's own timeout answers CANCELLED; past the deadline it is this.
            Ok(Err(status)) if status.code() == Code::Cancelled && Instant::now() >= deadline => {
                Err(expired())
            }
            Ok(outcome) => outcome,
        }
    }
}

/// A failure of the way to the callee (a refused or dropped connection) is
/// UNAVAILABLE, as gRPC defines it, whatever code hyper's error maps to
/// (a connection closed before the answer comes as CANCELLED; a call sent
/// on a connection the callee is closing gracefully, refused unprocessed by
/// its GOAWAY, as INTERNAL).
pub fn transport_failure_is_unavailable(status: Status) -> Status {
    let from_transport = std::error::Error::source(&status)
        .is_some_and(|source| source.is::<tonic::transport::Error>());
    if from_transport && status.code() != Code::Unavailable {
        Status::unavailable(format!(
            "the service could not be reached: {}",
            status.message()
        ))
    } else {
        status
    }
}
