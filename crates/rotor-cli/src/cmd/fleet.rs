//! Fleet operations: `rotor rotate|status|retire --config rotor.toml --all
//! [--concurrency N]`. Every secret of the config is handled, at most N at once; one secret's
//! failure never stops the others. A progress bar on a terminal (plain lines on stderr otherwise),
//! then a summary table (or `--json`); exit 5 when any secret failed (or, for `retire`, has a key
//! stuck past max_retirement_wait).
//!
//! Fleet rotation runs the four steps here with rotor's engine for every kind of target (like
//! `rotor rotate --local` for aws:// targets).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use rotor_core::SecretStore;
use rotor_core::engine::{Engine, SecretStatus};
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::args::{FleetArgs, OpenRouterArgs};
use crate::config::RotorConfig;
use crate::error::{CliError, Exit};
use crate::output::{Output, short};
use crate::target::Target;

/// Which operation to run on every secret.
#[derive(Debug, Clone, Copy)]
pub enum FleetOp {
    Rotate,
    Status,
    Retire { force: bool },
}

impl FleetOp {
    fn name(self) -> &'static str {
        match self {
            FleetOp::Rotate => "rotate",
            FleetOp::Status => "status",
            FleetOp::Retire { .. } => "retire",
        }
    }
}

/// How one secret fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    /// `retire`: a key still receives traffic past max_retirement_wait.
    Stuck,
    Failed,
}

/// One line of the summary.
#[derive(Debug, Clone, Serialize)]
pub struct FleetResult {
    pub target: String,
    pub outcome: Outcome,
    /// rotate: the new current key; status/retire: the current key.
    pub key_hash: Option<String>,
    pub duration_ms: u64,
    /// What happened, in a few words (retired keys, observing…).
    pub detail: String,
    pub error: Option<String>,
    /// `status` only: the full status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<SecretStatus>,
}

/// The `--json` summary.
#[derive(Debug, Serialize)]
pub struct FleetSummary {
    pub operation: &'static str,
    pub total: usize,
    pub succeeded: usize,
    pub stuck: usize,
    pub failed: usize,
    pub concurrency: usize,
    pub duration_ms: u64,
    /// How OpenRouter's rate limit slowed the run.
    pub rate_limit: RateLimitSummary,
    pub results: Vec<FleetResult>,
}

/// What the shared rate limiter saw during a fleet run.
#[derive(Debug, Serialize)]
pub struct RateLimitSummary {
    /// Requests that waited for the rate limit before going out.
    pub waits: u64,
    /// 429 answers OpenRouter sent (each retried after its wait).
    pub responses_429: u64,
}

/// Shows waiting for OpenRouter's rate limit while a fleet runs: in the progress bar's prefix on
/// a terminal, else one line on stderr each time requests start waiting.
fn watch_rate_limit(
    client: rotor_openrouter::Client,
    bar: Option<ProgressBar>,
    plain: bool,
    name: &'static str,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut was_waiting = false;
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            tick.tick().await;
            let s = client.rate_limit_status();
            let waiting = s.waiting > 0 || s.wait_left.is_some();
            let text = format!(
                "waiting for OpenRouter's rate limit ({} request(s), {:.1}s left)",
                s.waiting,
                s.wait_left.unwrap_or_default().as_secs_f64()
            );
            match &bar {
                Some(bar) if waiting => bar.set_prefix(format!("{name} - {text}")),
                Some(bar) if was_waiting => bar.set_prefix(name),
                None if plain && waiting && !was_waiting => eprintln!("rotor: {text}"),
                _ => {}
            }
            was_waiting = waiting;
        }
    })
}

