//! The benchmark binaries the README names run to the end at a small size:
//! a benchmark that is not run rots (`bench-tiering` once failed for days,
//! unnoticed, when the sweep came to read a table it did not install).
//! Their speed is never asserted; only that they finish and their own
//! checks pass.

use std::process::Command;

/// Runs a benchmark binary of this package with `args`; its standard output.
fn run(binary: &str, args: &[&str]) -> String {
    let out = Command::new(binary)
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap_or_else(|e| panic!("{binary} did not start: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{binary} {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn bench_tiering_sweeps_and_agrees_with_the_sql_pass() {
    let out = run(env!("CARGO_BIN_EXE_bench-tiering"), &["300", "2"]);
    assert!(
        out.contains("engine vs SQL: 0 customers lower than the SQL tier"),
        "{out}"
    );
}

#[test]
fn bench_complaints_numbers_every_intake() {
    let out = run(
        env!("CARGO_BIN_EXE_bench-complaints"),
        &["40", "4", "64", "10"],
    );
    assert!(out.contains("numbering check: passed"), "{out}");
}

#[test]
fn bench_scheduling_plans_every_customer() {
    let out = run(env!("CARGO_BIN_EXE_bench-scheduling"), &["200", "2", "50"]);
    assert!(out.contains("generation job"), "{out}");
}
