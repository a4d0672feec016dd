//! A step of the rotation contract ([`Step`]), running one step (the Lambda's events, `rotor step`) and the four in a row, and the structured event each step logs.

#![allow(clippy::result_large_err)]

use super::key_memo;
use super::ledger::LeaseRequest;
use super::*;

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

pub(super) enum TokenState {
    Current,
    Pending,
}

/// What a step did, before the engine adds timing and identity.
pub(super) struct StepDone {
    pub(super) outcome: StepOutcome,
    pub(super) key_hash: Option<String>,
    pub(super) retired: Vec<RetiredKey>,
    pub(super) cleaned_up: Vec<String>,
}

impl StepDone {
    pub(super) fn outcome(outcome: StepOutcome) -> Self {
        StepDone {
            outcome,
            key_hash: None,
            retired: Vec::new(),
            cleaned_up: Vec::new(),
        }
    }
    pub(super) fn with_hash(mut self, hash: String) -> Self {
        self.key_hash = Some(hash);
        self
    }
}

/// AWS's template checks, in order.
pub(super) fn check_token(
    desc: &SecretDescription,
    scope: &Scope,
) -> Result<TokenState, EngineError> {
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

impl Engine {
    /// Runs one step for rotation `token` (the Lambda's events, `rotor step`). createSecret and
    /// finishSecret run under the secret's lease (they create, promote and delete keys);
    /// finishSecret tests the key again before promoting it, since this call cannot know that
    /// testSecret passed. A createSecret whose pending document is already stored takes no
    /// lease. With [`Engine::with_lease_handover`] (the Lambda) a createSecret that stored its
    /// pending document leaves its lease to this rotation's finishSecret, which takes it over.
    /// Logs one structured event with the outcome.
    pub async fn step(
        &self,
        store: &dyn SecretStore,
        secret_id: &str,
        step: Step,
        token: &str,
    ) -> Result<StepReport, EngineError> {
        let store: &dyn SecretStore = &ReadCache::new(store);
        key_memo::with_key_memo(async move {
            match step {
                Step::CreateSecret | Step::FinishSecret => {
                    let started = Instant::now();
                    let scope = Scope::new(secret_id, Some(step), Some(token));
                    // AWS's template checks first, read-only: a refused or no-op step takes no lease
                    // and changes nothing. The ledger is read before them, so the lease's
                    // check-and-set from that revision lets these reads stand (read_cache.rs).
                    let _ = store.read_ledger(secret_id).await;
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
                    // createSecret's intent goes into the lease's own check-and-set; a pending
                    // document already stored means createSecret has nothing to do: no lease.
                    let mut request = LeaseRequest {
                        operation: step.as_str(),
                        ..LeaseRequest::default()
                    };
                    let intent = match step {
                        Step::CreateSecret => match self.plan_intent(store, &scope, token).await {
                            Ok(Some(intent)) => Some(intent),
                            Ok(None) => {
                                let done = self.already_created(store, &scope, token).await;
                                return self.report_step(store, &scope, started, done);
                            }
                            Err(e) => return self.report_step(store, &scope, started, Err(e)),
                        },
                        _ => None,
                    };
                    request.intent = intent.as_ref();
                    let hand_over = self.lease_handover && step == Step::CreateSecret;
                    if hand_over {
                        request.hand_over_to = Some(token);
                    }
                    // finishSecret may take over the lease its createSecret handed to it, once
                    // the pending document is stored (read after the ledger, so the lease's
                    // check-and-set keeps this read valid).
                    if step == Step::FinishSecret
                        && let Ok(Some(_)) = self.read_pending(store, &scope, token).await
                    {
                        request.pending_stored = Some(token);
                    }
                    let mut own = match self.acquire_lease(store, &scope, request).await {
                        Ok(own) => own,
                        Err(e) => return self.report_step(store, &scope, started, Err(e)),
                    };
                    let result = self
                        .step_owned(store, secret_id, step, token, Some(&mut own), false)
                        .await;
                    let handed_over = hand_over
                        && matches!(&result, Ok(report) if report.outcome == StepOutcome::Created);
                    if !handed_over {
                        self.release(store, own).await;
                    }
                    result
                }
                Step::SetSecret | Step::TestSecret => {
                    self.step_owned(store, secret_id, step, token, None, false)
                        .await
                }
            }
        })
        .await
    }

    /// One step; `own` is the lease when the caller holds it (createSecret and finishSecret need
    /// it), `tested` whether testSecret passed for this token in this run.
    pub(super) async fn step_owned(
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
    pub(super) fn report_step(
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

    pub(super) async fn run_steps(
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
}
