//! Group commit against real PostgreSQL: concurrent writes behind one
//! counter row share transactions, a failing write costs the others
//! nothing, and the counter stays gap-free.

use std::sync::Arc;

use futures::future::BoxFuture;
use patron_kit::ServiceError;
use patron_kit::group_commit::{GroupAnswers, GroupCommit, GroupWork};
use patron_kit::testing::TestDatabase;
use sqlx::{PgConnection, PgPool};

/// Numbers each job from one counter row, as intake numbering does; a
/// job named "poison" breaks the transaction, one named "refused" is
/// answered with its own refusal and leaves the transaction usable.
struct Numbering;

impl GroupWork for Numbering {
    type Job = String;
    type Output = i64;

    fn apply<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        jobs: &'a [String],
    ) -> BoxFuture<'a, GroupAnswers<i64>> {
        Box::pin(async move {
            let mut last: i64 = sqlx::query_scalar("SELECT last FROM counter FOR UPDATE")
                .fetch_one(&mut *tx)
                .await?;
            let mut answers = Vec::new();
            for job in jobs {
                if job == "refused" {
                    answers.push(Err(ServiceError::FailedPrecondition("refused".into())));
                    continue;
                }
                if job == "poison" {
                    sqlx::query("INSERT INTO numbered (serial, job) VALUES (NULL, 'poison')")
                        .execute(&mut *tx)
                        .await?;
                }
                last += 1;
                sqlx::query(
                    "INSERT INTO numbered (serial, job, txid) VALUES ($1, $2, txid_current())",
                )
                .bind(last)
                .bind(job)
                .execute(&mut *tx)
                .await?;
                answers.push(Ok(last));
            }
            sqlx::query("UPDATE counter SET last = $1")
                .bind(last)
                .execute(&mut *tx)
                .await?;
            Ok(answers)
        })
    }
}

async fn fixture() -> (TestDatabase, PgPool) {
    let db = TestDatabase::create(&["profile"]).await;
    let pool = patron_kit::db::connect(&db.service_config("profile")).unwrap();
    for statement in [
        "CREATE TABLE counter (last bigint NOT NULL)",
        "INSERT INTO counter VALUES (0)",
        "CREATE TABLE numbered (serial bigint NOT NULL UNIQUE, job text NOT NULL, txid bigint NOT NULL)",
    ] {
        sqlx::query(statement).execute(&pool).await.unwrap();
    }
    (db, pool)
}

#[tokio::test]
async fn concurrent_writes_share_commits_and_a_bad_one_costs_the_others_nothing() {
    let (_db, pool) = fixture().await;
    let writer = GroupCommit::start(pool.clone(), Arc::new(Numbering), 16);
    let mut jobs: Vec<String> = (0..60).map(|i| format!("job-{i}")).collect();
    jobs[17] = "poison".into();
    jobs[40] = "refused".into();
    let answers = futures::future::join_all(jobs.iter().map(|job| {
        let writer = writer.clone();
        let job = job.clone();
        async move { (job.clone(), writer.submit(job).await) }
    }))
    .await;

    for (job, answer) in &answers {
        match job.as_str() {
            "poison" => assert!(answer.is_err(), "the broken write fails: {answer:?}"),
            "refused" => assert!(matches!(answer, Err(ServiceError::FailedPrecondition(_)))),
            _ => assert!(answer.is_ok(), "{job}: {answer:?}"),
        }
    }
    let (count, max, last, transactions): (i64, Option<i64>, i64, i64) = sqlx::query_as(
        "SELECT count(*), max(serial), (SELECT last FROM counter), count(DISTINCT txid) FROM numbered",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(count, 58, "every good write applied once");
    assert_eq!(max, Some(58), "serials 1..58, none taken by the failed one");
    assert_eq!(last, 58);
    assert!(
        transactions < 58,
        "writes queued together share a transaction ({transactions} for 58)"
    );
    let mut serials: Vec<i64> = answers
        .iter()
        .filter_map(|(_, a)| a.as_ref().ok().copied())
        .collect();
    serials.sort();
    assert_eq!(serials, (1..=58).collect::<Vec<_>>());
}
