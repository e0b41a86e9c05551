//! The mixed write load: customers created with request ids, transactions
//! recorded with external ids, complaint intakes with request ids. Every
//! write is retried with the same id until a service acknowledges it, as a
//! careful client would through a fault; what was acknowledged is kept in
//! the [`Ledger`] the invariants are checked against.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use patron_proto::common::v1::Money;
use patron_proto::complaint::v1 as complaint_pb;
use patron_proto::complaint::v1::complaint_service_client::ComplaintServiceClient;
use patron_proto::profile::v1 as profile_pb;
use patron_proto::profile::v1::customer_service_client::CustomerServiceClient;
use patron_proto::profile::v1::transaction_service_client::TransactionServiceClient;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use uuid::Uuid;

/// A write is given up (and the suite fails) when no attempt was
/// acknowledged for this long: the suite did not recover from a fault.
const PATIENCE: Duration = Duration::from_secs(120);

/// The display name of the customer created under `request_id`: how a
/// customer created twice would be found.
pub fn customer_marker(request_id: Uuid) -> String {
    format!("fault {request_id}")
}

/// The description of the complaint taken under `request_id`.
pub fn complaint_marker(request_id: Uuid) -> String {
    format!("fault intake {request_id}")
}

#[derive(Debug, Clone)]
pub struct AckedCustomer {
    pub request_id: Uuid,
    pub id: Uuid,
}

#[derive(Debug, Clone)]
pub struct AckedTransaction {
    pub external_id: String,
    pub customer: Uuid,
    pub amount_minor: i64,
}

#[derive(Debug, Clone)]
pub struct AckedComplaint {
    pub request_id: Uuid,
    pub id: Uuid,
    pub number: String,
}

/// What the services acknowledged, and what was tried.
#[derive(Default)]
pub struct Ledger {
    pub customers: Mutex<Vec<AckedCustomer>>,
    pub transactions: Mutex<Vec<AckedTransaction>>,
    pub complaints: Mutex<Vec<AckedComplaint>>,
    /// Request ids of customer creates sent, acknowledged or not.
    pub customer_attempts: Mutex<Vec<Uuid>>,
    /// Request ids of intakes sent, acknowledged or not.
    pub complaint_attempts: Mutex<Vec<Uuid>>,
    /// Calls that failed and were sent again.
    pub retries: Mutex<u64>,
}

impl Ledger {
    /// Writes acknowledged so far.
    pub fn acknowledged(&self) -> usize {
        self.customers.lock().unwrap().len()
            + self.transactions.lock().unwrap().len()
            + self.complaints.lock().unwrap().len()
    }

    fn retried(&self) {
        *self.retries.lock().unwrap() += 1;
    }

    fn some_customer(&self) -> Option<Uuid> {
        let customers = self.customers.lock().unwrap();
        (!customers.is_empty()).then(|| customers[random_below(customers.len() as u64) as usize].id)
    }
}

/// Where the load writes and as whom.
#[derive(Clone)]
pub struct Target {
    pub profile: Channel,
    pub complaint: Channel,
    pub bearer: tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
}

impl Target {
    pub fn new(profile_url: &str, complaint_url: &str, token: &str) -> anyhow::Result<Self> {
        let channel = |url: &str| -> anyhow::Result<Channel> {
            Ok(Channel::from_shared(url.to_owned())?
                .connect_timeout(Duration::from_secs(1))
                .timeout(Duration::from_secs(10))
                .connect_lazy())
        };
        Ok(Self {
            profile: channel(profile_url)?,
            complaint: channel(complaint_url)?,
            bearer: format!("Bearer {token}").parse()?,
        })
    }

    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", self.bearer.clone());
        request
    }
}

/// Whether a refusal may be the fault's (the service, its database or Redis
/// away, a connection cut mid-call) rather than the request's.
fn retryable(status: &tonic::Status) -> bool {
    use tonic::Code;
    !matches!(
        status.code(),
        Code::InvalidArgument
            | Code::NotFound
            | Code::AlreadyExists
            | Code::PermissionDenied
            | Code::Unauthenticated
            | Code::FailedPrecondition
            | Code::OutOfRange
            | Code::Unimplemented
    )
}

/// Sends `call` until it is acknowledged, pausing a little more each time.
async fn until_acknowledged<T, F, Fut>(
    ledger: &Ledger,
    what: &str,
    mut call: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let started = tokio::time::Instant::now();
    let mut pause = Duration::from_millis(100);
    loop {
        match call().await {
            Ok(response) => return Ok(response.into_inner()),
            Err(status) if retryable(&status) && started.elapsed() < PATIENCE => {
                ledger.retried();
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
            }
            Err(status) => bail!(
                "{what} was refused ({:?}: {}) after {} s of attempts",
                status.code(),
                status.message(),
                started.elapsed().as_secs()
            ),
        }
    }
}

/// Creates one customer under a fresh request id.
pub async fn create_customer(target: &Target, ledger: &Ledger) -> anyhow::Result<()> {
    let request_id = Uuid::now_v7();
    ledger.customer_attempts.lock().unwrap().push(request_id);
    let created = until_acknowledged(ledger, "CreateCustomer", || {
        let mut client = CustomerServiceClient::new(target.profile.clone());
        let request = target.request(profile_pb::CreateCustomerRequest {
            customer: Some(profile_pb::Customer {
                kind: profile_pb::CustomerKind::Person as i32,
                display_name: customer_marker(request_id),
                ..Default::default()
            }),
            request_id: request_id.to_string(),
        });
        async move { client.create_customer(request).await }
    })
    .await?;
    let id = id_of(&created.name)?;
    ledger
        .customers
        .lock()
        .unwrap()
        .push(AckedCustomer { request_id, id });
    Ok(())
}

