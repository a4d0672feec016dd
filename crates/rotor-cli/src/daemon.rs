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
//! Operator documentation: `crates/rotor-cli/DAEMON.md`.

mod metrics;
mod schedule;

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use rotor_core::engine::{Engine, EngineError, ErrorKind};
use rotor_core::record::KeyRecord;
use rotor_core::{SecretDescription, SecretStore, Stage, VersionSelector};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tracing::{debug, error, info, warn};

use crate::args::OpenRouterArgs;
use crate::config::{RotorConfig, Schedule};
use crate::error::{CliError, Exit};
use crate::output::Output;
use crate::target::Target;

use self::metrics::Metrics;
use self::schedule::Decision;

/// Back-off of retryable failures: 1 s, 2 s, 4 s … up to 5 min.
const RETRY_BASE: Duration = Duration::from_secs(1);
const RETRY_CAP: Duration = Duration::from_secs(300);
/// Back-off of failures that need an operator (wrong key, refused precondition): 5 min … 1 h.
const PAUSE_BASE: Duration = Duration::from_secs(300);
const PAUSE_CAP: Duration = Duration::from_secs(3600);
/// How often `rotor_live_keys` is refreshed between rotations (it asks OpenRouter about each key).
const LIVE_KEYS_REFRESH: Duration = Duration::from_secs(60);

/// One configured secret, with its store opened.
struct Managed {
    /// The target URI as configured (the `secret` label of the metrics).
    label: String,
    secret_id: String,
    store: Arc<dyn SecretStore>,
    schedule: Schedule,
    window: Option<Duration>,
    /// Rotate when the current key expires within this long, whatever the schedule.
    rotate_before_expiry: Option<Duration>,
}

/// What every secret task shares.
struct Shared {
    engine: Engine,
    metrics: Arc<Metrics>,
    permits: Arc<Semaphore>,
    stopping: watch::Receiver<bool>,
    check_interval: Duration,
}

impl Shared {
    fn is_stopping(&self) -> bool {
        *self.stopping.borrow()
    }

    /// Sleeps for `d`; `false` when shutdown began meanwhile.
    async fn sleep(&self, d: Duration) -> bool {
        let mut stop = self.stopping.clone();
        tokio::select! {
            _ = tokio::time::sleep(d) => !self.is_stopping(),
            _ = stop.wait_for(|s| *s) => false,
        }
    }
}

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
    let router = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .with_state(HttpState {
            metrics: metrics.clone(),
            stopping: stop_rx.clone(),
        });
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

#[derive(Clone)]
struct HttpState {
    metrics: Arc<Metrics>,
    stopping: watch::Receiver<bool>,
}

async fn healthz(State(s): State<HttpState>) -> Response {
    if *s.stopping.borrow() {
        (StatusCode::SERVICE_UNAVAILABLE, "stopping\n").into_response()
    } else {
        (StatusCode::OK, "ok\n").into_response()
    }
}

async fn metrics_text(State(s): State<HttpState>) -> Response {
    match s.metrics.encode(Utc::now()) {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding the metrics failed: {e}\n"),
        )
            .into_response(),
    }
}

/// Consecutive failures of one secret, and when it may be tried again.
#[derive(Default)]
struct Backoff {
    failures: u32,
    not_before: Option<Instant>,
}

impl Backoff {
    fn failed(&mut self, retry_soon: bool) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let (base, cap) = if retry_soon {
            (RETRY_BASE, RETRY_CAP)
        } else {
            (PAUSE_BASE, PAUSE_CAP)
        };
        let exp = self.failures.saturating_sub(1).min(16);
        let delay = base.saturating_mul(1u32 << exp).min(cap);
        self.not_before = Some(Instant::now() + delay);
        delay
    }

    fn succeeded(&mut self) {
        *self = Backoff::default();
    }

    fn waiting(&self) -> bool {
        self.not_before.is_some_and(|t| Instant::now() < t)
    }
}

/// What a check found.
enum Action {
    Nothing,
    Rotate { reason: String },
    Resume { token: String },
}

