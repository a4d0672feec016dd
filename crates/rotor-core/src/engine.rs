//! The rotation engine: the four steps of AWS Secrets Manager's rotation contract, against
//! OpenRouter, on any [`SecretStore`].
//!
//! # How to use the engine
//!
//! ```no_run
//! # async fn demo(store: &dyn rotor_core::SecretStore) -> Result<(), Box<dyn std::error::Error>> {
//! use rotor_core::engine::{Engine, Step};
//! use rotor_core::policy::Policy;
//! use rotor_openrouter::{ApiKey, Client, ClientConfig};
//!
//! let client = Client::new(ClientConfig::new(
//!     "https://openrouter.ai/api/v1",
//!     ApiKey::new(std::env::var("OPENROUTER_MANAGEMENT_KEY")?),
//! ))?;
//! let engine = Engine::new(client, Policy::from_env()?);
//!
//! // First key and secret (refused if the secret already has a current value):
//! engine.init(store, "prod/app", None).await?;
//! // A whole rotation with a fresh token (CLI `rotor rotate`):
//! let report = engine.rotate(store, "prod/app").await?;
//! // Finish a rotation that failed half-way, with its own token (`rotor rotate --resume`):
//! # let _ = report;
//! engine.resume(store, "prod/app").await?;
//! // One step, as the AWS Lambda does for each event (token = ClientRequestToken):
//! engine.step(store, "prod/app", "createSecret".parse::<Step>()?, "3f6c…").await?;
//! // What is stored and alive, without key material (`rotor status --json`):
//! let status = engine.status(store, "prod/app").await?;
//! # let _ = status;
//! # Ok(()) }
//! ```
//!
//! Build the engine once and reuse it (it holds the OpenRouter client's connection pool).
//!
//! # Guarantees
//!
//! * Every step first performs the checks of AWS's rotation templates (rotation enabled; the token
//!   is a version; already Current → no-op; must be Pending) and is idempotent: re-running any step
//!   after a crash at any point converges.
//! * No key is forgotten: every rotor key of a secret that is alive at OpenRouter is recorded in the
//!   current document (its own key or `older_keys`) or in the pending one, except in the unavoidable
//!   window between `POST /keys` and the pending write; the re-run of createSecret closes that window
//!   by finding the key by its tag (see [`crate::policy::rotor_tag`]) and deleting it.
//! * The old key is not deleted at finish: it stays valid for its grace period, and a later
//!   createSecret retires it ([`Engine::retire_due_keys`]).
//! * Nothing logs or returns key material; each step logs one structured `tracing` event.

// Errors carry the secret, step, token and the underlying error so messages can say what to do;
// they are built only on the cold path, so their size does not matter.
#![allow(clippy::result_large_err)]

mod clock;
mod error;
pub mod ledger;
mod report;
// Issue 6: retirement, rollback, revocation, orphan sweep (each an `impl Engine` block).
mod bounds;
mod retire;
mod revoke;
mod rollback;
mod sweep;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use rotor_openrouter::{
    Client, CreateKeyRequest, CreatedKey, Key, ListKeysOptions, UpdateKeyRequest,
};

use serde::{Deserialize, Serialize};
use tracing::{info, warn};

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{EngineError, ErrorKind, Scope};
pub use ledger::{Intent, Lease, LedgerDocument, Ownership, is_ledger_document};
pub use report::{
    AbandonReport, InitReport, KeyState, KeyStatus, OlderKeyStatus, RetiredKey, RotationReport,
    SecretStatus, StepOutcome, StepReport, VersionStatus,
};
pub use retire::{
    DeleteReason, DueAction, KeyRetirement, ReenableReport, RetireDecision, RetireReport,
};
pub use revoke::RevokeReport;
pub use rollback::RollbackReport;
pub use sweep::{OrphanKey, References, SweepReport};

use crate::policy::{Policy, PolicyOverrides, TestMode, rotor_tag, tag_of_name};
use crate::record::{KeyRecord, OlderKey};
use crate::store::{SecretDescription, SecretStore, Stage, StoreError, VersionSelector};

/// The token of the rotation in progress, or a Precondition error saying there is nothing to
/// `what` (resume, abandon...).
fn rotation_in_progress(
    desc: &SecretDescription,
    scope: Scope,
    what: &str,
) -> Result<String, EngineError> {
    pending_rotation(desc).map(str::to_owned).ok_or_else(|| EngineError::Precondition {
        scope,
        message: format!(
            "no rotation is in progress (no AWSPENDING version besides the current one); nothing to {what}"
        ),
    })
}

/// A step of the rotation contract. Parses from and prints as AWS's names (`createSecret`…).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Step {
    #[serde(rename = "createSecret")]
    CreateSecret,
    #[serde(rename = "setSecret")]
    SetSecret,
    #[serde(rename = "testSecret")]
    TestSecret,
    #[serde(rename = "finishSecret")]
    FinishSecret,
}

impl Step {
    /// The steps in the order a rotation runs them.
    pub const ALL: [Step; 4] = [
        Step::CreateSecret,
        Step::SetSecret,
        Step::TestSecret,
        Step::FinishSecret,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Step::CreateSecret => "createSecret",
            Step::SetSecret => "setSecret",
            Step::TestSecret => "testSecret",
            Step::FinishSecret => "finishSecret",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Step {
    type Err = EngineError;
    fn from_str(s: &str) -> Result<Self, EngineError> {
        Step::ALL.into_iter().find(|step| step.as_str() == s).ok_or_else(|| {
            let shown: String = s.chars().take(40).collect();
            EngineError::InvalidInput {
                message: format!(
                    "unknown rotation step {shown:?}: expected createSecret, setSecret, testSecret or finishSecret"
                ),
            }
        })
    }
}

/// The result of [`Engine::retire_due_keys`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Retirement {
    /// Older keys still inside their grace period (still alive, still recorded).
    pub kept: Vec<OlderKey>,
    /// Keys deleted (or found already gone).
    pub retired: Vec<RetiredKey>,
}

/// The rotation engine. Cheap to clone; build once and reuse.
#[derive(Debug, Clone)]
pub struct Engine {
    client: Client,
    defaults: Policy,
    clock: Arc<dyn Clock>,
    /// This worker's identity in leases (see [`ledger`]).
    holder: String,
}

/// A worker identity: host, process id, and a random id (so two engines never share one).
fn worker_identity() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".to_owned());
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}/pid {}/{}", std::process::id(), &id[..8])
}

enum TokenState {
    Current,
    Pending,
}

impl Engine {
    /// An engine using `client` (with the management key) and the policy `defaults`.
    pub fn new(client: Client, defaults: Policy) -> Self {
        Engine {
            client,
            defaults,
            clock: Arc::new(SystemClock),
            holder: worker_identity(),
        }
    }

    /// Replaces the clock (tests: a [`ManualClock`] lets grace periods pass).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Replaces the worker identity recorded in leases (tests and simulations name workers).
    pub fn with_holder(mut self, holder: impl Into<String>) -> Self {
        self.holder = holder.into();
        self
    }

    /// The policy defaults.
    pub fn defaults(&self) -> &Policy {
        &self.defaults
    }

    /// The OpenRouter client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Runs one step for rotation `token` (the Lambda's events, `rotor step`). createSecret and
    /// finishSecret run under the secret's lease (they create, promote and delete keys);
    /// finishSecret tests the key again before promoting it, since this call cannot know that
    /// testSecret passed. Logs one structured event with the outcome.
    pub async fn step(
        &self,
        store: &dyn SecretStore,
        secret_id: &str,
        step: Step,
        token: &str,
    ) -> Result<StepReport, EngineError> {
        match step {
            Step::CreateSecret | Step::FinishSecret => {
                let started = Instant::now();
                let scope = Scope::new(secret_id, Some(step), Some(token));
                // AWS's template checks first, read-only: a refused or no-op step takes no lease
                // and changes nothing.
                let checked = match self.describe(store, &scope).await {
                    Ok(desc) => check_token(&desc, &scope),
                    Err(e) => Err(e),
                };
                match checked {
                    Err(e) => return self.report_step(store, &scope, started, Err(e)),
                    Ok(TokenState::Current) => {
                        let done = self.already_current(store, &scope).await;
                        return self.report_step(store, &scope, started, Ok(done));
                    }
                    Ok(TokenState::Pending) => {}
                }
                let mut own = match self.take_lease(store, &scope, step.as_str()).await {
                    Ok(own) => own,
                    Err(e) => return self.report_step(store, &scope, started, Err(e)),
                };
                let result = self
                    .step_owned(store, secret_id, step, token, Some(&mut own), false)
                    .await;
                self.release(store, own).await;
                result
            }
            Step::SetSecret | Step::TestSecret => {
                self.step_owned(store, secret_id, step, token, None, false)
                    .await
            }
        }
    }

