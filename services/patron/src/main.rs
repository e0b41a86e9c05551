//! The `patron` binary. It only parses the command line and hands over to the
//! commands; each service's `serve` lives in its own crate so the same code
//! runs in `patron up` on one machine and as one pod in a cluster.

mod bench_command;
mod commands;
mod demo_command;
mod events_admin;
mod secrets;
mod services;

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    commands::run(commands::Cli::parse()).await
}
