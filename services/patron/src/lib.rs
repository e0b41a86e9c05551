//! What the `patron` binary does beyond starting services: loading archives
//! and transactions from the spreadsheets companies keep them in, and a demo
//! company through the API.

pub mod demo;
pub mod import;
