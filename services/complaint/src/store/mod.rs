//! The complaint service's SQL, one module per aggregate.

pub mod complaints;
pub mod figures;
pub mod unit_handlers;
