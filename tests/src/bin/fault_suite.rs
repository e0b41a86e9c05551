//! The fault suite (`deploy/local/faults.sh`): Patron's services as separate
//! processes on a PostgreSQL and a Redis of their own, a mixed write load,
//! and faults one after another, each followed by the invariants checked
//! from the database and the streams. Exits non-zero naming what broke.
//!
//! The `patron` binary is taken from beside this one, or from `PATRON_BIN`.

use std::path::PathBuf;
use std::time::Duration;

#[tokio::main]
async fn main() {
    let patron = match std::env::var_os("PATRON_BIN") {
        Some(path) => PathBuf::from(path),
        None => std::env::current_exe()
            .expect("the path of this binary")
            .with_file_name("patron"),
    };
    // A guard against a hang, not a measure of speed: the suite takes a
    // minute or two. Every process and the directory are gone by the time
    // either ends (dropped with the suite).
    let outcome = tokio::time::timeout(
        Duration::from_secs(900),
        patron_suite_tests::faults::run(&patron),
    )
    .await
    .unwrap_or_else(|_| {
        Err(anyhow::anyhow!(
            "the fault suite did not finish within 15 minutes"
        ))
    });
    if let Err(e) = outcome {
        eprintln!("\nFAULT SUITE FAILED: {e}");
        for cause in e.chain().skip(1) {
            eprintln!("  {cause}");
        }
        std::process::exit(1);
    }
}
