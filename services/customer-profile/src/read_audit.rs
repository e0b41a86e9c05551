//! The access audit of reads in the clear, written in groups: the rows of
//! reads arriving together share one transaction and one commit (the kit's
//! group commit), and each read is answered only once its rows are
//! committed. A read that cannot be audited still fails: a group that fails
//! is retried read by read, and a read whose own rows cannot be written gets
//! the error instead of the data.

use std::sync::Arc;

use futures::future::BoxFuture;
use patron_kit::ServiceError;
use patron_kit::group_commit::{GroupAnswers, GroupCommit, GroupWork};
use sqlx::{PgConnection, PgPool};

use crate::store::audit::{self, AccessBatch};

/// At most this many reads share a commit.
const MAX_GROUP: usize = 256;

/// Where reads in the clear are recorded. Clones share one writer.
#[derive(Clone)]
pub struct ReadAudit {
    writer: GroupCommit<AccessWriter>,
}

impl ReadAudit {
    /// Starts the writer on `pool`; call inside the Tokio runtime.
    pub fn start(pool: PgPool) -> Self {
        Self {
            writer: GroupCommit::start(pool, Arc::new(AccessWriter), MAX_GROUP),
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