    /// One step; `own` is the lease when the caller holds it (createSecret and finishSecret need
    /// it), `tested` whether testSecret passed for this token in this run.
    async fn step_owned(
        &self,
        store: &dyn SecretStore,
        secret_id: &str,
        step: Step,
        token: &str,
        own: Option<&mut Ownership>,
        tested: bool,
    ) -> Result<StepReport, EngineError> {
        let started = Instant::now();
        let scope = Scope::new(secret_id, Some(step), Some(token));
        let result = match (step, own) {
            (Step::CreateSecret, Some(own)) => self.create_secret(store, &scope, token, own).await,
            (Step::SetSecret, _) => self.set_secret(store, &scope, token).await,
            (Step::TestSecret, _) => self.test_secret(store, &scope, token).await,
            (Step::FinishSecret, Some(own)) => {
                self.finish_secret(store, &scope, token, own, tested).await
            }
            (Step::CreateSecret | Step::FinishSecret, None) => Err(EngineError::Precondition {
                scope: scope.clone(),
                message: "internal: this step needs the secret's lease".into(),
            }),
        };
        self.report_step(store, &scope, started, result)
    }

    /// Logs a step's outcome (one structured event) and builds its report.
    fn report_step(
        &self,
        store: &dyn SecretStore,
        scope: &Scope,
        started: Instant,
        result: Result<StepDone, EngineError>,
    ) -> Result<StepReport, EngineError> {
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let secret_id = scope.secret.as_str();
        let step = scope.step.unwrap_or(Step::CreateSecret);
        let token = scope.token.as_deref().unwrap_or_default();
        match result {
            Ok(done) => {
                info!(
                    secret_id,
                    step = step.as_str(),
                    token,
                    key_hash = done.key_hash.as_deref().unwrap_or(""),
                    outcome = %done.outcome,
                    retired = done.retired.len(),
                    cleaned_up = done.cleaned_up.len(),
                    duration_ms,
                    backend = store.backend(),
                    "rotation step succeeded"
                );
                Ok(StepReport {
                    secret_id: secret_id.to_owned(),
                    step,
                    token: token.to_owned(),
                    outcome: done.outcome,
                    key_hash: done.key_hash,
                    retired: done.retired,
                    cleaned_up: done.cleaned_up,
                    duration_ms,
                })
            }
            Err(e) => {
                warn!(
                    secret_id,
                    step = step.as_str(),
                    token,
                    outcome = "failed",
                    retryable = e.is_retryable(),
                    duration_ms,
                    backend = store.backend(),
                    error = %e,
                    "rotation step failed"
                );
                Err(e)
            }
        }
    }

    /// A whole rotation with a fresh token: starts it (`begin_rotation`), then runs the four steps.
    /// Fails with [`EngineError::Conflict`] naming the pending token when another rotation is in
    /// progress (finish that one with [`resume`](Self::resume)).
    pub async fn rotate(
        &self,
        store: &dyn SecretStore,
        secret_id: &str,
    ) -> Result<RotationReport, EngineError> {
        let token = uuid::Uuid::new_v4().to_string();
        self.rotate_with_token(store, secret_id, &token).await
    }

    /// Like [`rotate`](Self::rotate) with a given token (re-running it with the same token resumes).
    /// The whole rotation runs under the secret's lease: a second worker is refused
    /// ([`EngineError::Busy`]) before it changes anything.
    pub async fn rotate_with_token(
        &self,
        store: &dyn SecretStore,
        secret_id: &str,
        token: &str,
    ) -> Result<RotationReport, EngineError> {
        let scope = Scope::new(secret_id, None, Some(token));
        // Read-only checks first: a refused rotation takes no lease and changes nothing
        // (rotate_owned checks again under the lease).
        self.check_rotatable(store, &scope, token).await?;
        let mut own = self.take_lease(store, &scope, "rotate").await?;
        let result = self.rotate_owned(store, secret_id, token, &mut own).await;
        self.release(store, own).await;
        result
    }

    async fn check_rotatable(
        &self,
        store: &dyn SecretStore,
        scope: &Scope,
        token: &str,
    ) -> Result<(), EngineError> {
        let desc = self.describe(store, scope).await?;
        if desc.rotation_enabled == Some(false) {
            return Err(EngineError::RotationDisabled {
                scope: scope.clone(),
            });
        }
        if desc.with_stage(Stage::Current).is_none() {
            return Err(EngineError::Precondition {
                scope: scope.clone(),
                message: "the secret has no current value to rotate; create it with `rotor init`"
                    .into(),
            });
        }
        if let Some(other) = pending_rotation(&desc).filter(|p| *p != token) {
            return Err(another_rotation(scope.clone(), other));
        }
        Ok(())
    }

    /// Whether the secret's ledger records intents (read-only): something for a new owner to
    /// recover even when no rotation is pending (a crash on a store whose pending mark lives
    /// in-process, Secrets Manager outside `RotateSecret`).
    async fn has_intents(
        &self,
        store: &dyn SecretStore,
        scope: &Scope,
    ) -> Result<bool, EngineError> {
        let entry = store
            .read_ledger(&scope.secret)
            .await
            .map_err(|e| store_err(scope.clone(), "reading the secret's ledger", e))?;
        Ok(entry
            .and_then(|e| LedgerDocument::parse(&e.document).ok())
            .is_some_and(|d| !d.intents.is_empty()))
    }

    async fn rotate_owned(
        &self,
        store: &dyn SecretStore,
        secret_id: &str,
        token: &str,
        own: &mut Ownership,
    ) -> Result<RotationReport, EngineError> {
        let scope = Scope::new(secret_id, None, Some(token));
        let desc = self.describe(store, &scope).await?;
        if desc.rotation_enabled == Some(false) {
            return Err(EngineError::RotationDisabled { scope });
        }
        if desc.with_stage(Stage::Current).is_none() {
            return Err(EngineError::Precondition {
                scope,
                message: "the secret has no current value to rotate; create it with `rotor init`"
                    .into(),
            });
        }
        if let Some(other) = pending_rotation(&desc).filter(|p| *p != token) {
            return Err(another_rotation(scope, other));
        }
        // Refuse before the store changes: the current document must be usable, its key must
        // belong to this account, and the rotation must fit the bounds (createSecret checks all
        // of these again).
        let current = self.read_current(store, &scope).await?;
        self.visible_key(&scope, "current", &current.key_hash)
            .await?;
        let policy = self.defaults.with_overrides(current.rotation.as_ref());
        self.check_bounds_preview(store, &scope, &current, &policy, desc.last_rotated)?;
        self.fence(store, &scope, own).await?;
        if let Err(e) = store.begin_rotation(secret_id, token).await {
            if let StoreError::Conflict { .. } = e {
                // Lost a race with another rotation: name its token if the store shows it now.
                if let Ok(desc) = store.describe(secret_id).await {
                    if let Some(other) = pending_rotation(&desc).filter(|p| *p != token) {
                        return Err(another_rotation(scope, other));
                    }
                }
            }
            return Err(store_err(
                scope,
                "starting the rotation (marking the new version AWSPENDING)",
                e,
            ));
        }
        let mut report = self.run_steps(store, secret_id, token, own).await?;
        report.recovered = std::mem::take(&mut own.recovered);
        Ok(report)
    }

