//! `--dry-run`: what a mutating operation would do, read from the store and OpenRouter, without
//! changing anything (no lease, no store write, no key created, changed or deleted).

#![allow(clippy::result_large_err)]

use chrono::{DateTime, Utc};
use rotor_openrouter::LimitReset;
use serde::Serialize;

use super::retire::{DueAction, Mode, RetireDecision};
use super::rotate::another_rotation;
use super::*;
use crate::store::{SecretStore, Stage, StoreError};

/// The operation to plan.
#[derive(Debug, Clone)]
pub enum PlanOp {
    Init(Option<PolicyOverrides>),
    Rotate,
    Abandon,
    Retire { force: bool },
    Rollback,
    Revoke { key_hash: Option<String> },
}

impl PlanOp {
    fn name(&self) -> &'static str {
        match self {
            PlanOp::Init(_) => "init",
            PlanOp::Rotate => "rotate",
            PlanOp::Abandon => "abandon",
            PlanOp::Retire { force: false } => "retire",
            PlanOp::Retire { force: true } => "retire --force",
            PlanOp::Rollback => "rollback",
            PlanOp::Revoke { key_hash: None } => "revoke",
            PlanOp::Revoke { key_hash: Some(_) } => "revoke --hash",
        }
    }
}

/// The key an operation would create.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewKeyPlan {
    /// The name (the rotation tag is only known once the rotation starts: `[rotor:…]`).
    pub name: String,
    pub limit: Option<f64>,
    pub limit_reset: Option<LimitReset>,
    pub include_byok_in_limit: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub workspace_id: Option<String>,
    /// Guardrails the new key would be assigned to (the current key's).
    pub guardrails: Vec<String>,
}

/// One change an operation would make.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum PlannedChange {
    CreateSecret,
    CreateKey {
        key: NewKeyPlan,
    },
    /// The new key would become current; this key would become previous.
    Promote {
        replaces_key_hash: String,
    },
    /// This (previous) key would become current again.
    Restore {
        key_hash: String,
    },
    DisableKey {
        key_hash: String,
        reason: String,
    },
    DeleteKey {
        key_hash: String,
        reason: String,
    },
    /// The pending rotation would be given up.
    ClearPending {
        token: String,
    },
}

/// What an operation would do (`--dry-run`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DryRun {
    pub secret_id: String,
    pub operation: String,
    /// The changes, in order; empty when there is nothing to do.
    pub changes: Vec<PlannedChange>,
    /// Why the operation would be refused (then nothing would change).
    pub refused: Option<String>,
}

impl Engine {
    /// Plans `op` on the secret: reads only.
    pub async fn dry_run(
        &self,
        store: &dyn SecretStore,
        secret_id: &str,
        op: PlanOp,
    ) -> Result<DryRun, EngineError> {
        let store: &dyn SecretStore = &ReadCache::new(store);
        let mut plan = DryRun {
            secret_id: secret_id.to_owned(),
            operation: op.name().to_owned(),
            changes: Vec::new(),
            refused: None,
        };
        match self
            .plan_changes(store, secret_id, &op, &mut plan.changes)
            .await
        {
            Ok(()) => {}
            Err(e) if e.kind() != ErrorKind::Upstream => {
                plan.changes.clear();
                plan.refused = Some(e.to_string());
            }
            Err(e) => return Err(e),
        }
        Ok(plan)
    }

