//! The task of one configured secret: check it every `check_interval`, rotate (or resume) when
//! the schedule says so, retire older keys in between, back off after failures; until shutdown.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rotor_core::engine::{Engine, EngineError, ErrorKind};
use rotor_core::record::KeyRecord;
use rotor_core::{SecretDescription, SecretStore, Stage, VersionSelector};
use tokio::sync::{Semaphore, watch};
use tracing::{debug, error, info, warn};

use super::metrics::Metrics;
use super::schedule::{self, Decision};
use crate::config::Schedule;

/// Back-off of retryable failures: 1 s, 2 s, 4 s … up to 5 min.
const RETRY_BASE: Duration = Duration::from_secs(1);
const RETRY_CAP: Duration = Duration::from_secs(300);
/// Back-off of failures that need an operator (wrong key, refused precondition): 5 min … 1 h.
const PAUSE_BASE: Duration = Duration::from_secs(300);
const PAUSE_CAP: Duration = Duration::from_secs(3600);
/// How often `rotor_live_keys` is refreshed between rotations (it asks OpenRouter about each key).
const LIVE_KEYS_REFRESH: Duration = Duration::from_secs(60);

/// One configured secret, with its store opened.
pub(super) struct Managed {
    /// The target URI as configured (the `secret` label of the metrics).
    pub(super) label: String,
    pub(super) secret_id: String,
    pub(super) store: Arc<dyn SecretStore>,
    pub(super) schedule: Schedule,
    pub(super) window: Option<Duration>,
    /// Rotate when the current key expires within this long, whatever the schedule.
    pub(super) rotate_before_expiry: Option<Duration>,
}

/// What every secret task shares.
pub(super) struct Shared {
    pub(super) engine: Engine,
    pub(super) metrics: Arc<Metrics>,
    pub(super) permits: Arc<Semaphore>,
    pub(super) stopping: watch::Receiver<bool>,
    pub(super) check_interval: Duration,
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
pub(super) async fn secret_loop(shared: Arc<Shared>, m: Managed) {
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