    /// Finishes the rotation in progress (the Pending version that is not Current) with its own
    /// token, under the secret's lease. Taking the lease first recovers what a crashed worker
    /// left (keys created but never stored are deleted). Every step is idempotent, so this is
    /// safe whatever step failed before.
    pub async fn resume(
        &self,
        store: &dyn SecretStore,
        secret_id: &str,
    ) -> Result<RotationReport, EngineError> {
        let scope = Scope::new(secret_id, None, None);
        let desc = self.describe(store, &scope).await?;
        if pending_rotation(&desc).is_none() && !self.has_intents(store, &scope).await? {
            rotation_in_progress(&desc, scope, "resume")?;
            unreachable!("rotation_in_progress fails when nothing is pending");
        }
        let mut own = self.take_lease(store, &scope, "resume").await?;
        let result = async {
            let desc = self.describe(store, &scope).await?;
            let token = match rotation_in_progress(&desc, scope.clone(), "resume") {
                Ok(token) => token,
                Err(_) if !own.recovered.is_empty() => {
                    return Err(EngineError::Precondition {
                        scope: scope.clone(),
                        message: format!(
                            "an interrupted rotation left {} key(s) that were never stored ({}); rotor deleted \
                             them. No rotation is in progress any more: start a new one with `rotor rotate`",
                            own.recovered.len(),
                            own.recovered.join(", ")
                        ),
                    });
                }
                Err(e) => return Err(e),
            };
            let mut report = self.run_steps(store, secret_id, &token, &mut own).await?;
            report.recovered = std::mem::take(&mut own.recovered);
            Ok(report)
        }
        .await;
        self.release(store, own).await;
        result
    }

    /// Abandons the rotation in progress, under the secret's lease: deletes its new key at
    /// OpenRouter unless a stored document of the current or previous version records it, then
    /// removes AWSPENDING. The current value is untouched. Keys of the rotation that were created
    /// but never stored are found through its intent when the lease is taken. Use when a
    /// rotation cannot finish (its key fails testSecret, it was started by mistake).
    pub async fn abandon(
        &self,
        store: &dyn SecretStore,
        secret_id: &str,
    ) -> Result<AbandonReport, EngineError> {
        let scope = Scope::new(secret_id, None, None);
        let desc = self.describe(store, &scope).await?;
        if pending_rotation(&desc).is_none() && !self.has_intents(store, &scope).await? {
            rotation_in_progress(&desc, scope, "abandon")?;
            unreachable!("rotation_in_progress fails when nothing is pending");
        }
        let mut own = self.take_lease(store, &scope, "abandon").await?;
        let result = self.abandon_owned(store, secret_id, &mut own).await;
        self.release(store, own).await;
        result
    }

    async fn abandon_owned(
        &self,
        store: &dyn SecretStore,
        secret_id: &str,
        own: &mut Ownership,
    ) -> Result<AbandonReport, EngineError> {
        let scope = Scope::new(secret_id, None, None);
        let desc = self.describe(store, &scope).await?;
        let token = match rotation_in_progress(&desc, scope.clone(), "abandon") {
            Ok(token) => token,
            Err(_) if !own.recovered.is_empty() => {
                return Ok(AbandonReport {
                    secret_id: secret_id.to_owned(),
                    token: String::new(),
                    deleted_keys: std::mem::take(&mut own.recovered),
                });
            }
            Err(e) => return Err(e),
        };
        let scope = Scope::new(secret_id, None, Some(&token));
        // Keys Current or Previous (and their older keys) record stay: read under the lease, so
        // no promote or rollback can happen in between.
        let protected = self
            .recorded_hashes(store, &scope, &[Stage::Current, Stage::Previous], &[])
            .await?;
        let mut deleted = std::mem::take(&mut own.recovered);
        // A pending document that cannot be parsed records no key we could delete.
        let pending = match self.read_pending(store, &scope, &token).await {
            Ok(pending) => pending,
            Err(EngineError::Record { .. }) => None,
            Err(e) => return Err(e),
        };
        if let Some(pending) = &pending
            && !protected.contains(&pending.key_hash)
        {
            self.fence(store, &scope, own).await?;
            self.delete_key(&pending.key_hash).await.map_err(|e| {
                or_err(
                    &scope,
                    &format!("deleting the abandoned rotation's key {}", pending.key_hash),
                    e,
                )
            })?;
            deleted.push(pending.key_hash.clone());
        }
        self.fence(store, &scope, own).await?;
        store.clear_pending(secret_id, &token).await.map_err(|e| {
            store_err(
                scope.clone(),
                "removing AWSPENDING from the abandoned version",
                e,
            )
        })?;
        self.resolve_intent(store, &scope, own, &token).await?;
        info!(
            secret_id,
            token = token.as_str(),
            deleted = deleted.len(),
            "abandoned rotation"
        );
        Ok(AbandonReport {
            secret_id: secret_id.to_owned(),
            token,
            deleted_keys: deleted,
        })
    }

    async fn run_steps(
        &self,
        store: &dyn SecretStore,
        secret_id: &str,
        token: &str,
        own: &mut Ownership,
    ) -> Result<RotationReport, EngineError> {
        let started = Instant::now();
        let mut steps = Vec::with_capacity(4);
        let mut tested = false;
        for step in Step::ALL {
            let owned = matches!(step, Step::CreateSecret | Step::FinishSecret);
            let result = self
                .step_owned(
                    store,
                    secret_id,
                    step,
                    token,
                    if owned { Some(&mut *own) } else { None },
                    tested,
                )
                .await;
            match result {
                Ok(report) => {
                    tested |= step == Step::TestSecret;
                    steps.push(report)
                }
                Err(e) => {
                    return Err(EngineError::RotationIncomplete {
                        token: token.to_owned(),
                        step,
                        source: Box::new(e),
                    });
                }
            }
        }
        let new_key_hash = steps.iter().rev().find_map(|s| s.key_hash.clone());
        let retired = steps
            .iter()
            .flat_map(|s| s.retired.iter().cloned())
            .collect();
        Ok(RotationReport {
            secret_id: secret_id.to_owned(),
            token: token.to_owned(),
            steps,
            new_key_hash,
            retired,
            recovered: Vec::new(),
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        })
    }

    // ----------------------------------------------------------------------------------------
    // createSecret

