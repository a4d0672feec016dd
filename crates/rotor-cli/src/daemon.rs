//! `rotor daemon --config rotor.toml`: rotates each configured secret when its schedule
//! says so, serves `/healthz` and Prometheus `/metrics`, stops cleanly on SIGTERM/SIGINT.
//!
//! * One task per secret: it checks the secret every `check_interval`, so a secret never has two
//!   rotations at once; a semaphore bounds the rotations of all secrets to `max_concurrent`.
//! * When a secret last rotated is read from its store at every check (the creation time of the
//!   current document's key, else `last_rotated`, else the current version's `created_at`), never
//!   from local state: a restarted daemon decides exactly as the previous one would have.
//! * A rotation left pending (a crash, a shutdown cut short) is resumed with its own token.
//! * Failures are retried with exponential back-off: retryable ones from 1 s up to 5 min, others
//!   after a long pause (5 min up to 1 h). Each failure is logged at error level with the secret
//!   and what to do.
//! * On SIGTERM/SIGINT no new rotation starts; rotations in flight may finish for
//!   `shutdown_timeout` (default 60 s); then the daemon exits 0. Every step is idempotent, so a
//!   rotation cut short stays pending and the next start (or `rotor rotate --resume`) finishes it.
//!
//! This file starts and stops the daemon; `daemon/runner.rs` is the task of one secret,
//! `daemon/schedule.rs` decides when a secret is due (pure), `daemon/http.rs` serves `/healthz`
//! and `/metrics`, `daemon/metrics.rs` holds the Prometheus metrics.
//!
//! Operator documentation: `docs/daemon.md`.

mod http;
mod metrics;
mod runner;
mod schedule;

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rotor_core::SecretStore;
use rotor_core::engine::Engine;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::args::OpenRouterArgs;
use crate::config::RotorConfig;
use crate::error::{CliError, Exit};
use crate::output::Output;
use crate::target::Target;

use self::metrics::Metrics;
use self::runner::{Managed, Shared, secret_loop};

pub async fn run(
    _out: &Output,
    config_path: &Path,
    listen: Option<&str>,
    or: &OpenRouterArgs,
) -> Result<Exit, CliError> {
    let config = RotorConfig::load(config_path)?;
    let listen = listen.unwrap_or(&config.daemon.listen).to_owned();
    let managed = open_secrets(&config, config_path).await?;
    let policy = config.policy()?;
    // A key that expires within rotate_before_expiry of its creation would be rotated for ever.
    if let Some(life) = policy.expires_after {
        for s in &config.secrets {
            if let Some(lead) = s.rotate_before_expiry
                && life <= lead + policy.grace_period
            {
                return Err(CliError::usage(format!(
                    "secret {}: expires_after ({}) must be longer than rotate_before_expiry ({}) plus the \
                     grace period ({}), or every new key would be due for rotation at once; raise \
                     expires_after (ROTOR_EXPIRES_AFTER) or lower rotate_before_expiry",
                    s.target,
                    humantime::format_duration(life),
                    humantime::format_duration(lead),
                    humantime::format_duration(policy.grace_period)
                )));
            }
        }
    }
    let client = crate::management::client(&config.openrouter_args(or)).await?;
    let engine = Engine::new(client, policy);

    let addr: SocketAddr = listen.parse().map_err(|e| {
        CliError::usage(format!(
            "listen address {listen:?} is not HOST:PORT ({e}); e.g. 127.0.0.1:9464 or 0.0.0.0:9464"
        ))
    })?;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        CliError::precondition(format!(
            "cannot listen on {addr} for /healthz and /metrics: {e}; pick another address with --listen or [daemon] listen"
        ))
    })?;
    let local = listener
        .local_addr()
        .map_err(|e| CliError::internal(format!("reading the listening address: {e}")))?;

    let labels: Vec<String> = managed.iter().map(|m| m.label.clone()).collect();
    let metrics = Arc::new(Metrics::new(&labels));
    let (stop_tx, stop_rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        engine,
        metrics: metrics.clone(),
        permits: Arc::new(Semaphore::new(config.daemon.max_concurrent)),
        stopping: stop_rx.clone(),
        check_interval: config.daemon.check_interval,
    });

    let (server_stop_tx, mut server_stop_rx) = watch::channel(false);
    let router = http::router(metrics.clone(), stop_rx.clone());
    let server = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = server_stop_rx.wait_for(|s| *s).await;
            })
            .await
    });

    if !crate::logging::is_json() {
        // With JSON logs every stderr line is JSON: the "daemon started" line below says it.
        eprintln!(
            "rotor daemon: listening on http://{local} (/healthz, /metrics); managing {} secret(s) from {}",
            managed.len(),
            config_path.display()
        );
    }
    info!(
        listen = %local,
        secrets = managed.len(),
        check_interval_ms = config.daemon.check_interval.as_millis() as u64,
        max_concurrent = config.daemon.max_concurrent,
        config = %config_path.display(),
        "daemon started"
    );

    let mut tasks = JoinSet::new();
    for m in managed {
        tasks.spawn(secret_loop(shared.clone(), m));
    }

    let signal = wait_for_signal().await?;
    let _ = stop_tx.send(true);
    let running = metrics.running();
    info!(
        signal,
        in_flight = running.len(),
        secrets = running.join(",").as_str(),
        timeout_s = config.daemon.shutdown_timeout.as_secs_f64(),
        "stopping: no new rotations; waiting for rotations in flight"
    );
    let drained = tokio::time::timeout(config.daemon.shutdown_timeout, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        let running = metrics.running();
        warn!(
            secrets = running.join(",").as_str(),
            "rotations still in flight after the shutdown timeout; they stay pending and the next \
             start of the daemon (or `rotor rotate --resume TARGET`) finishes them"
        );
        tasks.abort_all();
    }
    let _ = server_stop_tx.send(true);
    match tokio::time::timeout(Duration::from_secs(5), server).await {
        Ok(Ok(Err(e))) => warn!(error = %e, "the /metrics server stopped with an error"),
        Ok(Err(e)) => warn!(error = %e, "the /metrics server task failed"),
        _ => {}
    }
    info!("daemon stopped");
    Ok(Exit::Ok)
}

