//! How the demo calls the suite: as a named staff member with the role
//! their job gives them, and loudly when a call is refused. The only
//! refusals it waits out are those of a suite still settling: a service
//! that has not yet heard, through the event streams, of a staff member,
//! a customer or the policy just activated.

use std::future::Future;
use std::time::Duration;

use tonic::{Code, Request, Status};

use super::Target;

/// Who a call is made as.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub subject: &'a str,
    pub role: &'a str,
}

/// The demo's own identity for what only an administrator may do.
pub const ADMIN: Actor<'static> = Actor {
    subject: "patron-demo",
    role: "admin",
};

impl Target {
    /// `message` with a bearer token for `actor`.
    pub(super) fn signed<T>(&self, actor: Actor<'_>, message: T) -> Request<T> {
        let token = self.auth.mint(
            actor.subject,
            &[actor.role.to_owned()],
            chrono::Utc::now(),
            Duration::from_secs(3600),
        );
        let mut request = Request::new(message);
        let value = format!("Bearer {token}")
            .parse()
            .expect("a token is a valid header value");
        request.metadata_mut().insert("authorization", value);
        request
    }
}

/// The error of a refused call: what the demo was doing and what the suite said.
pub fn refused(what: impl std::fmt::Display, status: Status) -> anyhow::Error {
    anyhow::anyhow!(
        "the suite refused to {what}: {:?}: {}",
        status.code(),
        status.message()
    )
}

/// Calls `call` until it is answered, while it is refused with one of
/// `settling` (what a suite that has not caught up says) or asks to be
/// called again, for at most `patience`; any other refusal, or the last
/// one, fails.
pub async fn once_settled<T, F, Fut>(
    what: impl std::fmt::Display,
    settling: &[Code],
    patience: Duration,
    mut call: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<tonic::Response<T>, Status>>,
{
    let started = std::time::Instant::now();
    loop {
        match call().await {
            Ok(answer) => return Ok(answer.into_inner()),
            Err(status)
                if (settling.contains(&status.code()) || transient(&status))
                    && started.elapsed() < patience =>
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(status) => return Err(refused(what, status)),
        }
    }
}

/// Waits until `check` says yes, asking every 200 ms for at most
/// `patience`; fails saying what never happened.
pub async fn until<F, Fut>(what: &str, patience: Duration, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<bool>>,
{
    let started = std::time::Instant::now();
    loop {
        if check().await? {
            return Ok(());
        }
        if started.elapsed() >= patience {
            anyhow::bail!("{what} did not happen within {} s", patience.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until every service reports itself ready (migrated and serving).
pub async fn wait_until_ready(target: &Target, patience: Duration) -> anyhow::Result<()> {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    let services = [
        ("customer-profile", &target.profile),
        ("tiering", &target.tiering),
        ("complaint", &target.complaint),
        ("scheduling", &target.scheduling),
    ];
    for (service, channel) in services {
        until(&format!("{service} becoming ready"), patience, || {
            let mut client = HealthClient::new(channel.clone());
            async move {
                let answer = client
                    .check(HealthCheckRequest {
                        service: "patron.readiness".into(),
                    })
                    .await;
                Ok(answer.is_ok_and(|a| a.into_inner().status == 1))
            }
        })
        .await?;
    }
    Ok(())
}

/// How often a call the suite answered UNAVAILABLE (its database busy, a
/// service restarting) is made again before the demo gives up.
pub const RETRIES: u32 = 8;

/// Whether the suite asked to be called again.
pub fn transient(status: &Status) -> bool {
    status.code() == Code::Unavailable
}

/// The pause before attempt `attempt` + 1: 250 ms, doubling, at most 8 s.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250 << attempt.min(5))
}

/// `client.method(message)` signed for `actor`, made again while the suite
/// answers UNAVAILABLE (at most [`RETRIES`] times); the last answer.
macro_rules! retrying {
    ($client:expr, $method:ident, $target:expr, $actor:expr, $message:expr) => {{
        let message = $message;
        let mut attempt = 0;
        loop {
            let answer = $client
                .$method($target.signed($actor, message.clone()))
                .await;
            match answer {
                Err(status)
                    if $crate::demo::calls::transient(&status)
                        && attempt < $crate::demo::calls::RETRIES =>
                {
                    attempt += 1;
                    tokio::time::sleep($crate::demo::calls::backoff(attempt)).await;
                }
                answer => break answer,
            }
        }
    }};
}
pub(crate) use retrying;
