//! PostgreSQL: each service connects as its own role with its own schema first
//! on the search path, so it can touch only its own tables. Provisioning (the
//! database, the roles, the schemas) needs an administrator and is done once,
//! by `patron provision` or the test harness, never by a running service.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
pub use sqlx::postgres::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

use crate::config::{self, ConfigError};

/// Where and as whom a service connects. Its `Debug` hides the URL's
/// password.
#[derive(Clone)]
pub struct DbConfig {
    /// Connection URL; its user is the service's role.
    pub url: String,
    /// The schema the service owns.
    pub schema: String,
    pub max_connections: u32,
    /// How long a request waits for a connection before UNAVAILABLE.
    pub acquire_timeout: Duration,
}

impl std::fmt::Debug for DbConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbConfig")
            .field("url", &config::redact_url(&self.url))
            .field("schema", &self.schema)
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .finish()
    }
}

/// The database URL used when `PATRON_DATABASE_URL` is unset.
pub const DEFAULT_DATABASE_URL: &str = "postgres://127.0.0.1:5432/patron";

/// The role that owns a service's schema.
pub fn role_for(schema: &str) -> String {
    format!("patron_{schema}")
}

impl DbConfig {
    /// The configuration of the service owning `schema`:
    /// `PATRON_<SCHEMA>_DATABASE_URL` if set, else `PATRON_DATABASE_URL` (or
    /// the local default) with the service's role as the user.
    pub fn for_service(schema: &str) -> Result<Self, ConfigError> {
        let upper = schema.to_ascii_uppercase();
        let own = format!("PATRON_{upper}_DATABASE_URL");
        let url = match config::env_opt(&own) {
            Some(url) => url,
            None => {
                let base = config::env_or("PATRON_DATABASE_URL", DEFAULT_DATABASE_URL);
                with_user(&base, &role_for(schema)).map_err(|reason| ConfigError {
                    name: "PATRON_DATABASE_URL".into(),
                    reason,
                })?
            }
        };
        Ok(Self {
            url,
            schema: schema.to_owned(),
            max_connections: config::env_parse(&format!("PATRON_{upper}_DATABASE_POOL_SIZE"), 10)?,
            acquire_timeout: config::env_millis(
                "PATRON_DATABASE_ACQUIRE_TIMEOUT_MS",
                Duration::from_secs(3),
            )?,
        })
    }
}

/// `url` with its user replaced by `user` (and any password dropped).
pub fn with_user(url: &str, user: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .ok_or_else(|| format!("{:?} is not a postgres:// URL", config::redact_url(url)))?;
    let host_and_path = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    Ok(format!("postgres://{user}@{host_and_path}"))
}

/// Limits every connection carries, so a stuck statement or a transaction a
/// handler forgot cannot hold locks and a connection for ever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// `statement_timeout` (`PATRON_DATABASE_STATEMENT_TIMEOUT_MS`, 30 s).
    pub statement_timeout: Duration,
    /// `idle_in_transaction_session_timeout`
    /// (`PATRON_DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS`, 60 s).
    pub idle_in_transaction: Duration,
}

impl SessionLimits {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            statement_timeout: config::env_millis(
                "PATRON_DATABASE_STATEMENT_TIMEOUT_MS",
                Duration::from_secs(30),
            )?,
            idle_in_transaction: config::env_millis(
                "PATRON_DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS",
                Duration::from_secs(60),
            )?,
        })
    }
}

/// A pool for the service's requests, with the service's schema as the
/// search path (set per connection, not on the role, so provisioning never
/// rewrites a role other databases share) and the [`SessionLimits`].
/// Connections are opened on first use, so a service starts (and reports
/// NOT_SERVING) while Postgres is down.
pub fn connect(config: &DbConfig) -> anyhow::Result<PgPool> {
    pool(config, config.max_connections, "")
}

/// A small pool of its own for background work (the daily sweep, upkeep,
/// the event relay and consumer), so a long batch cannot take the
/// connections requests wait for, nor the other way round.
pub fn connect_background(config: &DbConfig, max_connections: u32) -> anyhow::Result<PgPool> {
    pool(config, max_connections.max(1), "-background")
}