async fn record_transaction(target: &Target, ledger: &Ledger) -> anyhow::Result<()> {
    let Some(customer) = ledger.some_customer() else {
        return Ok(());
    };
    let external_id = format!("FX-{}", Uuid::now_v7());
    let amount_minor = 1_000 + random_below(2_000_000) as i64;
    // A moment ago, so the purchase counts today wherever the clock stands.
    let occurred = chrono::Utc::now() - chrono::Duration::seconds(5);
    let recorded = until_acknowledged(ledger, "RecordTransaction", || {
        let mut client = TransactionServiceClient::new(target.profile.clone());
        let request = target.request(profile_pb::RecordTransactionRequest {
            parent: format!("customers/{customer}"),
            transaction: Some(profile_pb::Transaction {
                external_id: external_id.clone(),
                kind: profile_pb::TransactionKind::Purchase as i32,
                occur_time: Some(patron_kit::timestamp::to_proto(occurred)),
                product: "fault tea".into(),
                quantity: "1".into(),
                amount: Some(Money {
                    currency_code: "CNY".into(),
                    amount_minor,
                }),
                ..Default::default()
            }),
        });
        async move { client.record_transaction(request).await }
    })
    .await?;
    anyhow::ensure!(
        recorded.external_id == external_id,
        "RecordTransaction answered another transaction ({}) for {external_id}",
        recorded.external_id
    );
    ledger.transactions.lock().unwrap().push(AckedTransaction {
        external_id,
        customer,
        amount_minor,
    });
    Ok(())
}

async fn take_complaint(target: &Target, ledger: &Ledger) -> anyhow::Result<()> {
    let Some(customer) = ledger.some_customer() else {
        return Ok(());
    };
    let request_id = Uuid::now_v7();
    ledger.complaint_attempts.lock().unwrap().push(request_id);
    let taken = until_acknowledged(ledger, "CreateComplaint", || {
        let mut client = ComplaintServiceClient::new(target.complaint.clone());
        let request = target.request(complaint_pb::CreateComplaintRequest {
            complaint: Some(complaint_pb::Complaint {
                customer: format!("customers/{customer}"),
                channel: complaint_pb::ComplaintChannel::Web as i32,
                demand: complaint_pb::CustomerDemand::Compensation as i32,
                description: complaint_marker(request_id),
                ..Default::default()
            }),
            request_id: request_id.to_string(),
        });
        async move { client.create_complaint(request).await }
    })
    .await?;
    ledger.complaints.lock().unwrap().push(AckedComplaint {
        request_id,
        id: id_of(&taken.name)?,
        number: taken.complaint_number,
    });
    Ok(())
}

/// A number below `n` from a random UUID's bits (the tests crate needs no
/// random number crate for this).
fn random_below(n: u64) -> u64 {
    (Uuid::new_v4().as_u128() % u128::from(n.max(1))) as u64
}

fn id_of(name: &str) -> anyhow::Result<Uuid> {
    let id = name
        .rsplit_once('/')
        .map(|(_, id)| id)
        .with_context(|| format!("{name:?} is not a resource name"))?;
    Ok(Uuid::parse_str(id)?)
}

/// The load running: writers until [`Load::stop`].
pub struct Load {
    stop: CancellationToken,
    writers: JoinSet<anyhow::Result<()>>,
}

impl Load {
    /// One customer writer, two transaction writers and one intake writer,
    /// each sending its next write once the last was acknowledged.
    pub fn start(target: &Target, ledger: &Arc<Ledger>) -> Self {
        let stop = CancellationToken::new();
        let mut writers = JoinSet::new();
        type Write = for<'a> fn(
            &'a Target,
            &'a Ledger,
        ) -> std::pin::Pin<
            Box<dyn Future<Output = anyhow::Result<()>> + Send + 'a>,
        >;
        let kinds: [(Write, Duration); 4] = [
            (
                |t, l| Box::pin(create_customer(t, l)),
                Duration::from_millis(60),
            ),
            (
                |t, l| Box::pin(record_transaction(t, l)),
                Duration::from_millis(10),
            ),
            (
                |t, l| Box::pin(record_transaction(t, l)),
                Duration::from_millis(10),
            ),
            (
                |t, l| Box::pin(take_complaint(t, l)),
                Duration::from_millis(40),
            ),
        ];
        for (write, pace) in kinds {
            let (target, ledger, stop) = (target.clone(), ledger.clone(), stop.clone());
            writers.spawn(async move {
                while !stop.is_cancelled() {
                    write(&target, &ledger).await?;
                    tokio::time::sleep(pace).await;
                }
                Ok(())
            });
        }
        Self { stop, writers }
    }

    /// Stops sending new writes and waits for those in flight to be
    /// acknowledged; the first writer's failure, if any.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.stop.cancel();
        while let Some(done) = self.writers.join_next().await {
            done.context("a load writer panicked")??;
        }
        Ok(())
    }
}
