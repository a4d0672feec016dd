//! `rotate` (a whole rotation with a fresh token, under the secret's lease) and `resume`, with the read-only checks that refuse them before anything changes.

#![allow(clippy::result_large_err)]

use super::key_memo;
use super::*;

/// The token of the rotation in progress, or a Precondition error saying there is nothing to
/// `what` (resume, abandon...).
pub(super) fn rotation_in_progress(
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

/// The token of the rotation in progress: a Pending version that is not Current.
pub(super) fn pending_rotation(desc: &SecretDescription) -> Option<&str> {
    desc.versions
        .iter()
        .find(|v| v.has(Stage::Pending) && !v.has(Stage::Current))
        .map(|v| v.id.as_str())
}

pub(super) fn another_rotation(scope: Scope, other: &str) -> EngineError {
    EngineError::Conflict {
        message: format!(
            "another rotation (token {other}) is in progress; finish it with `rotor rotate --resume` or \
             `rotor step --step <step> --token {other}` before starting a new one"
        ),
        scope,
    }
}

impl Engine {
    /// A whole rotation with a fresh token: starts it (`begin_rotation`), then runs the four steps.
    /// Fails with [`EngineError::Conflict`] naming the pending token when another rotation is in
    /// progress (finish that one with [`resume`](Self::resume)).
    pub async fn rotate(
        &self,
        store: &dyn SecretStore,
        secret_id: &str,
    ) -> Result<RotationReport, EngineError> {
        let store: &dyn SecretStore = &ReadCache::new(store);
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
        let store: &dyn SecretStore = &ReadCache::new(store);
        key_memo::with_key_memo(async move {
            let scope = Scope::new(secret_id, None, Some(token));
            // Read-only checks first: a refused rotation takes no lease and changes nothing
            // (rotate_owned checks again under the lease). The ledger is read before them, so
            // the lease's check-and-set from that revision lets these reads stand
            // (read_cache.rs).
            let _ = store.read_ledger(secret_id).await;
            self.check_rotatable(store, &scope, token).await?;
            // The intent goes into the lease's own check-and-set (ledger.rs).
            let intent = self.plan_intent(store, &scope, token).await?;
            let mut own = self
                .take_lease_with_intent(store, &scope, "rotate", intent.as_ref())
                .await?;
            let result = self.rotate_owned(store, secret_id, token, &mut own).await;
            self.release(store, own).await;
            result
        })
        .await
    }

    pub(super) async fn check_rotatable(
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
    pub(super) async fn has_intents(
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

    pub(super) async fn rotate_owned(
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
        self.check_bounds_preview(&scope, &current, &policy, desc.last_rotated)?;
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
        let store: &dyn SecretStore = &ReadCache::new(store);
        key_memo::with_key_memo(async move {
            let scope = Scope::new(secret_id, None, None);
            // The ledger first, so the lease's check-and-set lets the reads below stand.
            let _ = store.read_ledger(secret_id).await;
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
        })
        .await
    }

    /// The bound check of [`rotate`](Self::rotate) before it starts anything: the older keys
    /// still inside their grace period stay alive whatever retirement decides, so if they alone
    /// exceed the bound, refuse now (createSecret checks the exact figure again).
    pub(super) fn check_bounds_preview(
        &self,
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
        Ok(())
    }

    /// Fails with [`another_rotation`] when a rotation other than `token` is pending.
    pub(super) async fn refuse_other_rotation(
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