/// The loop of one secret: check, maybe rotate, wait `check_interval`; until shutdown.
async fn secret_loop(shared: Arc<Shared>, m: Managed) {
    let mut backoff = Backoff::default();
    let mut last_live_refresh: Option<Instant> = None;
    let mut last_next: Option<DateTime<Utc>> = None;
    let mut disabled_logged = false;
    loop {
        if shared.is_stopping() {
            break;
        }
        if !backoff.waiting() {
            match check(&shared, &m, &mut last_next, &mut disabled_logged).await {
                Ok(Action::Nothing) => retire_older_keys(&shared, &m).await,
                Ok(action) => {
                    rotate(&shared, &m, action, &mut backoff).await;
                    last_live_refresh = None;
                    last_next = None;
                }
                Err(e) => {
                    let retry_soon = e.is_retryable();
                    let delay = backoff.failed(retry_soon);
                    error!(
                        secret = m.label.as_str(),
                        error = %e,
                        retry_in_s = delay.as_secs(),
                        "cannot read the secret from its store; check the store's address, \
                         credentials and permissions (the daemon retries)"
                    );
                }
            }
        }
        if last_live_refresh.is_none_or(|t| t.elapsed() >= LIVE_KEYS_REFRESH) {
            refresh_live_keys(&shared, &m).await;
            last_live_refresh = Some(Instant::now());
        }
        if !shared.sleep(shared.check_interval).await {
            break;
        }
    }
    debug!(secret = m.label.as_str(), "secret task stopped");
}

/// Reads the secret's versions and decides what to do. Only store errors escape.
async fn check(
    shared: &Shared,
    m: &Managed,
    last_next: &mut Option<DateTime<Utc>>,
    disabled_logged: &mut bool,
) -> Result<Action, rotor_core::StoreError> {
    let desc = m.store.describe(&m.secret_id).await?;
    if desc.rotation_enabled == Some(false) {
        if !*disabled_logged {
            info!(
                secret = m.label.as_str(),
                "rotation is disabled for this secret in its store; not rotating it until it is enabled"
            );
            *disabled_logged = true;
        }
        return Ok(Action::Nothing);
    }
    *disabled_logged = false;
    if let Some(token) = pending_rotation(&desc) {
        return Ok(Action::Resume {
            token: token.to_owned(),
        });
    }
    let (last, expires_at) = last_rotation(m, &desc).await;
    if let Some(at) = last {
        shared.metrics.set_last_rotated(&m.label, at);
    }
    shared.metrics.set_expires_at(&m.label, expires_at);
    let now = Utc::now();
    if let (Some(exp), Some(lead)) = (expires_at, m.rotate_before_expiry)
        && chrono::Duration::from_std(lead).is_ok_and(|lead| exp - lead <= now)
    {
        return Ok(Action::Rotate {
            reason: format!(
                "the current key expires at {} (within rotate_before_expiry = {})",
                exp.to_rfc3339(),
                humantime::format_duration(lead)
            ),
        });
    }
    match schedule::decide(&m.schedule, m.window, last, Utc::now()) {
        Decision::Due { reason } => Ok(Action::Rotate { reason }),
        Decision::NotDue { next } => {
            if *last_next != next {
                info!(
                    secret = m.label.as_str(),
                    last_rotated = last.map(|t| t.to_rfc3339()).as_deref().unwrap_or("unknown"),
                    next_due = next.map(|t| t.to_rfc3339()).as_deref().unwrap_or("never"),
                    "not due"
                );
                *last_next = next;
            }
            Ok(Action::Nothing)
        }
    }
}

/// The token of a rotation in progress: a Pending version that is not Current.
fn pending_rotation(desc: &SecretDescription) -> Option<&str> {
    desc.versions
        .iter()
        .find(|v| v.has(Stage::Pending) && !v.has(Stage::Current))
        .map(|v| v.id.as_str())
}

/// When the secret last rotated, from the store: the creation time of the current document's key
/// (bookkeeping writes of retirement state copy the document and move the store's `last_rotated`,
/// but never change which key is current), else `last_rotated`, else the current version's
/// `created_at`.
async fn last_rotation(
    m: &Managed,
    desc: &SecretDescription,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let record = match m
        .store
        .get_value(&m.secret_id, &VersionSelector::Stage(Stage::Current))
        .await
    {
        Ok(value) => KeyRecord::parse(&value.value, &m.secret_id).ok(),
        Err(_) => None,
    };
    let expires_at = record.as_ref().and_then(|r| r.expires_at);
    let last = record
        .map(|r| r.created_at)
        .or(desc.last_rotated)
        .or_else(|| desc.with_stage(Stage::Current).and_then(|v| v.created_at));
    (last, expires_at)
}