fn pool(config: &DbConfig, max_connections: u32, suffix: &str) -> anyhow::Result<PgPool> {
    check_identifier(&config.schema)?;
    let limits = SessionLimits::from_env()?;
    let millis = |d: Duration| d.as_millis().to_string();
    let options = PgConnectOptions::from_str(&config.url)
        .with_context(|| "parsing the database URL")?
        .options([
            ("search_path", config.schema.clone()),
            ("statement_timeout", millis(limits.statement_timeout)),
            (
                "idle_in_transaction_session_timeout",
                millis(limits.idle_in_transaction),
            ),
        ])
        .application_name(&format!("patron-{}{suffix}", config.schema));
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(config.acquire_timeout)
        // No ping before each acquire: it doubled the round trips of a
        // one-statement read. A connection the server dropped fails its next
        // statement with an I/O error, answered UNAVAILABLE (retryable), and
        // the pool closes it.
        .test_before_acquire(false)
        .connect_lazy_with(options))
}

/// Applies a service's migrations into its schema.
/// Runs on a connection of its own without the statement timeout: building
/// an index on a large table, or waiting for another replica's migration,
/// may rightly take longer.
pub async fn migrate(pool: &PgPool, migrator: &sqlx::migrate::Migrator) -> anyhow::Result<()> {
    let patience = config::env_secs("PATRON_DATABASE_WAIT_SECS", Duration::from_secs(300))?;
    wait_for_database(pool, patience).await?;
    // A later option overrides an earlier one of the same name.
    let options = (*pool.connect_options())
        .clone()
        .options([("statement_timeout", "0")]);
    let unlimited = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(pool.options().get_acquire_timeout())
        .connect_lazy_with(options);
    let applied = migrator.run(&unlimited).await;
    unlimited.close().await;
    applied.context("applying migrations")?;
    Ok(())
}

