//! The customer service against a real PostgreSQL and Redis: one binary, one
//! fresh database per test, so the tests run in parallel.

mod helpers;

mod audit;
mod consent;
mod create_and_get;
mod degraded;
mod edge;
mod lookups;
mod organisation;
mod protection;
mod reads;
mod review;
mod transactions;
mod update_and_delete;
mod validation;
