//! What the `patron` binary does beyond starting services: loading archives
//! and transactions from the spreadsheets companies keep them in, a demo
//! company through the API, and the benchmark of a running suite.

pub mod bench;
pub mod demo;
pub mod import;