/// Waits until Postgres answers, at most `patience`: a service (or its
/// migration step) started while the database is away waits for it rather
/// than exiting and being restarted in a loop.
pub async fn wait_for_database(pool: &PgPool, patience: Duration) -> anyhow::Result<()> {
    let started = tokio::time::Instant::now();
    let mut pause = Duration::from_millis(250);
    let mut said = false;
    loop {
        match sqlx::query("SELECT 1").execute(pool).await {
            Ok(_) => {
                if said {
                    tracing::info!("the database answers; starting");
                }
                return Ok(());
            }
            Err(e) if started.elapsed() >= patience => {
                return Err(anyhow::Error::new(e).context(format!(
                    "the database did not answer within {} s (PATRON_DATABASE_WAIT_SECS)",
                    patience.as_secs()
                )));
            }
            Err(e) => {
                if !said {
                    tracing::warn!(error = %e, "waiting for the database");
                    said = true;
                }
            }
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

/// Connects with `config`, applies `migrator`, and disconnects: what a
/// `patron migrate <service>` step (a Kubernetes init container) runs.
pub async fn migrate_once(
    config: &DbConfig,
    migrator: &sqlx::migrate::Migrator,
) -> anyhow::Result<()> {
    let pool = connect(config)?;
    migrate(&pool, migrator).await?;
    pool.close().await;
    Ok(())
}

fn check_identifier(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    anyhow::ensure!(ok, "{name:?} is not a plain lower-case SQL identifier");
    Ok(())
}

/// Creates `database` (if missing), and for each schema its role and the
/// schema owned by that role, visible to no one else. Idempotent, and safe to
/// run concurrently (tests provision in parallel).
pub async fn provision(admin_url: &str, database: &str, schemas: &[&str]) -> anyhow::Result<()> {
    check_identifier(database)?;
    let admin = PgConnectOptions::from_str(admin_url).context("parsing the admin database URL")?;
    let mut conn = PgConnection::connect_with(&admin).await.with_context(|| {
        format!(
            "connecting as administrator to {}",
            config::redact_url(admin_url)
        )
    })?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(database)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        let created = sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {database}")))
            .execute(&mut conn)
            .await;
        if let Err(e) = created {
            // Someone else created it meanwhile.
            let duplicate =
                matches!(&e, sqlx::Error::Database(db) if db.code().as_deref() == Some("42P04"));
            if !duplicate {
                return Err(e).with_context(|| format!("creating database {database}"));
            }
        }
    }
    for schema in schemas {
        check_identifier(schema)?;
        let role = role_for(schema);
        sqlx::query(AssertSqlSafe(format!(
            "DO $$ BEGIN
               IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
                 CREATE ROLE {role} LOGIN;
               END IF;
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
             END $$"
        )))
        .execute(&mut conn)
        .await
        .with_context(|| format!("creating role {role}"))?;
    }
    conn.close().await.ok();

    let mut conn = PgConnection::connect_with(&admin.database(database))
        .await
        .with_context(|| format!("connecting as administrator to database {database}"))?;
    for schema in schemas {
        let role = role_for(schema);
        for statement in [
            format!("GRANT CONNECT, TEMPORARY ON DATABASE {database} TO {role}"),
            format!("CREATE SCHEMA IF NOT EXISTS {schema} AUTHORIZATION {role}"),
            format!("REVOKE ALL ON SCHEMA {schema} FROM PUBLIC"),
        ] {
            sqlx::query(AssertSqlSafe(statement.clone()))
                .execute(&mut conn)
                .await
                .with_context(|| format!("running {statement:?}"))?;
        }
    }
    sqlx::query("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        .execute(&mut conn)
        .await?;
    conn.close().await.ok();
    Ok(())
}

/// Checks the database answers, for health.
pub async fn ping(pool: &PgPool) -> bool {
    tokio::time::timeout(
        Duration::from_secs(2),
        sqlx::query("SELECT 1").execute(pool),
    )
    .await
    .is_ok_and(|r| r.is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_is_replaced() {
        assert_eq!(
            with_user("postgres://127.0.0.1:5432/patron", "patron_profile").unwrap(),
            "postgres://patron_profile@127.0.0.1:5432/patron"
        );
        assert_eq!(
            with_user(
                "postgresql://root:pw@db:5432/patron?sslmode=require",
                "patron_profile"
            )
            .unwrap(),
            "postgres://patron_profile@db:5432/patron?sslmode=require"
        );
        assert!(with_user("mysql://x", "y").is_err());
        let refused = with_user("mysql://root:hunter2@db/patron", "y").unwrap_err();
        assert!(!refused.contains("hunter2"), "{refused}");
    }

    #[test]
    fn debug_hides_the_password() {
        let config = DbConfig {
            url: "postgres://patron_profile:hunter2@db:5432/patron".into(),
            schema: "profile".into(),
            max_connections: 2,
            acquire_timeout: Duration::from_secs(1),
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("patron_profile:***@db"), "{shown}");
    }

    #[tokio::test]
    async fn a_refused_administrator_connection_does_not_show_the_password() {
        // A port nobody listens on: the connection fails, the message names
        // where without the password.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("postgres://postgres:hunter2@127.0.0.1:{port}/postgres");
        let err = provision(&url, "patron_nowhere", &[]).await.unwrap_err();
        let shown = format!("{err:#} {err:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("postgres:***@127.0.0.1"), "{shown}");
    }

    #[tokio::test]
    async fn connections_carry_the_session_limits() {
        let admin = config::env_or(
            "PATRON_TEST_ADMIN_URL",
            "postgres://postgres@127.0.0.1:5432/postgres",
        );
        let config = DbConfig {
            url: admin,
            schema: "public".into(),
            max_connections: 1,
            acquire_timeout: Duration::from_secs(10),
        };
        let defaults = SessionLimits::from_env().unwrap();
        for pool in [
            connect(&config).unwrap(),
            connect_background(&config, 1).unwrap(),
        ] {
            let (statement, idle): (String, String) = sqlx::query_as(
                "SELECT (SELECT setting FROM pg_settings WHERE name = 'statement_timeout'),
                        (SELECT setting FROM pg_settings
                          WHERE name = 'idle_in_transaction_session_timeout')",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            let pg = |d: Duration| d.as_millis().to_string();
            assert_eq!(statement, pg(defaults.statement_timeout));
            assert_eq!(idle, pg(defaults.idle_in_transaction));
        }
    }

    #[test]
    fn identifiers_are_plain() {
        assert!(check_identifier("profile").is_ok());
        assert!(check_identifier("patron_t_0a1").is_ok());
        for bad in ["", "Profile", "a;drop", "1abc", "a-b"] {
            assert!(check_identifier(bad).is_err(), "{bad}");
        }
    }
}