    async fn create_secret(
        &self,
        store: &dyn SecretStore,
        scope: &Scope,
        token: &str,
        own: &mut Ownership,
    ) -> Result<StepDone, EngineError> {
        let secret_id = scope.secret.as_str();
        let desc = self.describe(store, scope).await?;
        if let TokenState::Current = check_token(&desc, scope)? {
            return Ok(self.already_current(store, scope).await);
        }
        let current = self.read_current(store, scope).await?;
        if let Some(pending) = self.read_pending(store, scope, token).await? {
            return Ok(StepDone::outcome(StepOutcome::AlreadyCreated).with_hash(pending.key_hash));
        }
        let policy = self.defaults.with_overrides(current.rotation.as_ref());

        // Confused-deputy guard, and the source of "copy the current key's settings": the current
        // key must be visible with this management key. Read-only, before anything changes.
        let current_key = self
            .visible_key(scope, "current", &current.key_hash)
            .await?;

        let now = self.clock.now();
        // The store's canonical id (an ARN on AWS), so a re-run finds the key whatever spelling of
        // the secret id the caller used.
        let tag = rotor_tag(&desc.secret_id, token);

        // The key AWSPREVIOUS holds stays alive until finishSecret has moved AWSPREVIOUS away
        // from it (an application reading AWSPREVIOUS must never get a deleted key); it stays
        // recorded in the new document, and finishSecret retires it if it is due. When the
        // previous document cannot be read, nothing is retired this time.
        let previous = self.previous_key(store, scope, &current).await?;
        let mut retirable = current.clone();
        let (protected_previous, rest): (Vec<OlderKey>, Vec<OlderKey>) = current
            .older_keys
            .iter()
            .cloned()
            .partition(|k| match &previous {
                PreviousKey::Key(hash) => &k.key_hash == hash,
                PreviousKey::None => false,
                PreviousKey::Unknown => true,
            });
        retirable.older_keys = rest;
        self.fence(store, scope, own).await?;
        let mut retirement = self
            .retire_due_keys(scope, &retirable, &policy, now, desc.last_rotated)
            .await?;
        retirement.kept.extend(protected_previous);

        let settings = policy.key_settings(Some(&current_key));
        let workspace_id = Some(current_key.workspace_id.clone()).filter(|w| !w.is_empty());
        let request = CreateKeyRequest {
            name: policy.key_name(secret_id, now, &tag),
            limit: settings.limit,
            limit_reset: settings.limit_reset,
            include_byok_in_limit: Some(settings.include_byok_in_limit),
            expires_at: policy.expires_after.and_then(|d| {
                chrono::Duration::from_std(d)
                    .ok()
                    .and_then(|d| now.checked_add_signed(d))
            }),
            creator_user_id: None,
            workspace_id: workspace_id.clone(),
        };
        let mut older_keys: Vec<OlderKey> = retirement
            .kept
            .into_iter()
            .filter(|k| k.key_hash != current.key_hash)
            .collect();
        older_keys.push(OlderKey::new(
            current.key_hash.clone(),
            current.key_name.clone(),
            current.created_at,
            now,
        ));

        // Bounds, before any key exists: the document must fit the store and the live keys the
        // policy. A refused rotation leaves nothing pending.
        let verdict = bounds::check(
            &older_keys,
            &policy,
            now,
            desc.last_rotated,
            store.max_value_bytes(),
            &KeyRecord {
                api_key: rotor_openrouter::ApiKey::new(bounds::PLACEHOLDER_KEY.to_owned()),
                key_hash: "0".repeat(64),
                key_name: request.name.clone(),
                created_at: now,
                expires_at: request.expires_at,
                rotation: current.rotation.clone(),
                older_keys: older_keys.clone(),
                extra: current.extra.clone(),
            },
        );
        if let Err(message) = verdict {
            self.drop_valueless_pending(store, scope, token).await;
            return Err(EngineError::Bounds {
                scope: scope.clone(),
                message,
            });
        }

        // The durable intent: from here on, a crash anywhere is recovered from the store alone.
        self.record_intent(store, scope, own, token, &tag, workspace_id.as_deref())
            .await?;
        let created = self.create_key(store, scope, own, &request, token).await?;
        let new_hash = created.data.hash.clone();
        // Stores that cannot hold an empty pending version across processes (Secrets Manager
        // outside a RotateSecret) cannot refuse a rotation that `RotateSecret` started meanwhile
        // (the service does not take rotor's lease); and PutSecretValue would silently move
        // AWSPENDING to this one. So look again, right before storing: the other one wins.
        if !store.begin_rotation_is_exclusive()
            && let Err(e) = self.refuse_other_rotation(store, scope, token).await
        {
            self.discard_unstored_key(store, scope, own, token, &new_hash)
                .await;
            return Err(e);
        }
        older_keys.retain(|k| k.key_hash != new_hash);
        let record = KeyRecord {
            api_key: created.key,
            key_hash: new_hash.clone(),
            key_name: created.data.name.clone(),
            created_at: created.data.created_at,
            expires_at: created.data.expires_at.or(request.expires_at),
            rotation: current.rotation.clone(),
            older_keys,
            extra: current.extra.clone(),
        };
        if let Err(lost) = self.fence(store, scope, own).await {
            // Another worker took the secret over while this one was creating its key: the key
            // is this worker's alone, unrecorded; delete it and stop.
            self.discard_unstored_key(store, scope, own, token, &new_hash)
                .await;
            return Err(lost);
        }
        self.store_pending(store, scope, own, token, &record)
            .await?;
        Ok(StepDone {
            outcome: StepOutcome::Created,
            key_hash: Some(new_hash),
            retired: retirement.retired,
            cleaned_up: std::mem::take(&mut own.recovered),
        })
    }

    /// Removes Pending from `token` when its version holds no value yet (a rotation refused
    /// before it created a key leaves nothing pending). Best effort.
    async fn drop_valueless_pending(&self, store: &dyn SecretStore, scope: &Scope, token: &str) {
        let sel = VersionSelector::version_in_stage(token, Stage::Pending);
        if let Err(StoreError::NotFound { .. }) = store.get_value(&scope.secret, &sel).await
            && let Err(e) = store.clear_pending(&scope.secret, token).await
        {
            warn!(secret_id = scope.secret.as_str(), token, error = %e,
                "could not remove AWSPENDING from the refused rotation; `rotor rotate --abandon` does");
        }
    }

    /// Deletes a key this worker created but will not store, and drops its intent. Deleting it
    /// needs no lease: no stored document and no other worker knows the key. On failure the
    /// intent stays (if this worker still owns the ledger), and the next owner deletes the key.
    async fn discard_unstored_key(
        &self,
        store: &dyn SecretStore,
        scope: &Scope,
        own: &mut Ownership,
        token: &str,
        hash: &str,
    ) -> Option<String> {
        match self.delete_key(hash).await.map_err(|e| e.to_string()) {
            Ok(_) => {
                if let Err(e) = self.resolve_intent(store, scope, own, token).await {
                    warn!(secret_id = scope.secret.as_str(), error = %e,
                        "could not drop the intent of a deleted key; the next run drops it");
                }
                None
            }
            Err(e) => {
                warn!(
                    secret_id = scope.secret.as_str(),
                    key_hash = hash,
                    error = %e,
                    "could not delete a key that will not be stored; the next run of any rotor command on this secret deletes it (its intent is recorded)"
                );
                Some(e)
            }
        }
    }

    /// `POST /keys`. A refusal (4xx) created nothing: the intent is dropped. Any other failure
    /// may hide a created key: the intent is recovered at once (the key is found by its tag and
    /// deleted) and the step fails retryably; if that recovery fails too, the intent stays for the
    /// next owner. Never leaves an unrecorded key.
    async fn create_key(
        &self,
        store: &dyn SecretStore,
        scope: &Scope,
        own: &mut Ownership,
        request: &CreateKeyRequest,
        token: &str,
    ) -> Result<CreatedKey, EngineError> {
        match self.client.create_key(request).await {
            Ok(created) => Ok(created),
            Err(e) if matches!(e.status(), Some(400 | 401 | 403 | 404 | 422)) => {
                let _ = self.resolve_intent(store, scope, own, token).await;
                Err(or_err(
                    scope,
                    "creating the new key at OpenRouter (POST /keys)",
                    e,
                ))
            }
            Err(e) => {
                let before = own.recovered.len();
                let cleanup = self.recover_intents(store, scope, own).await;
                let cleanup_note = match &cleanup {
                    Ok(()) if own.recovered.len() == before => {
                        "no key of this attempt exists".to_owned()
                    }
                    Ok(()) => format!(
                        "deleted the key it made (hash {})",
                        own.recovered[before..].join(", ")
                    ),
                    Err(c) => format!(
                        "could not check for a key of this attempt ({c}); its intent is recorded, so the next \
                         run of rotor on this secret deletes it"
                    ),
                };
                if e.is_outcome_unknown() {
                    Err(EngineError::OutcomeUnknown {
                        scope: scope.clone(),
                        message: format!(
                            "the request creating the new key (POST /keys) got no response; rotor looked the key \
                             up by its tag [rotor:{}] and {cleanup_note}. Nothing was stored; retrying \
                             createSecret is safe",
                            rotor_tag(&scope.secret, token)
                        ),
                    })
                } else {
                    Err(or_err(
                        scope,
                        &format!(
                            "creating the new key at OpenRouter (POST /keys; afterwards {cleanup_note})"
                        ),
                        e,
                    ))
                }
            }
        }
    }