    async fn plan_changes(
        &self,
        store: &dyn SecretStore,
        secret_id: &str,
        op: &PlanOp,
        changes: &mut Vec<PlannedChange>,
    ) -> Result<(), EngineError> {
        let scope = Scope::new(secret_id, None, None);
        if let PlanOp::Init(overrides) = op {
            match store.describe(secret_id).await {
                Ok(_) => {
                    return Err(EngineError::Precondition {
                        scope,
                        message: "the secret already exists; use `rotor rotate` to replace its key"
                            .into(),
                    });
                }
                Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(store_err(scope, "checking whether the secret exists", e)),
            }
            let policy = self.defaults.with_overrides(overrides.as_ref());
            bounds::check_expiry(&policy).map_err(|message| EngineError::InvalidInput {
                message: format!("secret {secret_id}: {message}"),
            })?;
            changes.push(PlannedChange::CreateKey {
                key: self.new_key_plan(secret_id, &policy, None, Vec::new()),
            });
            changes.push(PlannedChange::CreateSecret);
            return Ok(());
        }
        self.check_lease_free(store, &scope).await?;
        match op {
            PlanOp::Init(_) => unreachable!("handled above"),
            PlanOp::Rotate => self.plan_rotation(store, &scope, changes).await,
            PlanOp::Revoke { key_hash: None } => {
                self.plan_rotation(store, &scope, changes).await?;
                let current = self.read_current(store, &scope).await?;
                for k in current.referenced_hashes() {
                    changes.push(PlannedChange::DeleteKey {
                        key_hash: k.to_owned(),
                        reason: "revoked: every older key is deleted right after the rotation"
                            .into(),
                    });
                }
                Ok(())
            }
            PlanOp::Revoke {
                key_hash: Some(hash),
            } => {
                let current = self.read_current(store, &scope).await?;
                if current.key_hash == *hash {
                    return Err(EngineError::Precondition {
                        scope,
                        message: format!(
                            "key {hash} is the current key; revoke it with `rotor revoke` (without --hash)"
                        ),
                    });
                }
                let recorded = self
                    .recorded_hashes(store, &scope, &[Stage::Current, Stage::Previous], &[])
                    .await?;
                if !recorded.contains(hash) {
                    return Err(EngineError::Precondition {
                        scope,
                        message: format!("key {hash} is not recorded by this secret"),
                    });
                }
                changes.push(PlannedChange::DeleteKey {
                    key_hash: hash.clone(),
                    reason: "revoked".into(),
                });
                Ok(())
            }
            PlanOp::Abandon => {
                let desc = self.describe(store, &scope).await?;
                let token = rotation_in_progress(&desc, scope.clone(), "abandon")?;
                let protected = self
                    .recorded_hashes(store, &scope, &[Stage::Current, Stage::Previous], &[])
                    .await?;
                if let Ok(Some(pending)) = self.read_pending(store, &scope, &token).await
                    && !protected.contains(&pending.key_hash)
                {
                    changes.push(PlannedChange::DeleteKey {
                        key_hash: pending.key_hash,
                        reason: "the abandoned rotation's new key".into(),
                    });
                }
                changes.push(PlannedChange::ClearPending { token });
                Ok(())
            }
            PlanOp::Retire { force } => {
                let desc = self.describe(store, &scope).await?;
                let current = self.read_current(store, &scope).await?;
                if *force {
                    for k in &current.older_keys {
                        changes.push(PlannedChange::DeleteKey {
                            key_hash: k.key_hash.clone(),
                            reason: "forced".into(),
                        });
                    }
                    return Ok(());
                }
                let policy = self.defaults.with_overrides(current.rotation.as_ref());
                let preview = self
                    .retire_or_preview(
                        &scope,
                        &current,
                        &policy,
                        self.clock.now(),
                        desc.last_rotated,
                        Mode::Preview,
                    )
                    .await?;
                push_due(&preview.keys, changes);
                Ok(())
            }
            PlanOp::Rollback => {
                let desc = self.describe(store, &scope).await?;
                if let Some(other) = pending_rotation(&desc) {
                    return Err(another_rotation(scope, other));
                }
                let current = self.read_current(store, &scope).await?;
                let previous = match self.previous_key(store, &scope, &current).await? {
                    PreviousKey::Key(hash) => hash,
                    _ => {
                        return Err(EngineError::Precondition {
                            scope,
                            message: "there is no previous key to roll back to".into(),
                        });
                    }
                };
                match self.client.get_key(&previous).await {
                    Ok(_) => {}
                    Err(e) if e.is_not_found() => {
                        return Err(EngineError::Precondition {
                            scope,
                            message: format!("the previous key {previous} is already gone"),
                        });
                    }
                    Err(e) => return Err(openrouter_error(&scope, "reading the previous key", e)),
                }
                changes.push(PlannedChange::Restore { key_hash: previous });
                Ok(())
            }
        }
    }

