//! Claiming many request ids at once, against a real PostgreSQL: each answer
//! is what claiming them one by one would give.

use patron_kit::config;
use patron_kit::idempotency::{self, Claim, ClaimRequest};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

/// A connection whose search path is a schema of its own, with the table.
async fn connect() -> (PgConnection, String) {
    let url = config::env_or(
        "PATRON_TEST_ADMIN_URL",
        "postgres://postgres@127.0.0.1:5432/postgres",
    );
    let mut conn = PgConnection::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
    let schema = format!("kit_idem_{}", Uuid::new_v4().simple());
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE SCHEMA {schema}; SET search_path TO {schema};
         CREATE TABLE idempotency_keys (scope text NOT NULL, request_id uuid NOT NULL,
             fingerprint bytea NOT NULL, resource_id uuid NOT NULL,
             created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (scope, request_id));"
    )))
    .execute(&mut conn)
    .await
    .expect("schema");
    (conn, schema)
}

async fn drop_schema(mut conn: PgConnection, schema: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&mut conn)
        .await
        .expect("drop");
}

#[tokio::test]
async fn many_claims_answer_as_one_by_one_would() {
    let (mut conn, schema) = connect().await;
    let earlier = Uuid::new_v4();
    let earlier_resource = Uuid::new_v4();
    let mut tx = conn.begin().await.unwrap();
    assert_eq!(
        idempotency::claim(&mut tx, "things", earlier, b"a", earlier_resource)
            .await
            .unwrap(),
        Claim::New
    );
    tx.commit().await.unwrap();

    let fresh = Uuid::new_v4();
    let twice = Uuid::new_v4();
    let resources: Vec<Uuid> = (0..6).map(|_| Uuid::new_v4()).collect();
    let requests = [
        // New.
        ClaimRequest {
            request_id: fresh,
            fingerprint: b"f",
            resource_id: resources[0],
        },
        // Applied before, same request: its resource again.
        ClaimRequest {
            request_id: earlier,
            fingerprint: b"a",
            resource_id: resources[1],
        },
        // Applied before, another request: refused.
        ClaimRequest {
            request_id: earlier,
            fingerprint: b"b",
            resource_id: resources[2],
        },
        // Twice in one call: the first claims, the second replays it...
        ClaimRequest {
            request_id: twice,
            fingerprint: b"t",
            resource_id: resources[3],
        },
        ClaimRequest {
            request_id: twice,
            fingerprint: b"t",
            resource_id: resources[4],
        },
        // ...and a third with another body is refused.
        ClaimRequest {
            request_id: twice,
            fingerprint: b"x",
            resource_id: resources[5],
        },
    ];
    let mut tx = conn.begin().await.unwrap();
    let answers = idempotency::claim_many(&mut tx, "things", &requests)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let shown: Vec<String> = answers
        .iter()
        .map(|a| match a {
            Ok(Claim::New) => "new".to_owned(),
            Ok(Claim::Replay(id)) if *id == earlier_resource => "replay earlier".to_owned(),
            Ok(Claim::Replay(id)) if *id == resources[3] => "replay twice".to_owned(),
            Ok(Claim::Replay(id)) => format!("replay {id}"),
            Err(e) => format!("refused {:?}", e.code()),
        })
        .collect();
    assert_eq!(
        shown,
        [
            "new",
            "replay earlier",
            "refused InvalidArgument",
            "new",
            "replay twice",
            "refused InvalidArgument"
        ]
    );
    // Another scope is another namespace.
    let mut tx = conn.begin().await.unwrap();
    let other = idempotency::claim_many(&mut tx, "others", &requests[..1])
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert!(matches!(other[..], [Ok(Claim::New)]));
    drop_schema(conn, &schema).await;
}
