//! The complaint service's SQL, one module per aggregate.

pub mod complaints;
pub mod customer_tiers;
pub mod figures;
pub mod policy;
pub mod unit_handlers;