    /// Refuses (as the operation would) while another worker holds the secret's lease.
    async fn check_lease_free(
        &self,
        store: &dyn SecretStore,
        scope: &Scope,
    ) -> Result<(), EngineError> {
        let entry = store
            .read_ledger(&scope.secret)
            .await
            .map_err(|e| store_err(scope.clone(), "reading the secret's ledger", e))?;
        let lease = entry
            .and_then(|e| LedgerDocument::parse(&e.document).ok())
            .and_then(|d| d.lease);
        match lease {
            Some(l) if l.expires_at > self.clock.now() => Err(EngineError::Busy {
                scope: scope.clone(),
                holder: l.holder,
                operation: l.operation,
                until: l.expires_at,
            }),
            _ => Ok(()),
        }
    }

    async fn plan_rotation(
        &self,
        store: &dyn SecretStore,
        scope: &Scope,
        changes: &mut Vec<PlannedChange>,
    ) -> Result<(), EngineError> {
        self.check_rotatable(store, scope, "").await?;
        let desc = self.describe(store, scope).await?;
        let current = self.read_current(store, scope).await?;
        let current_key = self
            .visible_key(scope, "current", &current.key_hash)
            .await?;
        let policy = self.defaults.with_overrides(current.rotation.as_ref());
        self.check_bounds_preview(scope, &current, &policy, desc.last_rotated)?;
        bounds::check_expiry(&policy).map_err(|message| EngineError::Bounds {
            scope: scope.clone(),
            message,
        })?;
        let guardrails = match self.client.list_key_assignments().await {
            Ok(a) => a
                .into_iter()
                .filter(|a| a.key_hash == current.key_hash)
                .map(|a| a.guardrail_id)
                .collect(),
            Err(e) if e.is_not_found() => Vec::new(),
            Err(e) => return Err(openrouter_error(scope, "listing guardrail assignments", e)),
        };
        // Older keys a rotation would retire (the one AWSPREVIOUS holds waits for the promote).
        let previous = self.previous_key(store, scope, &current).await?;
        let mut retirable = current.clone();
        retirable.older_keys.retain(|k| match &previous {
            PreviousKey::Key(h) => &k.key_hash != h,
            PreviousKey::None => true,
            PreviousKey::Unknown => false,
        });
        let preview = self
            .retire_or_preview(
                scope,
                &retirable,
                &policy,
                self.clock.now(),
                desc.last_rotated,
                Mode::Preview,
            )
            .await?;
        push_due(&preview.keys, changes);
        changes.push(PlannedChange::CreateKey {
            key: self.new_key_plan(&desc.secret_id, &policy, Some(&current_key), guardrails),
        });
        changes.push(PlannedChange::Promote {
            replaces_key_hash: current.key_hash,
        });
        Ok(())
    }

    fn new_key_plan(
        &self,
        secret_id: &str,
        policy: &Policy,
        current: Option<&Key>,
        guardrails: Vec<String>,
    ) -> NewKeyPlan {
        let now = self.clock.now();
        let settings = policy.key_settings(current);
        NewKeyPlan {
            name: policy.key_name(secret_id, now, "…"),
            limit: settings.limit,
            limit_reset: settings.limit_reset,
            include_byok_in_limit: settings.include_byok_in_limit,
            expires_at: policy.expires_after.and_then(|d| {
                chrono::Duration::from_std(d)
                    .ok()
                    .and_then(|d| now.checked_add_signed(d))
            }),
            workspace_id: current
                .map(|k| k.workspace_id.clone())
                .filter(|w| !w.is_empty()),
            guardrails,
        }
    }
}

fn push_due(keys: &[super::KeyRetirement], changes: &mut Vec<PlannedChange>) {
    for k in keys {
        match &k.decision {
            RetireDecision::Due {
                action: DueAction::Delete,
            } => changes.push(PlannedChange::DeleteKey {
                key_hash: k.key_hash.clone(),
                reason: "its grace period passed and its traffic drained".into(),
            }),
            RetireDecision::Due {
                action: DueAction::Disable,
            } => changes.push(PlannedChange::DisableKey {
                key_hash: k.key_hash.clone(),
                reason: "drained; disable_first".into(),
            }),
            RetireDecision::Deleted { .. } => changes.push(PlannedChange::DeleteKey {
                key_hash: k.key_hash.clone(),
                reason: "already gone at OpenRouter: no longer recorded".into(),
            }),
            _ => {}
        }
    }
}