/// Runs (or resumes) one rotation under a concurrency permit, unless shutdown begins first.
async fn rotate(shared: &Shared, m: &Managed, action: Action, backoff: &mut Backoff) {
    let mut stop = shared.stopping.clone();
    let permit = tokio::select! {
        p = shared.permits.clone().acquire_owned() => p,
        _ = stop.wait_for(|s| *s) => return,
    };
    let Ok(_permit) = permit else { return };
    if shared.is_stopping() {
        return;
    }
    let resuming = match &action {
        Action::Rotate { reason } => {
            info!(
                secret = m.label.as_str(),
                reason = reason.as_str(),
                "rotation due: rotating"
            );
            false
        }
        Action::Resume { token } => {
            info!(
                secret = m.label.as_str(),
                token = token.as_str(),
                "a rotation is pending (interrupted earlier): resuming it with its own token"
            );
            true
        }
        Action::Nothing => return,
    };
    shared.metrics.rotation_started(&m.label);
    let started = Instant::now();
    let result = if resuming {
        shared.engine.resume(m.store.as_ref(), &m.secret_id).await
    } else {
        shared.engine.rotate(m.store.as_ref(), &m.secret_id).await
    };
    let seconds = started.elapsed().as_secs_f64();
    shared
        .metrics
        .rotation_ended(&m.label, result.is_ok(), seconds);
    match result {
        Ok(report) => {
            backoff.succeeded();
            shared.metrics.set_last_rotated(&m.label, Utc::now());
            info!(
                secret = m.label.as_str(),
                token = report.token.as_str(),
                new_key_hash = report.new_key_hash.as_deref().unwrap_or(""),
                retired = report.retired.len(),
                duration_ms = report.duration_ms,
                "rotation finished"
            );
        }
        Err(e) => {
            let retry_soon = retry_soon(&e);
            let delay = backoff.failed(retry_soon);
            error!(
                secret = m.label.as_str(),
                error = %e,
                retryable = retry_soon,
                consecutive_failures = backoff.failures,
                retry_in_s = delay.as_secs(),
                "rotation failed; {}",
                if retry_soon {
                    "the daemon retries soon (the error is temporary)"
                } else {
                    "fix the cause named in the error (the daemon retries after a long pause; \
                     `rotor status TARGET` shows the secret's state)"
                }
            );
        }
    }
}

/// Retry soon: temporary failures, and lost races with another rotation (the next check sees its
/// pending version and resumes or waits for it).
fn retry_soon(e: &EngineError) -> bool {
    e.is_retryable() || e.kind() == ErrorKind::Conflict
}

/// Usage-aware retirement of the secret's older keys (grace period, drained traffic, disable
/// first), on every check when no rotation is due: samples usage, deletes what is due, reports
/// keys that keep receiving traffic past `max_retirement_wait` (`rotor_retirement_stuck`).
async fn retire_older_keys(shared: &Shared, m: &Managed) {
    match shared
        .engine
        .retire(m.store.as_ref(), &m.secret_id, false)
        .await
    {
        Ok(report) => {
            shared
                .metrics
                .set_retirement(&m.label, report.retired.len(), report.stuck);
            for k in &report.retired {
                info!(
                    secret = m.label.as_str(),
                    key_hash = k.key_hash.as_str(),
                    already_gone = k.already_gone,
                    "retired an older key"
                );
            }
            if report.stuck {
                error!(
                    secret = m.label.as_str(),
                    "an older key still receives traffic past max_retirement_wait and is NOT deleted; \
                     find who still uses it (`rotor status`), or delete it with `rotor retire --force`"
                );
            }
        }
        Err(e) => warn!(
            secret = m.label.as_str(),
            error = %e,
            "retiring older keys failed; the daemon tries again at the next check"
        ),
    }
}

/// `rotor_live_keys`: distinct keys of the current, previous and older records that work.
async fn refresh_live_keys(shared: &Shared, m: &Managed) {
    match shared.engine.status(m.store.as_ref(), &m.secret_id).await {
        Ok(status) => {
            let mut live = BTreeSet::new();
            for v in &status.versions {
                let settled = v.stages.iter().any(|s| s != Stage::Pending.aws_label());
                if let (true, Some(k)) = (settled, &v.key) {
                    if k.state.works() {
                        live.insert(k.key_hash.clone());
                    }
                }
            }
            for k in &status.older_keys {
                if k.state.works() {
                    live.insert(k.key_hash.clone());
                }
            }
            shared.metrics.set_live_keys(&m.label, live.len());
        }
        Err(e) => warn!(
            secret = m.label.as_str(),
            error = %e,
            "cannot read the secret's status for rotor_live_keys; keeping the last value"
        ),
    }
}
