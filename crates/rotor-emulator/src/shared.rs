//! What every handler shares: the state behind one mutex, the configuration it runs with, and
//! how a change is persisted.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{Arc, Mutex, MutexGuard},
    time::Instant,
};

use crate::{RateLimit, RetryAfterMode, control::Fault, error::ApiError, state::State};

/// What the handlers share.
pub(crate) struct Shared {
    inner: Mutex<Inner>,
    pub state_file: Option<PathBuf>,
    pub completion_cost: f64,
    pub rate_limit: Option<RateLimit>,
    pub retry_after: RetryAfterMode,
    pub test_controls: bool,
}

/// One management key's rate-limit window.
pub(crate) struct RateWindow {
    pub start: Instant,
    /// When the window ends, in Unix milliseconds (`X-RateLimit-Reset`).
    pub reset_ms: i64,
    pub count: u32,
    /// 429s answered so far (decides which carry `Retry-After`).
    pub refusals: u64,
}

/// Everything mutable, behind one mutex.
pub(crate) struct Inner {
    pub state: State,
    /// Pending faults, in injection order; `count` is what remains.
    pub faults: Vec<Fault>,
    pub counters: BTreeMap<String, u64>,
    /// Per account index: the current rate-limit window.
    pub rate_windows: BTreeMap<usize, RateWindow>,
}

impl Shared {
    pub fn new(state: State, state_file: Option<PathBuf>, config: &crate::EmulatorConfig) -> Self {
        Shared {
            inner: Mutex::new(Inner {
                state,
                faults: Vec::new(),
                counters: BTreeMap::new(),
                rate_windows: BTreeMap::new(),
            }),
            state_file,
            completion_cost: config.completion_cost,
            rate_limit: config.rate_limit,
            retry_after: config.retry_after,
            test_controls: config.test_controls,
        }
    }

    /// The state. A handler that panicked while holding the lock leaves no half-applied change
    /// (every handler validates before it mutates), so a poisoned lock is recovered.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Closes the connection a request came in on without writing a response (commit-then-drop).
/// Inserted into every request's extensions by the connection loop.
#[derive(Clone)]
pub(crate) struct ConnectionAbort(pub Arc<tokio::sync::Notify>);

/// Writes the state file (when one is configured) after a change.
pub(crate) fn persist(inner: &Inner, shared: &Shared) -> Result<(), ApiError> {
    if let Some(path) = &shared.state_file {
        inner.state.save(path).map_err(|e| {
            tracing::error!(error = %e, "could not persist emulator state");
            ApiError::internal()
        })?;
    }
    Ok(())
}
