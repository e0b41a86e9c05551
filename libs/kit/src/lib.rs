//! The service kit: one way, shared by every Patron service, to configure,
//! log and trace, reach Postgres and Redis, authenticate callers, report
//! errors, page, apply update masks, check etags, make creates idempotent,
//! tell the time, export metrics, run a gRPC server, start and stop a service (`runtime`), and
//! call another service with its own identity (`calls`).

pub mod auth;
pub mod cache;
pub mod calls;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod db;
pub mod descriptors;
pub mod directory;
pub mod error;
pub mod etag;
pub mod events;
pub mod fieldmask;
pub mod group_commit;
pub mod idempotency;
pub mod incoming;
pub mod metrics;
pub mod paging;
pub mod resource_name;
pub mod runtime;
pub mod server;
pub mod telemetry;
pub mod timestamp;
pub mod tls;

#[cfg(feature = "testing")]
pub mod testing;

pub use error::{ServiceError, Violations};
