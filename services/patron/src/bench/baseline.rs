//! What Patron's paths are held against, measured in the same run: a bare
//! tonic server answering only health Checks, and plain single-row INSERTs
//! into a scratch table of the suite's own PostgreSQL.

use std::net::SocketAddr;

use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic_health::ServingStatus;

use super::load::{self, Bound, Measured};

/// A tonic server with nothing but the health service, in this process on
/// a free loopback port, until `stop`. Its address.
pub async fn start_bare_health(stop: CancellationToken) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", ServingStatus::Serving)
        .await;
    tokio::spawn(async move {
        // Held for as long as the server runs: dropping it ends the service's statuses.
        let _reporter = reporter;
        let served = tonic::transport::Server::builder()
            .add_service(health)
            .serve_with_incoming_shutdown(
                // TCP_NODELAY, as Patron's own server sets it.
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
                stop.cancelled_owned(),
            )
            .await;
        if let Err(e) = served {
            eprintln!("the bare health server stopped: {e}");
        }
    });
    Ok(addr)
}

/// A scratch table in the suite's database, dropped with [`Scratch::drop_table`].
pub struct Scratch {
    pool: PgPool,
    table: String,
}

impl Scratch {
    /// Creates `bench_scratch_{run}` with as many connections as `clients`.
    pub async fn create(database_url: &str, run: &str, clients: usize) -> anyhow::Result<Self> {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(clients.max(1) as u32)
            .connect(database_url)
            .await?;
        let table = format!("public.bench_scratch_{run}");
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE TABLE {table} (id uuid PRIMARY KEY, customer text NOT NULL,
                                   amount_minor bigint NOT NULL, at timestamptz NOT NULL)"
        )))
        .execute(&pool)
        .await?;
        Ok(Self { pool, table })
    }

    /// One single-row INSERT per call, autocommit, from `clients` clients.
    pub async fn insert_rows(&self, clients: usize, bound: Bound) -> Measured {
        let pool = self.pool.clone();
        let statement = format!("INSERT INTO {} VALUES ($1, $2, $3, now())", self.table);
        load::run(clients, bound, move |call| {
            let pool = pool.clone();
            let statement = statement.clone();
            async move {
                sqlx::query(sqlx::AssertSqlSafe(statement))
                    .bind(uuid::Uuid::now_v7())
                    .bind(format!("c{}", call.seq))
                    .bind(12_800_i64)
                    .execute(&pool)
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
        })
        .await
    }

    pub async fn drop_table(self) -> anyhow::Result<()> {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE {}", self.table)))
            .execute(&self.pool)
            .await?;
        self.pool.close().await;
        Ok(())
    }
}
