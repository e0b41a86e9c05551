//! Database errors as callers learn them, from real statements against
//! PostgreSQL: a deadlock is ABORTED (retry), a cancelled statement
//! UNAVAILABLE, broken constraints name themselves.

use patron_kit::ServiceError;
use patron_kit::config;
use sqlx::{Connection, PgConnection};
use tonic::Code;

async fn connect() -> PgConnection {
    let url = config::env_or(
        "PATRON_TEST_ADMIN_URL",
        "postgres://postgres@127.0.0.1:5432/postgres",
    );
    PgConnection::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("connecting to {url}: {e}"))
}

fn mapped(err: sqlx::Error) -> ServiceError {
    ServiceError::from(err)
}

/// A key for advisory locks no other test run takes.
fn fresh_key() -> i64 {
    (uuid::Uuid::new_v4().as_u128() as i64) & 0x0fff_ffff_ffff_fff0
}

async fn run(conn: &mut PgConnection, sql: &str) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(conn)
        .await
        .map(|_| ())
}

#[tokio::test]
async fn a_real_deadlock_is_aborted() {
    let (first, second) = {
        let k = fresh_key();
        (k, k + 1)
    };
    let (mut a, mut b) = (connect().await, connect().await);
    run(
        &mut a,
        &format!("BEGIN; SELECT pg_advisory_xact_lock({first})"),
    )
    .await
    .unwrap();
    run(
        &mut b,
        &format!("BEGIN; SELECT pg_advisory_xact_lock({second})"),
    )
    .await
    .unwrap();
    // Each now wants the other's key; Postgres breaks the circle by failing
    // one, whose rollback lets the other through.
    async fn take(conn: &mut PgConnection, key: i64) -> Option<sqlx::Error> {
        let taken = run(conn, &format!("SELECT pg_advisory_xact_lock({key})")).await;
        run(conn, "ROLLBACK").await.unwrap();
        taken.err()
    }
    let (ea, eb) = tokio::join!(take(&mut a, second), take(&mut b, first));
    let failed: Vec<sqlx::Error> = [ea, eb].into_iter().flatten().collect();
    assert_eq!(failed.len(), 1, "exactly one side is the victim");
    let err = mapped(failed.into_iter().next().unwrap());
    assert_eq!(err.code(), Code::Aborted);
    assert!(err.to_string().contains("retry"), "{err}");
}

#[tokio::test]
async fn broken_constraints_name_themselves() {
    let mut conn = connect().await;
    run(
        &mut conn,
        "CREATE TEMP TABLE parent (id int PRIMARY KEY);
         CREATE TEMP TABLE child (
           id int CONSTRAINT child_pkey PRIMARY KEY,
           parent int CONSTRAINT child_parent_fkey REFERENCES parent,
           n int CONSTRAINT child_n_positive CHECK (n > 0));
         INSERT INTO parent VALUES (1);
         INSERT INTO child VALUES (1, 1, 1);",
    )
    .await
    .unwrap();
    for (sql, code, constraint) in [
        (
            "INSERT INTO child VALUES (2, 9, 1)",
            Code::FailedPrecondition,
            "child_parent_fkey",
        ),
        (
            "INSERT INTO child VALUES (2, 1, 0)",
            Code::FailedPrecondition,
            "child_n_positive",
        ),
        (
            "INSERT INTO child VALUES (1, 1, 1)",
            Code::AlreadyExists,
            "child_pkey",
        ),
    ] {
        let err = mapped(run(&mut conn, sql).await.unwrap_err());
        assert_eq!(err.code(), code, "{sql}");
        assert!(err.to_string().contains(constraint), "{sql}: {err}");
    }
}

#[tokio::test]
async fn a_cancelled_statement_is_unavailable() {
    let mut conn = connect().await;
    let err = run(&mut conn, "SET statement_timeout = 10; SELECT pg_sleep(5)")
        .await
        .unwrap_err();
    assert_eq!(mapped(err).code(), Code::Unavailable);
}
