//! The access audit of reads in the clear, written in groups: the rows of
//! reads arriving together share one transaction and one commit (the kit's
//! group commit), and each read is answered only once its rows are
//! committed. A read that cannot be audited still fails: a group that fails
//! is retried read by read, and a read whose own rows cannot be written gets
//! the error instead of the data.
//!
//! A single customer's read in the clear (`reveal`) goes further: its sealed
//! part is read in the same grouped transaction as its audit row, one
//! statement for the whole group, so such a read costs no round trip of its
//! own.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use patron_kit::ServiceError;
use patron_kit::group_commit::{GroupAnswers, GroupCommit, GroupWork};
use patron_proto::profile::v1 as pb;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::protection::{self, Protection};
use crate::store::audit::{self, Access, AccessBatch};

/// At most this many reads share a commit.
const MAX_GROUP: usize = 256;

/// Where reads in the clear are recorded. Clones share the writers.
#[derive(Clone)]
pub struct ReadAudit {
    writer: GroupCommit<AccessWriter>,
    revealer: GroupCommit<Revealer>,
}

/// One customer's sensitive fields asked for in the clear, by `actor`.
#[derive(Debug, Clone)]
pub struct Reveal {
    pub customer: Uuid,
    pub actor: String,
    pub at: DateTime<Utc>,
    pub purpose: String,
    pub method: String,
}

impl ReadAudit {
    /// Starts the writers on `pool`; call inside the Tokio runtime.
    pub fn start(pool: PgPool, protection: Protection) -> Self {
        Self {
            writer: GroupCommit::start(pool.clone(), Arc::new(AccessWriter), MAX_GROUP),
            revealer: GroupCommit::start(pool, Arc::new(Revealer { protection }), MAX_GROUP),
        }
    }

    /// Records `batch` and returns once it is committed; an error when it
    /// could not be, and the read must then fail.
    pub async fn record(&self, batch: AccessBatch) -> Result<(), ServiceError> {
        if batch.reads.is_empty() {
            return Ok(());
        }
        self.writer.submit(batch).await
    }

    /// The customer's sensitive fields, opened, once the read is recorded
    /// (when it shows any); `None` when there is no such live customer.
    pub async fn reveal(&self, read: Reveal) -> Result<Option<pb::Customer>, ServiceError> {
        self.revealer.submit(read).await
    }
}

struct AccessWriter;

impl GroupWork for AccessWriter {
    type Job = AccessBatch;
    type Output = ();

    fn apply<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        jobs: &'a [AccessBatch],
    ) -> BoxFuture<'a, GroupAnswers<()>> {
        Box::pin(async move {
            audit::record_accesses(tx, jobs).await?;
            Ok(jobs.iter().map(|_| Ok(())).collect())
        })
    }
}

/// Reads a group's sealed parts in one statement, opens them, and records
/// what each read shows in the same transaction.
struct Revealer {
    protection: Protection,
}

impl GroupWork for Revealer {
    type Job = Reveal;
    type Output = Option<pb::Customer>;

    fn apply<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        jobs: &'a [Reveal],
    ) -> BoxFuture<'a, GroupAnswers<Option<pb::Customer>>> {
        Box::pin(async move {
            let ids: Vec<Uuid> = jobs.iter().map(|j| j.customer).collect();
            let sealed: HashMap<Uuid, Vec<u8>> = crate::store::sensitive_of_many(tx, &ids)
                .await?
                .into_iter()
                .collect();
            let opened: Vec<Result<Option<pb::Customer>, ServiceError>> = jobs
                .iter()
                .map(|j| {
                    sealed
                        .get(&j.customer)
                        .map(|s| self.protection.open(j.customer, s))
                        .transpose()
                })
                .collect();
            let batches: Vec<AccessBatch> = jobs
                .iter()
                .zip(&opened)
                .filter_map(|(job, opened)| {
                    let fields = protection::present_fields(opened.as_ref().ok()?.as_ref()?);
                    (!fields.is_empty()).then(|| AccessBatch {
                        reads: vec![Access {
                            customer_id: job.customer,
                            fields,
                        }],
                        actor: job.actor.clone(),
                        at: job.at,
                        purpose: job.purpose.clone(),
                        method: job.method.clone(),
                    })
                })
                .collect();
            if !batches.is_empty() {
                audit::record_accesses(tx, &batches).await?;
            }
            Ok(opened)
        })
    }
}