pub async fn run(
    out: &Output,
    op: FleetOp,
    fleet: &FleetArgs,
    or: &OpenRouterArgs,
) -> Result<Exit, CliError> {
    let path = &crate::config::require(fleet.config.as_deref(), "--all")?;
    if fleet.concurrency == 0 {
        return Err(CliError::usage("--concurrency must be at least 1"));
    }
    let config = RotorConfig::load(path)?;
    if config.secrets.is_empty() {
        return Err(CliError::usage(format!(
            "config {}: no [[secrets]] to {}",
            path.display(),
            op.name()
        )));
    }
    let client = crate::management::client(&config.openrouter_args(or)).await?;
    let engine = Engine::new(client, config.policy()?);
    let targets: Vec<String> = config.secrets.iter().map(|s| s.target.clone()).collect();
    let total = targets.len();
    let started = Instant::now();

    let bar = (std::io::stderr().is_terminal() && !out.is_json() && !crate::logging::is_json())
        .then(|| {
            let bar = ProgressBar::new(total as u64);
            if let Ok(style) = ProgressStyle::with_template(
                "{spinner} {prefix} [{bar:30}] {pos}/{len} {wide_msg} ({elapsed})",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(op.name());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });

    let plain = !out.is_json() && !crate::logging::is_json();
    let watcher = watch_rate_limit(engine.client().clone(), bar.clone(), plain, op.name());

    let permits = Arc::new(Semaphore::new(fleet.concurrency));
    let stores = Arc::new(Stores::default());
    let mut tasks = JoinSet::new();
    for (index, target) in targets.iter().cloned().enumerate() {
        let engine = engine.clone();
        let permits = permits.clone();
        let stores = stores.clone();
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            (index, one(&engine, &stores, op, &target).await)
        });
    }
    let mut results: Vec<Option<FleetResult>> = vec![None; total];
    let mut done = 0usize;
    while let Some(joined) = tasks.join_next().await {
        let (index, result) = match joined {
            Ok(pair) => pair,
            // A panic in one secret's task: recorded as a failure below (its slot stays empty).
            Err(e) => {
                eprintln!("rotor: a fleet task failed unexpectedly: {e}");
                continue;
            }
        };
        done += 1;
        let line = format!(
            "{}: {}{}",
            result.target,
            match result.outcome {
                Outcome::Ok => "ok",
                Outcome::Stuck => "STUCK",
                Outcome::Failed => "FAILED",
            },
            result
                .error
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        );
        match &bar {
            Some(bar) => {
                if result.outcome != Outcome::Ok {
                    bar.println(&line);
                }
                bar.set_message(result.target.clone());
                bar.inc(1);
            }
            None if !out.is_json() && !crate::logging::is_json() => {
                eprintln!("[{done}/{total}] {line}")
            }
            None => {}
        }
        results[index] = Some(result);
    }
    watcher.abort();
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let results: Vec<FleetResult> = results
        .into_iter()
        .zip(targets)
        .map(|(r, target)| {
            r.unwrap_or(FleetResult {
                target,
                outcome: Outcome::Failed,
                key_hash: None,
                duration_ms: 0,
                detail: String::new(),
                error: Some("internal error: the task panicked".into()),
                status: None,
            })
        })
        .collect();
    let count = |o: Outcome| results.iter().filter(|r| r.outcome == o).count();
    let limiter = engine.client().rate_limit_status();
    let summary = FleetSummary {
        operation: op.name(),
        total,
        succeeded: count(Outcome::Ok),
        stuck: count(Outcome::Stuck),
        failed: count(Outcome::Failed),
        concurrency: fleet.concurrency,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        rate_limit: RateLimitSummary {
            waits: limiter.waits,
            responses_429: limiter.rate_limited,
        },
        results,
    };
    if out.is_json() {
        out.print_json(&summary);
    } else {
        print_table(&summary);
    }
    Ok(if summary.failed + summary.stuck > 0 {
        Exit::Partial
    } else {
        Exit::Ok
    })
}

/// The stores of a fleet, shared by all its secrets and opened on first use: one per backend
/// (one Vault session — client, connection pool, token lookup — and one Secrets Manager client
/// for every secret) and one per file-store directory. Opening a store for each secret cost a
/// new HTTP client and, on Vault, a login request per secret.
#[derive(Default)]
struct Stores(tokio::sync::Mutex<HashMap<String, Arc<dyn SecretStore>>>);

impl Stores {
    async fn open(&self, target: &Target) -> Result<Arc<dyn SecretStore>, CliError> {
        let key = match target {
            Target::File { dir, .. } => format!("file:{}", dir.display()),
            Target::Aws { .. } => "aws".to_owned(),
            Target::Vault { .. } => "vault".to_owned(),
        };
        let mut stores = self.0.lock().await;
        if let Some(store) = stores.get(&key) {
            return Ok(store.clone());
        }
        let store = target.open_store().await?;
        stores.insert(key, store.clone());
        Ok(store)
    }
}