    /// Writes the new document as pending. If the write surely failed, deletes the new key; if
    /// its outcome is unknown, leaves the intent, so the next owner keeps the key if it was
    /// stored and deletes it otherwise.
    async fn store_pending(
        &self,
        store: &dyn SecretStore,
        scope: &Scope,
        own: &mut Ownership,
        token: &str,
        record: &KeyRecord,
    ) -> Result<(), EngineError> {
        let secret_id = scope.secret.as_str();
        let Err(e) = store
            .put_pending(secret_id, token, &record.to_secret_string())
            .await
        else {
            return Ok(());
        };
        let landed = match &e {
            StoreError::Transient { .. } | StoreError::Backend { .. } => {
                match store
                    .get_value(
                        secret_id,
                        &VersionSelector::version_in_stage(token, Stage::Pending),
                    )
                    .await
                {
                    Ok(v) => Some(
                        KeyRecord::parse(&v.value, secret_id)
                            .is_ok_and(|r| r.key_hash == record.key_hash),
                    ),
                    Err(StoreError::NotFound { .. }) => Some(false),
                    Err(_) => None,
                }
            }
            _ => Some(false),
        };
        match landed {
            Some(true) => Ok(()),
            Some(false) => {
                let note = match self
                    .discard_unstored_key(store, scope, own, token, &record.key_hash)
                    .await
                {
                    None => format!(
                        "the new key (hash {}) was deleted again, nothing is left behind",
                        record.key_hash
                    ),
                    Some(d) => format!(
                        "deleting the new key (hash {}) failed too ({d}); its intent is recorded, so the next \
                         run of rotor on this secret deletes it",
                        record.key_hash
                    ),
                };
                Err(store_err(
                    scope.clone(),
                    &format!("storing the new key as pending ({note})"),
                    e,
                ))
            }
            None => Err(store_err(
                scope.clone(),
                &format!(
                    "storing the new key (hash {}) as pending (the outcome is unknown; its intent is recorded: \
                     the next run keeps the key if it was stored and deletes it otherwise)",
                    record.key_hash
                ),
                e,
            )),
        }
    }

