//! `rotor`: the command-line edge. clap parses, the library crates work, this prints.

mod args;
mod backends;
mod commands;
mod config;
mod daemon;
mod demo;
mod error;
mod fleet;
mod lifecycle;
mod management;
mod output;
mod target;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::args::Cli;

fn init_logging(verbose: u8, long_running: bool) {
    let default = match verbose {
        // A daemon's decisions are its output: log them by default.
        0 if long_running => "info",
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(
        cli.global.verbose,
        matches!(cli.command, args::Command::Daemon { .. }),
    );
    match commands::run(cli).await {
        Ok(exit) => exit.into(),
        Err(e) => {
            eprintln!("rotor: error: {}", e.message);
            e.exit.into()
        }
    }
}
