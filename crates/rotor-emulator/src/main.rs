//! `rotor-emulator`: OpenRouter's key Management API on a local port.
//!
//! Prints one line with the base URL on stdout once it accepts connections (and, only when the
//! management key was generated, a second line `management key: sk-or-v1-…`); logs go to stderr.

use std::{
    io::{IsTerminal, Write},
    net::SocketAddr,
    path::PathBuf,
    process::ExitCode,
    time::Duration,
};

use clap::Parser;
use rotor_emulator::{EmulatorConfig, RateLimit, RetryAfterMode};

#[derive(Debug, Parser)]
#[command(
    name = "rotor-emulator",
    version,
    about = "A local emulator of OpenRouter's API-key Management API"
)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The first account's management key; generated (and printed) when absent.
    #[arg(long, env = "OPENROUTER_MANAGEMENT_KEY", hide_env_values = true)]
    management_key: Option<String>,
    /// Persist accounts and keys in this JSON file (atomic writes; loaded at start).
    #[arg(long = "state", value_name = "FILE")]
    state: Option<PathBuf>,
    /// Serve the /_emulator/ test controls (faults, usage, counters, accounts, reset).
    #[arg(long)]
    test_controls: bool,
    /// USD added to a key's usage by each chat completion.
    #[arg(long, default_value_t = 0.001)]
    completion_cost: f64,
    /// Per-management-key rate limit, N requests per SECS seconds (e.g. 10/1); off by default.
    #[arg(long, value_name = "N/SECS", value_parser = parse_rate_limit)]
    rate_limit: Option<RateLimit>,
    /// Which 429s carry Retry-After: always, every-other (the 1st, 3rd… of each management key),
    /// or never.
    #[arg(long, value_name = "MODE", default_value = "every-other")]
    retry_after: RetryAfterMode,
}

fn parse_rate_limit(s: &str) -> Result<RateLimit, String> {
    let (n, secs) = s
        .split_once('/')
        .ok_or_else(|| format!("{s:?}: expected N/SECS, e.g. 10/1"))?;
    let requests: u32 = n
        .trim()
        .parse()
        .map_err(|_| format!("{s:?}: N must be a whole number"))?;
    let secs: f64 = secs
        .trim()
        .parse()
        .map_err(|_| format!("{s:?}: SECS must be a number of seconds"))?;
    if requests == 0 || !secs.is_finite() || secs <= 0.0 {
        return Err(format!("{s:?}: N and SECS must both be greater than zero"));
    }
    Ok(RateLimit {
        requests,
        per: Duration::from_secs_f64(secs),
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    if !args.completion_cost.is_finite() || args.completion_cost < 0.0 {
        eprintln!("rotor-emulator: --completion-cost must be a number >= 0");
        return ExitCode::from(2);
    }
    let config = EmulatorConfig {
        listen: args.listen,
        management_key: args.management_key,
        state_file: args.state,
        test_controls: args.test_controls,
        completion_cost: args.completion_cost,
        rate_limit: args.rate_limit,
        retry_after: args.retry_after,
    };
    let emulator = match rotor_emulator::start(config).await {
        Ok(e) => e,
        Err(e) => {
            eprintln!("rotor-emulator: could not start: {e}");
            return ExitCode::FAILURE;
        }
    };
    {
        let mut out = std::io::stdout().lock();
        let mut lines = format!("{}\n", emulator.base_url());
        if emulator.management_key_generated() {
            lines.push_str(&format!("management key: {}\n", emulator.management_key()));
        }
        if out
            .write_all(lines.as_bytes())
            .and_then(|()| out.flush())
            .is_err()
        {
            tracing::warn!("could not write the base URL to stdout");
        }
    }
    match wait_for_signal().await {
        Ok(signal) => tracing::info!(signal, "shutting down"),
        Err(e) => {
            eprintln!("rotor-emulator: cannot listen for shutdown signals: {e}");
            emulator.shutdown().await;
            return ExitCode::FAILURE;
        }
    }
    emulator.shutdown().await;
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

#[cfg(unix)]
async fn wait_for_signal() -> std::io::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}

#[cfg(not(unix))]
async fn wait_for_signal() -> std::io::Result<&'static str> {
    tokio::signal::ctrl_c().await.map(|()| "ctrl-c")
}
