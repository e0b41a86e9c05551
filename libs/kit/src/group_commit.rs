//! Group commit: writes that would queue one behind another on the same row
//! lock (a gap-free counter, say) are gathered while the previous group
//! commits and applied together, in one transaction with one commit. The
//! lock is then taken once per group instead of once per write, and the
//! commit's flush to disk is paid once for all of them.
//!
//! A group is all or nothing. When its transaction fails, each write is
//! applied again in a transaction of its own, so one bad write costs the
//! others nothing but time, and a failed write leaves no trace (a counter it
//! would have advanced is not advanced).

use std::sync::Arc;

use futures::future::BoxFuture;
use sqlx::{PgConnection, PgPool};
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::ServiceError;

/// Each job's answer, or the failure of the whole group's transaction.
pub type GroupAnswers<O> = Result<Vec<Result<O, ServiceError>>, ServiceError>;

/// Writes that can be applied in groups.
pub trait GroupWork: Send + Sync + 'static {
    /// One write, prepared before it is queued (whatever needs no lock is
    /// read then).
    type Job: Send + Sync + 'static;
    /// What the writer is answered.
    type Output: Send + 'static;

    /// Applies `jobs`, in order, in the caller's transaction; one answer per
    /// job. A job's own refusal (a reused request id, say) is its answer and
    /// leaves the transaction usable; an `Err` of the whole means the
    /// transaction failed, and the caller rolls it back.
    fn apply<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        jobs: &'a [Self::Job],
    ) -> BoxFuture<'a, GroupAnswers<Self::Output>>;
}

type Pending<W> = (
    <W as GroupWork>::Job,
    oneshot::Sender<Result<<W as GroupWork>::Output, ServiceError>>,
);

/// The queue in front of one writer task. Cloning shares the queue; the
/// writer stops once every clone is dropped and the queue is drained.
pub struct GroupCommit<W: GroupWork> {
    queue: mpsc::Sender<Pending<W>>,
}

impl<W: GroupWork> Clone for GroupCommit<W> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
        }
    }
}

impl<W: GroupWork> GroupCommit<W> {
    /// Starts the writer: each group takes what is queued, up to
    /// `max_group` jobs.
    pub fn start(pool: PgPool, work: Arc<W>, max_group: usize) -> Self {
        Self::start_many(pool, work, max_group, 1)
    }

    /// Starts `writers` writers sharing the queue, so that as many groups
    /// can be in flight at once, each on a connection of its own. Worth it
    /// when groups do not queue on one row (a counter does; customers'
    /// locks taken in one order do not): a group then waits for its own
    /// round trips only, not for the group before it.
    pub fn start_many(pool: PgPool, work: Arc<W>, max_group: usize, writers: usize) -> Self {
        let (queue, jobs) = mpsc::channel(max_group * 4 * writers.max(1));
        let jobs = Arc::new(Mutex::new(jobs));
        for _ in 0..writers.max(1) {
            tokio::spawn(write_groups(
                pool.clone(),
                work.clone(),
                jobs.clone(),
                max_group.max(1),
            ));
        }
        Self { queue }
    }

    /// Queues `job` and waits until its group has committed (or it was
    /// refused, or applied alone after its group failed).
    pub async fn submit(&self, job: W::Job) -> Result<W::Output, ServiceError> {
        let (answer, answered) = oneshot::channel();
        self.queue
            .send((job, answer))
            .await
            .map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }
}

fn stopped() -> ServiceError {
    ServiceError::Unavailable("the writer has stopped; try again".into())
}

async fn write_groups<W: GroupWork>(
    pool: PgPool,
    work: Arc<W>,
    queue: Arc<Mutex<mpsc::Receiver<Pending<W>>>>,
    max_group: usize,
) {
    let mut pending = Vec::with_capacity(max_group);
    // A writer holds the queue only while it takes a group: the next
    // writer gathers what arrives meanwhile.
    while queue.lock().await.recv_many(&mut pending, max_group).await > 0 {
        let (jobs, answers): (Vec<_>, Vec<_>) = std::mem::take(&mut pending).into_iter().unzip();
        match apply_group(&pool, work.as_ref(), &jobs).await {
            Ok(outputs) => {
                for (answer, output) in answers.into_iter().zip(outputs) {
                    let _ = answer.send(output);
                }
            }
            Err(e) if jobs.len() == 1 => {
                let _ = answers.into_iter().next().map(|a| a.send(Err(e)));
            }
            Err(e) => {
                tracing::debug!(error = %e, size = jobs.len(), "a group failed; applying its writes one by one");
                for (job, answer) in jobs.iter().zip(answers) {
                    let alone = apply_group(&pool, work.as_ref(), std::slice::from_ref(job))
                        .await
                        .and_then(|mut outputs| outputs.pop().unwrap_or_else(|| Err(lost())));
                    let _ = answer.send(alone);
                }
            }
        }
    }
}

fn lost() -> ServiceError {
    ServiceError::Internal(anyhow::anyhow!("a group write gave no answer"))
}

/// One transaction for `jobs`; their answers once it has committed.
async fn apply_group<W: GroupWork>(
    pool: &PgPool,
    work: &W,
    jobs: &[W::Job],
) -> GroupAnswers<W::Output> {
    let mut tx = pool.begin().await?;
    let outputs = match work.apply(&mut tx, jobs).await {
        Ok(outputs) if outputs.len() == jobs.len() => outputs,
        failed => {
            // Rolled back now, not when the pool gets the connection back:
            // the jobs are applied again at once, one by one, and must not
            // wait on the locks this transaction took.
            tx.rollback().await?;
            return Err(failed.err().unwrap_or_else(lost));
        }
    };
    tx.commit().await?;
    Ok(outputs)
}
