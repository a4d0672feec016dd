//! `rotor`: the command-line edge. clap parses, the library crates work, this prints.

mod args;
mod backends;
mod cmd;
mod config;
mod daemon;
mod engine_setup;
mod error;
mod logging;
mod management;
mod output;
mod target;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, LogFormat};

/// One runtime thread. rotor's own work between requests is small (a fleet rotation is
/// mostly waiting on OpenRouter and the store), and a second worker thread only added wake-ups
/// and context switches between the two (BENCHMARKS.md, "Profile"); the file store's writes
/// still run on tokio's blocking pool, in parallel.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let format = cli.global.log_format;
    logging::init(
        cli.global.verbose,
        matches!(cli.command, args::Command::Daemon { .. }),
        format,
    );
    match cmd::run(cli).await {
        Ok(exit) => exit.into(),
        Err(e) => {
            if format == LogFormat::Json && tracing::enabled!(tracing::Level::ERROR) {
                // Log pipelines get the error as one more JSON line.
                tracing::error!(exit_code = e.exit as u8, "rotor: error: {}", e.message);
            } else {
                eprintln!("rotor: error: {}", e.message);
            }
            e.exit.into()
        }
    }
}
