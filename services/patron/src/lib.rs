//! What the `patron` binary does beyond starting services: loading archives
//! and transactions from the spreadsheets companies keep them in.

pub mod demo;
pub mod import;