async fn one(engine: &Engine, stores: &Stores, op: FleetOp, target: &str) -> FleetResult {
    let started = Instant::now();
    let result = run_one(engine, stores, op, target).await;
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match result {
        Ok((outcome, key_hash, detail, status)) => FleetResult {
            target: target.to_owned(),
            outcome,
            key_hash,
            duration_ms,
            detail,
            error: None,
            status,
        },
        Err(e) => FleetResult {
            target: target.to_owned(),
            outcome: Outcome::Failed,
            key_hash: None,
            duration_ms,
            detail: String::new(),
            error: Some(e.message),
            status: None,
        },
    }
}

type OneResult = (Outcome, Option<String>, String, Option<SecretStatus>);

async fn run_one(
    engine: &Engine,
    stores: &Stores,
    op: FleetOp,
    target: &str,
) -> Result<OneResult, CliError> {
    let target = Target::parse(target)?;
    let store = stores.open(&target).await?;
    let secret_id = target.secret_id();
    match op {
        FleetOp::Rotate => {
            let r = engine.rotate(store.as_ref(), &secret_id).await?;
            let detail = format!("{} older key(s) retired", r.retired.len());
            Ok((Outcome::Ok, r.new_key_hash, detail, None))
        }
        FleetOp::Status => {
            let s = engine.status(store.as_ref(), &secret_id).await?;
            let current = s
                .versions
                .iter()
                .find(|v| v.stages.iter().any(|st| st == "AWSCURRENT"))
                .and_then(|v| v.key.as_ref());
            let works = current.is_some_and(|k| k.state.works());
            let stuck = s
                .retirement
                .iter()
                .any(|k| matches!(k.decision, rotor_core::engine::RetireDecision::Stuck { .. }));
            let detail = format!(
                "current key {}, {} older key(s){}{}",
                if works { "works" } else { "DOES NOT WORK" },
                s.older_keys.len(),
                if s.pending_rotation.is_some() {
                    ", rotation in progress"
                } else {
                    ""
                },
                if stuck { ", a key is STUCK" } else { "" }
            );
            let outcome = if !works {
                Outcome::Failed
            } else if stuck {
                Outcome::Stuck
            } else {
                Outcome::Ok
            };
            let hash = current.map(|k| k.key_hash.clone());
            Ok((outcome, hash, detail, Some(s)))
        }
        FleetOp::Retire { force } => {
            let r = engine.retire(store.as_ref(), &secret_id, force).await?;
            let detail = format!(
                "{} retired, {} disabled, {} observing",
                r.retired.len(),
                r.disabled.len(),
                r.observing().count()
            );
            let outcome = if r.stuck { Outcome::Stuck } else { Outcome::Ok };
            Ok((outcome, None, detail, None))
        }
    }
}

fn print_table(s: &FleetSummary) {
    let width = s
        .results
        .iter()
        .map(|r| r.target.len())
        .max()
        .unwrap_or(6)
        .clamp(6, 60);
    println!(
        "{:<width$}  {:<7}  {:<12}  {:>8}  detail",
        "secret", "outcome", "key", "ms"
    );
    for r in &s.results {
        let outcome = match r.outcome {
            Outcome::Ok => "ok",
            Outcome::Stuck => "STUCK",
            Outcome::Failed => "FAILED",
        };
        println!(
            "{:<width$}  {:<7}  {:<12}  {:>8}  {}",
            r.target,
            outcome,
            r.key_hash.as_deref().map(short).unwrap_or("-"),
            r.duration_ms,
            r.error.as_deref().unwrap_or(&r.detail)
        );
    }
    println!(
        "{}: {} secret(s), {} ok, {} stuck, {} failed, concurrency {}, {:.1}s",
        s.operation,
        s.total,
        s.succeeded,
        s.stuck,
        s.failed,
        s.concurrency,
        s.duration_ms as f64 / 1000.0
    );
    if s.rate_limit.waits > 0 {
        println!(
            "OpenRouter's rate limit: {} request(s) waited, {} answered 429 and were retried",
            s.rate_limit.waits, s.rate_limit.responses_429
        );
    }
}