/// Parses every secret's schedule and opens each store once (one per file directory, one for
/// Secrets Manager, one for Vault).
async fn open_secrets(config: &RotorConfig, path: &Path) -> Result<Vec<Managed>, CliError> {
    if config.secrets.is_empty() {
        return Err(CliError::usage(format!(
            "config {}: no [[secrets]] to manage",
            path.display()
        )));
    }
    let mut files: HashMap<PathBuf, Arc<dyn SecretStore>> = HashMap::new();
    let mut aws: Option<Arc<dyn SecretStore>> = None;
    let mut vault: Option<Arc<dyn SecretStore>> = None;
    let mut seen = BTreeSet::new();
    let mut managed = Vec::new();
    for (i, s) in config.secrets.iter().enumerate() {
        let at = format!("config {}: secrets[{i}] ({})", path.display(), s.target);
        let target = Target::parse(&s.target)?;
        let schedule = s
            .schedule()
            .map_err(|e| CliError::usage(format!("{at}: {e}")))?
            .ok_or_else(|| {
                CliError::usage(format!(
                    "{at}: the daemon needs a schedule: add `every = \"30d\"` or `cron = \"0 0 3 * * Mon\"`"
                ))
            })?;
        if !seen.insert(target.to_string()) {
            return Err(CliError::usage(format!(
                "{at}: the secret is listed twice; give each secret one schedule"
            )));
        }
        let store = match &target {
            Target::File { dir, .. } => match files.get(dir) {
                Some(s) => s.clone(),
                None => {
                    let s = target.open_store().await?;
                    files.insert(dir.clone(), s.clone());
                    s
                }
            },
            Target::Aws { .. } => match &aws {
                Some(s) => s.clone(),
                None => aws.insert(target.open_store().await?).clone(),
            },
            Target::Vault { .. } => match &vault {
                Some(s) => s.clone(),
                None => vault.insert(target.open_store().await?).clone(),
            },
        };
        managed.push(Managed {
            label: s.target.clone(),
            secret_id: target.secret_id(),
            store,
            schedule,
            window: s.window,
            rotate_before_expiry: s.rotate_before_expiry,
        });
    }
    Ok(managed)
}

#[cfg(unix)]
async fn wait_for_signal() -> Result<&'static str, CliError> {
    use tokio::signal::unix::{SignalKind, signal};
    let install = |kind: SignalKind, name: &str| {
        signal(kind).map_err(|e| CliError::internal(format!("installing the {name} handler: {e}")))
    };
    let mut term = install(SignalKind::terminate(), "SIGTERM")?;
    let mut int = install(SignalKind::interrupt(), "SIGINT")?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}

#[cfg(not(unix))]
async fn wait_for_signal() -> Result<&'static str, CliError> {
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| CliError::internal(format!("installing the Ctrl-C handler: {e}")))?;
    Ok("Ctrl-C")
}