    /// `DELETE /keys/{hash}`; `Ok(true)` when it was already gone (404).
    async fn delete_key(&self, hash: &str) -> Result<bool, rotor_openrouter::Error> {
        match self.client.delete_key(hash).await {
            Ok(()) => Ok(false),
            Err(e) if e.is_not_found() => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// Retires the older keys of `current` whose time has come (issue 6: grace period, then
    /// drained usage, optional disable-first; see [`Engine::retire`]) and returns the keys to keep
    /// recording, with their updated retirement state, in [`Retirement::kept`]. Never touches the
    /// current key. createSecret calls it, so the next rotation keeps at most two live keys once
    /// grace periods have passed and traffic has drained (keys still draining stay recorded).
    pub async fn retire_due_keys(
        &self,
        scope: &Scope,
        current: &KeyRecord,
        policy: &Policy,
        now: DateTime<Utc>,
        last_rotated: Option<DateTime<Utc>>,
    ) -> Result<Retirement, EngineError> {
        // Issue 6 wiring: the usage-aware retirement lives in engine/retire.rs.
        let plan = self
            .plan_retirement(scope, current, policy, now, last_rotated, retire::Mode::Act)
            .await?;
        Ok(Retirement {
            kept: retire::fix_grace(plan.kept, current, last_rotated),
            retired: plan.retired,
        })
    }

    // ----------------------------------------------------------------------------------------
    // setSecret

    async fn set_secret(
        &self,
        store: &dyn SecretStore,
        scope: &Scope,
        token: &str,
    ) -> Result<StepDone, EngineError> {
        let desc = self.describe(store, scope).await?;
        if let TokenState::Current = check_token(&desc, scope)? {
            return Ok(self.already_current(store, scope).await);
        }
        let pending = self.require_pending(store, scope, token).await?;
        let current = self.read_current(store, scope).await?;
        // Confused-deputy guard: both documents' keys must belong to this management key's account.
        let current_key = self
            .visible_key(scope, "current", &current.key_hash)
            .await?;
        if pending.key_hash == current.key_hash {
            // The pending value is the current one (RotateImmediately=false): leave the live key alone.
            return Ok(StepDone::outcome(StepOutcome::Unchanged).with_hash(pending.key_hash));
        }
        let pending_key = self
            .visible_key(scope, "pending", &pending.key_hash)
            .await?;
        let policy = self.defaults.with_overrides(pending.rotation.as_ref());
        let want = policy.key_settings(Some(&current_key));

        let mut request = UpdateKeyRequest::default();
        let mut fields = Vec::new();
        if pending_key.name != pending.key_name {
            request.name = Some(pending.key_name.clone());
            fields.push("name".to_owned());
        }
        if !same_limit(pending_key.limit, want.limit) {
            request.limit = Some(want.limit);
            fields.push("limit".to_owned());
        }
        if pending_key.limit_reset != want.limit_reset {
            request.limit_reset = Some(want.limit_reset);
            fields.push("limit_reset".to_owned());
        }
        if pending_key.include_byok_in_limit != want.include_byok_in_limit {
            request.include_byok_in_limit = Some(want.include_byok_in_limit);
            fields.push("include_byok_in_limit".to_owned());
        }
        if pending_key.disabled {
            request.disabled = Some(false);
            fields.push("disabled".to_owned());
        }
        if request.is_empty() {
            return Ok(StepDone::outcome(StepOutcome::Unchanged).with_hash(pending.key_hash));
        }
        self.client
            .update_key(&pending.key_hash, &request)
            .await
            .map_err(|e| {
                or_err(
                    scope,
                    &format!("updating the new key's settings ({})", fields.join(", ")),
                    e,
                )
            })?;
        Ok(StepDone::outcome(StepOutcome::Updated { fields }).with_hash(pending.key_hash))
    }

    // ----------------------------------------------------------------------------------------
    // testSecret

    async fn test_secret(
        &self,
        store: &dyn SecretStore,
        scope: &Scope,
        token: &str,
    ) -> Result<StepDone, EngineError> {
        let desc = self.describe(store, scope).await?;
        if let TokenState::Current = check_token(&desc, scope)? {
            return Ok(self.already_current(store, scope).await);
        }
        // Works whether or not createSecret ran (RotateImmediately=false: pending == current).
        let pending = self.require_pending(store, scope, token).await?;
        let policy = self.defaults.with_overrides(pending.rotation.as_ref());
        let now = self.clock.now();
        let fail = |message: String| EngineError::KeyCheck {
            scope: scope.clone(),
            message,
        };

        let key = match self.client.get_key(&pending.key_hash).await {
            Ok(key) => key,
            Err(e) if e.is_not_found() => {
                return Err(fail(format!(
                    "OpenRouter has no key with hash {} in this account (deleted, or another account's); \
                     abandon this rotation and start a new one",
                    pending.key_hash
                )));
            }
            Err(e) => {
                return Err(or_err(
                    scope,
                    "reading the new key's state (GET /keys/{hash})",
                    e,
                ));
            }
        };
        if key.disabled {
            return Err(fail(format!(
                "key {} is disabled at OpenRouter; run setSecret to re-enable it",
                key.hash
            )));
        }
        if key.expires_at.is_some_and(|t| t <= now) {
            return Err(fail(format!("key {} has expired at OpenRouter", key.hash)));
        }
        let me = match self.client.current_key(&pending.api_key).await {
            Ok(me) => me,
            Err(
                e @ (rotor_openrouter::Error::Unauthorized { .. }
                | rotor_openrouter::Error::Forbidden { .. }),
            ) => {
                return Err(fail(format!(
                    "OpenRouter does not accept the stored key ({e})"
                )));
            }
            Err(e) => return Err(or_err(scope, "calling GET /key with the new key", e)),
        };
        if me.is_management_key || me.is_provisioning_key {
            return Err(fail(
                "the stored api_key is a management key, not an ordinary API key".into(),
            ));
        }
        if me.label != key.label {
            return Err(fail(format!(
                "the stored api_key is not the key with hash {} (OpenRouter labels differ: {} vs {})",
                key.hash, me.label, key.label
            )));
        }
        if me.expires_at.is_some_and(|t| t <= now) {
            return Err(fail(format!("key {} has expired", key.hash)));
        }
        if policy.test_mode == TestMode::Completion {
            match self
                .client
                .chat_completion(&pending.api_key, &policy.test_model)
                .await
            {
                Ok(_) => {}
                Err(e) if e.is_transient() => {
                    return Err(or_err(
                        scope,
                        &format!("a test completion on {}", policy.test_model),
                        e,
                    ));
                }
                Err(e) => {
                    return Err(fail(format!(
                        "a test completion on {} failed: {e}",
                        policy.test_model
                    )));
                }
            }
        }
        Ok(StepDone::outcome(StepOutcome::Passed).with_hash(pending.key_hash))
    }

    // ----------------------------------------------------------------------------------------
    // finishSecret

    async fn finish_secret(
        &self,
        store: &dyn SecretStore,
        scope: &Scope,
        token: &str,
        own: &mut Ownership,
        tested: bool,
    ) -> Result<StepDone, EngineError> {
        let desc = self.describe(store, scope).await?;
        if let TokenState::Current = check_token(&desc, scope)? {
            return Ok(self.already_current(store, scope).await);
        }
        // Never promote a key that has not passed its test: unless testSecret passed in this
        // run, test it now (a lone `rotor step --step finishSecret`, a Lambda retry).
        if !tested {
            self.test_secret(store, scope, token).await?;
        }
        // Never promote a document applications could not read.
        let pending = self.require_pending(store, scope, token).await?;
        let Some(from) = desc.with_stage(Stage::Current).map(|v| v.id.clone()) else {
            return Err(EngineError::Precondition {
                scope: scope.clone(),
                message: "no version is AWSCURRENT, so there is nothing to promote from".into(),
            });
        };
        let current = self.read_current(store, scope).await?;
        // The pending document was built from the current one at createSecret: it records the
        // current key among its older keys (or is the current key itself, RotateImmediately=false).
        // If the current version changed since (another rotation finished in between), promoting
        // would leave the key being replaced recorded nowhere: refuse.
        if pending.key_hash != current.key_hash
            && !pending
                .older_keys
                .iter()
                .any(|k| k.key_hash == current.key_hash)
        {
            return Err(EngineError::Conflict {
                scope: scope.clone(),
                message: format!(
                    "the current key ({}) changed after this rotation's createSecret (another rotation \
                     finished in between), so promoting would forget it; abandon this rotation with \
                     `rotor rotate --abandon` (deletes its new key) and rotate again",
                    current.key_hash
                ),
            });
        }
        // The key AWSPREVIOUS holds before the promote (retired afterwards if due).
        let former_previous = match self.previous_key(store, scope, &current).await? {
            PreviousKey::Key(hash) => Some(hash),
            PreviousKey::None | PreviousKey::Unknown => None,
        };
        self.fence(store, scope, own).await?;
        match store.promote(&scope.secret, token, &from).await {
            Ok(()) => {
                let retired = self
                    .retire_after_promote(
                        scope,
                        former_previous.as_deref(),
                        &pending,
                        desc.last_rotated,
                    )
                    .await;
                let mut done = StepDone::outcome(StepOutcome::Promoted).with_hash(pending.key_hash);
                done.retired = retired;
                Ok(done)
            }
            Err(e @ StoreError::Conflict { .. }) => Err(EngineError::Conflict {
                scope: scope.clone(),
                message: format!(
                    "another promote moved AWSCURRENT away from version {from} first ({e}); run `rotor status`"
                ),
            }),
            Err(e) => Err(store_err(
                scope.clone(),
                "promoting the new version to AWSCURRENT",
                e,
            )),
        }
    }

    // ----------------------------------------------------------------------------------------
    // init

    /// Creates the first key and the secret. Refused when the secret already exists. If storing
    /// the secret fails, the key is deleted again.
    pub async fn init(
        &self,
        store: &dyn SecretStore,
        secret_id: &str,
        overrides: Option<PolicyOverrides>,
    ) -> Result<InitReport, EngineError> {
        let token = uuid::Uuid::new_v4().to_string();
        let scope = Scope::new(secret_id, None, Some(&token));
        match store.describe(secret_id).await {
            Ok(desc) => {
                let message = match desc.with_stage(Stage::Current) {
                    Some(v) => format!(
                        "the secret already has a current value (version {}); use `rotor rotate` to replace its key",
                        v.id
                    ),
                    None => "the secret already exists (without a current value); remove it or store a document \
                             by hand before `rotor init`"
                        .to_owned(),
                };
                return Err(EngineError::Precondition { scope, message });
            }
            Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(store_err(scope, "checking whether the secret exists", e)),
        }
        let policy = self.defaults.with_overrides(overrides.as_ref());
        let now = self.clock.now();
        let tag = rotor_tag(secret_id, &token);
        let settings = policy.key_settings(None);
        let request = CreateKeyRequest {
            name: policy.key_name(secret_id, now, &tag),
            limit: settings.limit,
            limit_reset: settings.limit_reset,
            include_byok_in_limit: Some(settings.include_byok_in_limit),
            expires_at: policy.expires_after.and_then(|d| {
                chrono::Duration::from_std(d)
                    .ok()
                    .and_then(|d| now.checked_add_signed(d))
            }),
            ..CreateKeyRequest::default()
        };
        let created = self.create_first_key(&scope, &request, &tag).await?;
        let record = KeyRecord {
            api_key: created.key,
            key_hash: created.data.hash.clone(),
            key_name: created.data.name.clone(),
            created_at: created.data.created_at,
            expires_at: created.data.expires_at.or(request.expires_at),
            rotation: overrides,
            older_keys: Vec::new(),
            extra: Default::default(),
        };
        if let Err(e) = store
            .create_secret(secret_id, &token, &record.to_secret_string())
            .await
        {
            let landed = match &e {
                StoreError::Transient { .. } | StoreError::Backend { .. } => {
                    match store
                        .get_value(secret_id, &VersionSelector::Stage(Stage::Current))
                        .await
                    {
                        Ok(v) => Some(
                            KeyRecord::parse(&v.value, secret_id)
                                .is_ok_and(|r| r.key_hash == record.key_hash),
                        ),
                        Err(StoreError::NotFound { .. }) => Some(false),
                        // The write may have landed: deleting the key could leave Current
                        // holding a deleted key. Keep it and say so.
                        Err(_) => None,
                    }
                }
                _ => Some(false),
            };
            if landed.is_none() {
                return Err(EngineError::OutcomeUnknown {
                    scope,
                    message: format!(
                        "creating the secret failed ({e}) and reading it back failed too, so rotor cannot tell \
                         whether the secret now holds the new key (hash {}); the key was kept. Run `rotor status`: \
                         if the secret exists it is ready; if not, delete the key with `rotor sweep --delete` and \
                         run `rotor init` again",
                        record.key_hash
                    ),
                });
            }
            if landed == Some(false) {
                let note = match self.delete_key(&record.key_hash).await {
                    Ok(_) => format!("the new key (hash {}) was deleted again", record.key_hash),
                    Err(d) => format!(
                        "deleting the new key (hash {}) failed too ({d}); delete it by hand",
                        record.key_hash
                    ),
                };
                return Err(store_err(
                    scope,
                    &format!("creating the secret ({note})"),
                    e,
                ));
            }
        }
        info!(
            secret_id,
            token = token.as_str(),
            key_hash = record.key_hash.as_str(),
            "initialised secret"
        );
        Ok(InitReport {
            secret_id: secret_id.to_owned(),
            version_id: token,
            key_hash: record.key_hash,
            key_name: record.key_name,
            expires_at: record.expires_at,
        })
    }

    /// `POST /keys` for `init`, where no store exists yet to hold an intent: when the outcome is
    /// unknown, finds the key by its tag (listing the default workspace, disabled and expired
    /// keys included) and deletes it.
    async fn create_first_key(
        &self,
        scope: &Scope,
        request: &CreateKeyRequest,
        tag: &str,
    ) -> Result<CreatedKey, EngineError> {
        let e = match self.client.create_key(request).await {
            Ok(created) => return Ok(created),
            Err(e) => e,
        };
        if matches!(e.status(), Some(400 | 401 | 403 | 404 | 422)) {
            return Err(or_err(
                scope,
                "creating the first key at OpenRouter (POST /keys)",
                e,
            ));
        }
        let mut deleted = Vec::new();
        let cleanup: Result<(), rotor_openrouter::Error> = async {
            let keys = self
                .client
                .list_keys(&ListKeysOptions {
                    include_disabled: true,
                    include_expired: true,
                    workspace_id: request.workspace_id.clone(),
                })
                .await?;
            for key in keys {
                if tag_of_name(&key.name) == Some(tag) {
                    self.delete_key(&key.hash).await?;
                    deleted.push(key.hash);
                }
            }
            Ok(())
        }
        .await;
        let note = match cleanup {
            Ok(()) if deleted.is_empty() => "no key of this attempt exists".to_owned(),
            Ok(()) => format!("deleted the key it made (hash {})", deleted.join(", ")),
            Err(c) => format!(
                "could not check for a key of this attempt ({c}); `rotor sweep --delete` finds it by its tag"
            ),
        };
        Err(EngineError::OutcomeUnknown {
            scope: scope.clone(),
            message: format!(
                "creating the first key (POST /keys) failed ({e}); rotor looked the key up by its tag [rotor:{tag}] \
                 and {note}. Nothing was stored; running `rotor init` again is safe"
            ),
        })
    }

    // ----------------------------------------------------------------------------------------
    // status

    /// Stages with their keys, whether each key works (as OpenRouter reports it to the management
    /// key), the older keys and when each becomes retirable. No key material.
    pub async fn status(
        &self,
        store: &dyn SecretStore,
        secret_id: &str,
    ) -> Result<SecretStatus, EngineError> {
        let scope = Scope::new(secret_id, None, None);
        let desc = self.describe(store, &scope).await?;
        let now = self.clock.now();
        let mut versions = Vec::new();
        let mut current_record = None;
        let mut staged: Vec<_> = desc
            .versions
            .iter()
            .filter(|v| !v.stages.is_empty())
            .collect();
        staged.sort_by_key(|v| v.stages.iter().min().copied());
        for v in staged {
            let stages = v.stages.iter().map(|s| s.aws_label().to_owned()).collect();
            let read = store
                .get_value(
                    secret_id,
                    &VersionSelector::Version {
                        id: v.id.clone(),
                        stage: None,
                    },
                )
                .await;
            let (key, problem) = match read {
                Ok(value) => match KeyRecord::parse(&value.value, secret_id) {
                    Ok(record) => {
                        let state = self.key_state(&record.key_hash, now).await;
                        let key = KeyStatus {
                            key_hash: record.key_hash.clone(),
                            key_name: record.key_name.clone(),
                            created_at: record.created_at,
                            age_seconds: (now - record.created_at).num_seconds(),
                            expires_at: record.expires_at,
                            state,
                        };
                        if v.has(Stage::Current) {
                            current_record = Some(record);
                        }
                        (Some(key), None)
                    }
                    Err(e) => (None, Some(e.to_string())),
                },
                Err(StoreError::NotFound { .. }) => (
                    None,
                    Some("no value yet (createSecret has not stored one)".into()),
                ),
                Err(e) => (None, Some(e.to_string())),
            };
            versions.push(VersionStatus {
                version_id: v.id.clone(),
                stages,
                key,
                problem,
            });
        }
        let policy = self
            .defaults
            .with_overrides(current_record.as_ref().and_then(|r| r.rotation.as_ref()));
        let mut older_keys = Vec::new();
        if let Some(current) = &current_record {
            let latest = current.older_keys.iter().map(|k| k.superseded_at).max();
            for older in &current.older_keys {
                let since = retire::grace_start(older, latest, desc.last_rotated);
                let retirable_at = policy.retirable_at(since);
                older_keys.push(OlderKeyStatus {
                    key_hash: older.key_hash.clone(),
                    key_name: older.key_name.clone(),
                    superseded_at: older.superseded_at,
                    retirable_at,
                    retirable_now: retirable_at <= now,
                    state: self.key_state(&older.key_hash, now).await,
                });
            }
        }
        Ok(SecretStatus {
            secret_id: secret_id.to_owned(),
            backend: store.backend().to_owned(),
            rotation_enabled: desc.rotation_enabled,
            last_rotated: desc.last_rotated,
            pending_rotation: pending_rotation(&desc).map(str::to_owned),
            versions,
            older_keys,
            grace_period_seconds: policy.grace_period.as_secs(),
            // Issue 6 wiring: what retirement would do now (no change anywhere).
            retirement: match &current_record {
                Some(current) => self
                    .plan_retirement(
                        &scope,
                        current,
                        &policy,
                        now,
                        desc.last_rotated,
                        retire::Mode::Preview,
                    )
                    .await
                    .map(|plan| plan.keys)
                    .unwrap_or_default(),
                None => Vec::new(),
            },
            observation_window_seconds: policy.observation_window.as_secs(),
            disable_first: policy.disable_first,
        })
    }

    async fn key_state(&self, hash: &str, now: DateTime<Utc>) -> KeyState {
        match self.client.get_key(hash).await {
            Ok(k) if k.disabled => KeyState::Disabled,
            Ok(k) if k.expires_at.is_some_and(|t| t <= now) => KeyState::Expired,
            Ok(k) => KeyState::Active {
                usage: k.usage,
                limit: k.limit,
            },
            Err(e) if e.is_not_found() => KeyState::Missing,
            Err(e) => KeyState::Unknown {
                error: e.to_string(),
            },
        }
    }

    // ----------------------------------------------------------------------------------------
    // shared reads

    /// The no-op result for a token that is already Current, naming its key where readable.
    async fn already_current(&self, store: &dyn SecretStore, scope: &Scope) -> StepDone {
        let token = scope.token.clone().unwrap_or_default();
        let selector = VersionSelector::Version {
            id: token,
            stage: None,
        };
        let hash = match store.get_value(&scope.secret, &selector).await {
            Ok(v) => KeyRecord::parse(&v.value, &scope.secret)
                .ok()
                .map(|r| r.key_hash),
            Err(_) => None,
        };
        StepDone {
            key_hash: hash,
            ..StepDone::outcome(StepOutcome::AlreadyCurrent)
        }
    }

    async fn describe(
        &self,
        store: &dyn SecretStore,
        scope: &Scope,
    ) -> Result<SecretDescription, EngineError> {
        store
            .describe(&scope.secret)
            .await
            .map_err(|e| store_err(scope.clone(), "describing the secret", e))
    }

    /// The key the AWSPREVIOUS document holds, when it is not `current`'s key. A read failure
    /// fails (rotor must not retire a key applications may still read as AWSPREVIOUS); a
    /// document rotor cannot parse is [`PreviousKey::Unknown`].
    async fn previous_key(
        &self,
        store: &dyn SecretStore,
        scope: &Scope,
        current: &KeyRecord,
    ) -> Result<PreviousKey, EngineError> {
        let value = match store
            .get_value(&scope.secret, &VersionSelector::Stage(Stage::Previous))
            .await
        {
            Ok(v) => v,
            Err(StoreError::NotFound { .. }) => return Ok(PreviousKey::None),
            Err(e) => {
                return Err(store_err(
                    scope.clone(),
                    "reading the AWSPREVIOUS value (its key must stay alive while applications can read it)",
                    e,
                ));
            }
        };
        Ok(match KeyRecord::parse(&value.value, &scope.secret) {
            Ok(previous) if previous.key_hash != current.key_hash => {
                PreviousKey::Key(previous.key_hash)
            }
            Ok(_) => PreviousKey::None,
            Err(_) => PreviousKey::Unknown,
        })
    }

    /// After finishSecret's promote: retires the key that AWSPREVIOUS held until now, if it is due
    /// (createSecret left it alive because applications could still read it as AWSPREVIOUS). Its
    /// entry stays in the (new) current document until the next retirement finds it gone. A
    /// failure here does not fail the step: the promote is done, and the next rotation or `rotor
    /// retire` retires the key.
    async fn retire_after_promote(
        &self,
        scope: &Scope,
        former_previous: Option<&str>,
        promoted: &KeyRecord,
        last_rotated: Option<DateTime<Utc>>,
    ) -> Vec<RetiredKey> {
        let Some(hash) = former_previous else {
            return Vec::new();
        };
        let mut record = promoted.clone();
        record.older_keys.retain(|k| k.key_hash == hash);
        if record.older_keys.is_empty() {
            return Vec::new();
        }
        let policy = self.defaults.with_overrides(promoted.rotation.as_ref());
        match self
            .retire_due_keys(scope, &record, &policy, self.clock.now(), last_rotated)
            .await
        {
            Ok(r) => r.retired,
            Err(e) => {
                warn!(
                    secret_id = scope.secret.as_str(),
                    key_hash = hash,
                    error = %e,
                    "could not retire the former AWSPREVIOUS key after promoting; the next rotation or `rotor retire` will"
                );
                Vec::new()
            }
        }
    }

    async fn read_current(
        &self,
        store: &dyn SecretStore,
        scope: &Scope,
    ) -> Result<KeyRecord, EngineError> {
        let value = match store
            .get_value(&scope.secret, &VersionSelector::Stage(Stage::Current))
            .await
        {
            Ok(v) => v,
            Err(StoreError::NotFound { .. }) => {
                return Err(EngineError::Precondition {
                    scope: scope.clone(),
                    message: "the secret has no AWSCURRENT value; create it with `rotor init`"
                        .into(),
                });
            }
            Err(e) => return Err(store_err(scope.clone(), "reading the AWSCURRENT value", e)),
        };
        KeyRecord::parse(&value.value, &scope.secret).map_err(|source| EngineError::Record {
            scope: scope.clone(),
            which: format!("AWSCURRENT (version {})", value.version_id),
            source,
        })
    }

    /// The pending document of `token`, `None` when the version has no value yet.
    async fn read_pending(
        &self,
        store: &dyn SecretStore,
        scope: &Scope,
        token: &str,
    ) -> Result<Option<KeyRecord>, EngineError> {
        let selector = VersionSelector::version_in_stage(token, Stage::Pending);
        let value = match store.get_value(&scope.secret, &selector).await {
            Ok(v) => v,
            Err(StoreError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(store_err(scope.clone(), "reading the AWSPENDING value", e)),
        };
        KeyRecord::parse(&value.value, &scope.secret)
            .map(Some)
            .map_err(|source| EngineError::Record {
                scope: scope.clone(),
                which: format!("AWSPENDING (version {token})"),
                source,
            })
    }

    async fn require_pending(
        &self,
        store: &dyn SecretStore,
        scope: &Scope,
        token: &str,
    ) -> Result<KeyRecord, EngineError> {
        self.read_pending(store, scope, token)
            .await?
            .ok_or_else(|| EngineError::Precondition {
                scope: scope.clone(),
                message: "the AWSPENDING version has no value yet; run createSecret first".into(),
            })
    }

    /// `GET /keys/{hash}`; a 404 means the key is not in this account: [`EngineError::ForeignKey`].
    async fn visible_key(
        &self,
        scope: &Scope,
        which: &'static str,
        hash: &str,
    ) -> Result<Key, EngineError> {
        match self.client.get_key(hash).await {
            Ok(key) => Ok(key),
            Err(e) if e.is_not_found() => Err(EngineError::ForeignKey {
                scope: scope.clone(),
                which,
                key_hash: hash.to_owned(),
            }),
            Err(e) => Err(or_err(
                scope,
                &format!("reading the {which} key {hash} (GET /keys/{{hash}})"),
                e,
            )),
        }
    }
}

/// The key AWSPREVIOUS holds, as far as rotor can tell.
enum PreviousKey {
    /// No previous version, or it holds the current key.
    None,
    /// This key (not the current one).
    Key(String),
    /// A previous document rotor cannot parse: protect every older key.
    Unknown,
}

/// What a step did, before the engine adds timing and identity.
struct StepDone {
    outcome: StepOutcome,
    key_hash: Option<String>,
    retired: Vec<RetiredKey>,
    cleaned_up: Vec<String>,
}

impl StepDone {
    fn outcome(outcome: StepOutcome) -> Self {
        StepDone {
            outcome,
            key_hash: None,
            retired: Vec::new(),
            cleaned_up: Vec::new(),
        }
    }
    fn with_hash(mut self, hash: String) -> Self {
        self.key_hash = Some(hash);
        self
    }
}

/// AWS's template checks, in order.
fn check_token(desc: &SecretDescription, scope: &Scope) -> Result<TokenState, EngineError> {
    if desc.rotation_enabled == Some(false) {
        return Err(EngineError::RotationDisabled {
            scope: scope.clone(),
        });
    }
    let token = scope.token.as_deref().unwrap_or_default();
    let Some(version) = desc.version(token) else {
        return Err(EngineError::UnknownToken {
            scope: scope.clone(),
        });
    };
    if version.has(Stage::Current) {
        return Ok(TokenState::Current);
    }
    if !version.has(Stage::Pending) {
        let stages = if version.stages.is_empty() {
            "none".to_owned()
        } else {
            version
                .stages
                .iter()
                .map(|s| s.aws_label())
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(EngineError::NotPending {
            scope: scope.clone(),
            stages,
        });
    }
    Ok(TokenState::Pending)
}

/// The token of the rotation in progress: a Pending version that is not Current.
fn pending_rotation(desc: &SecretDescription) -> Option<&str> {
    desc.versions
        .iter()
        .find(|v| v.has(Stage::Pending) && !v.has(Stage::Current))
        .map(|v| v.id.as_str())
}

impl Engine {
    /// The bound check of [`rotate`](Self::rotate) before it starts anything: the older keys
    /// still inside their grace period stay alive whatever retirement decides, so if they alone
    /// exceed the bound, refuse now (createSecret checks the exact figure again).
    fn check_bounds_preview(
        &self,
        store: &dyn SecretStore,
        scope: &Scope,
        current: &KeyRecord,
        policy: &Policy,
        last_rotated: Option<DateTime<Utc>>,
    ) -> Result<(), EngineError> {
        let now = self.clock.now();
        let latest = current.older_keys.iter().map(|k| k.superseded_at).max();
        let mut staying: Vec<OlderKey> = current
            .older_keys
            .iter()
            .filter(|k| policy.retirable_at(retire::grace_start(k, latest, last_rotated)) > now)
            .cloned()
            .collect();
        staying.push(OlderKey::new(
            current.key_hash.clone(),
            current.key_name.clone(),
            current.created_at,
            now,
        ));
        bounds::check_live_keys(&staying, policy, now, last_rotated).map_err(|message| {
            EngineError::Bounds {
                scope: scope.clone(),
                message,
            }
        })?;
        let _ = store;
        Ok(())
    }

    /// Fails with [`another_rotation`] when a rotation other than `token` is pending.
    async fn refuse_other_rotation(
        &self,
        store: &dyn SecretStore,
        scope: &Scope,
        token: &str,
    ) -> Result<(), EngineError> {
        let desc = self.describe(store, scope).await?;
        match pending_rotation(&desc) {
            Some(other) if other != token => Err(another_rotation(scope.clone(), other)),
            _ => Ok(()),
        }
    }
}

fn another_rotation(scope: Scope, other: &str) -> EngineError {
    EngineError::Conflict {
        message: format!(
            "another rotation (token {other}) is in progress; finish it with `rotor rotate --resume` or \
             `rotor step --step <step> --token {other}` before starting a new one"
        ),
        scope,
    }
}

fn store_err(scope: Scope, action: &str, source: StoreError) -> EngineError {
    EngineError::Store {
        scope,
        action: action.to_owned(),
        source,
    }
}

fn or_err(scope: &Scope, action: &str, source: rotor_openrouter::Error) -> EngineError {
    EngineError::OpenRouter {
        scope: scope.clone(),
        action: action.to_owned(),
        source,
    }
}

fn same_limit(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => (x - y).abs() < 1e-9,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_names() {
        for step in Step::ALL {
            assert_eq!(step.as_str().parse::<Step>().unwrap(), step);
            assert_eq!(step.to_string(), step.as_str());
        }
        let err = "create_secret".parse::<Step>().unwrap_err();
        assert!(
            err.to_string()
                .contains("unknown rotation step \"create_secret\""),
            "{err}"
        );
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!("CreateSecret".parse::<Step>().is_err());
    }
}
