//! Usage-aware retirement of older keys: grace period, then "traffic has drained" (the
//! key's `usage` at OpenRouter stopped growing over the policy's `observation_window`), then
//! optionally disable first and delete `disable_delay` later. A key still receiving traffic past
//! `max_retirement_wait` is never deleted without `force`: it is reported as stuck.
//!
//! # Where the retirement state lives
//!
//! Samples (time, usage), `disabled_at` and the fixed start of the grace period are recorded in the
//! current document's `older_keys` entries (no key material). A stored value never changes, so
//! [`Engine::retire`] persists a changed state by writing a *bookkeeping version*: a copy of the
//! current document (same `api_key`) with the updated `older_keys`, through the staged lifecycle
//! with a fresh token (`begin_rotation`, `put_pending`, `promote`). Applications keep reading the
//! same key; every live key stays recorded in whichever version is current at every instant, and a
//! crash between the calls leaves at worst a pending copy of the current document (`rotor rotate
//! --resume` promotes it, `rotor rotate` reports it). Writes are throttled: at most one per
//! observation window per key while its traffic continues, none while nothing changes. Trade-offs:
//! after a bookkeeping write AWSPREVIOUS holds the current key (rollback is possible only before
//! retirement of the previous key starts, i.e. within its grace period), and the store's
//! `last_rotated` moves (rotor fixes each key's `grace_started_at` in the same write, so grace
//! periods do not move with it). The next rotation's createSecret carries the state forward in the
//! document it writes anyway.

use crate::read_cache::ReadCache;
use std::time::Instant;

use chrono::{DateTime, Utc};
use rotor_openrouter::UpdateKeyRequest;
use serde::Serialize;
use tracing::{error, info, warn};

use super::bookkeeping::pin_grace_starts;
pub(crate) use super::retire_decision::grace_start;
use super::retire_decision::{Action, Observed, Verdict, decide, needs_observation};
pub use super::retire_decision::{DeleteReason, DueAction, KeyRetirement, RetireDecision};
use super::{Engine, EngineError, RetiredKey, Scope, openrouter_error, pending_rotation};
use crate::policy::Policy;
use crate::record::{KeyRecord, OlderKey};
use crate::store::{SecretStore, Stage};

/// The result of [`Engine::retire`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetireReport {
    pub secret_id: String,
    /// Every older key that was recorded, with what happened to it.
    pub keys: Vec<KeyRetirement>,
    /// Keys deleted now (or found already gone).
    pub retired: Vec<RetiredKey>,
    /// Keys disabled now (`disable_first`).
    pub disabled: Vec<String>,
    /// At least one key still receives traffic past `max_retirement_wait` (metric/alert hook).
    pub stuck: bool,
    /// The bookkeeping version written to save the retirement state, if any.
    pub saved_version: Option<String>,
    /// Why the state was not saved, when it changed but could not be.
    pub note: Option<String>,
    pub duration_ms: u64,
}

impl RetireReport {
    /// Keys still being observed (past grace, not drained, not stuck).
    pub fn observing(&self) -> impl Iterator<Item = &KeyRetirement> {
        self.keys
            .iter()
            .filter(|k| matches!(k.decision, RetireDecision::Observing { .. }))
    }
}

/// The result of [`Engine::reenable`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReenableReport {
    pub secret_id: String,
    pub key_hash: String,
    /// Whether the key was disabled at OpenRouter (false: it already worked).
    pub was_disabled: bool,
    /// When rotor will consider retiring it again (a fresh grace period from now).
    pub grace_ends_at: DateTime<Utc>,
    pub saved_version: Option<String>,
}

/// How [`Engine::retire_or_preview`] acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Delete/disable what is due.
    Act,
    /// Delete every older key now (`--force`, revoke).
    Force,
    /// Change nothing anywhere; report what is due (`status`).
    Preview,
}

/// What [`Engine::retire_or_preview`] found.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// The older keys to keep recording, with their updated state.
    pub kept: Vec<OlderKey>,
    pub keys: Vec<KeyRetirement>,
    pub retired: Vec<RetiredKey>,
    pub disabled: Vec<String>,
    pub stuck: bool,
    /// Whether the recorded state changed enough to be worth a bookkeeping write.
    pub changed: bool,
}

impl Engine {
    /// Retires the older keys of a secret whose time has come (the library entry point of `rotor
    /// retire`, the daemon and the Lambda's `{"rotor":"retire"}`): deletes (or, with
    /// `disable_first`, disables, and later deletes) keys past their grace period whose usage has
    /// drained; samples the others' usage; reports keys still receiving traffic past
    /// `max_retirement_wait` as stuck ([`RetireReport::stuck`]). `force` deletes every older key
    /// now. Never touches the current or pending key. Saves the retirement state in a bookkeeping
    /// version when it changed (see the module docs); while a rotation is in progress the state is
    /// not saved ([`RetireReport::note`]).
    pub async fn retire(
        &self,
        store: &dyn SecretStore,
        secret_id: &str,
        force: bool,
    ) -> Result<RetireReport, EngineError> {
        let store: &dyn SecretStore = &ReadCache::new(store);
        let mode = if force { Mode::Force } else { Mode::Act };
        self.retire_with_mode(store, secret_id, mode).await
    }

    pub(crate) async fn retire_with_mode(
        &self,
        store: &dyn SecretStore,
        secret_id: &str,
        mode: Mode,
    ) -> Result<RetireReport, EngineError> {
        let scope = Scope::new(secret_id, None, None);
        let mut own = self.take_lease(store, &scope, "retire").await?;
        let result = self
            .retire_with_mode_owned(store, secret_id, mode, &mut own)
            .await;
        self.release(store, own).await;
        result
    }

    /// [`retire_with_mode`](Self::retire_with_mode) under the secret's lease: every read happens
    /// after the lease was taken, so no rollback or promote can change Current in between.
    async fn retire_with_mode_owned(
        &self,
        store: &dyn SecretStore,
        secret_id: &str,
        mode: Mode,
        own: &mut super::ledger::Ownership,
    ) -> Result<RetireReport, EngineError> {
        let started = Instant::now();
        let scope = Scope::new(secret_id, None, None);
        let desc = self.describe(store, &scope).await?;
        let Some(from) = desc.with_stage(Stage::Current).map(|v| v.id.clone()) else {
            return Err(EngineError::Precondition {
                scope,
                message: "the secret has no AWSCURRENT value; create it with `rotor init`".into(),
            });
        };
        let current = self.read_current(store, &scope).await?;
        let policy = self.defaults.with_overrides(current.rotation.as_ref());
        let now = self.clock.now();
        // Applications may read AWSPREVIOUS: its key must stay alive (and enabled) while it holds
        // it. When that key is due (with `--force`, as `rotor revoke` uses it: always), a
        // bookkeeping version (a copy of Current) first moves AWSPREVIOUS to the version holding
        // the current key; while a rotation is in progress that cannot be done, and the key is
        // left alone this time.
        let previous = if mode == Mode::Preview {
            super::PreviousKey::None
        } else {
            self.previous_key(store, &scope, &current).await?
        };
        let mut from = from;
        let mut moved_previous = None;
        let mut protect: Option<String> = None;
        match &previous {
            super::PreviousKey::Key(hash)
                if current.older_keys.iter().any(|k| &k.key_hash == hash) =>
            {
                let due = mode == Mode::Force || {
                    let mut only = current.clone();
                    only.older_keys.retain(|k| &k.key_hash == hash);
                    let preview = self
                        .retire_or_preview(
                            &scope,
                            &only,
                            &policy,
                            now,
                            desc.last_rotated,
                            Mode::Preview,
                        )
                        .await?;
                    preview
                        .keys
                        .iter()
                        .any(|k| matches!(k.decision, RetireDecision::Due { .. }))
                };
                if due && pending_rotation(&desc).is_none() {
                    self.fence(store, &scope, own).await?;
                    let token = self
                        .write_bookkeeping_version(
                            store,
                            &scope,
                            &from,
                            &current,
                            "moving AWSPREVIOUS off a key that is due for retirement",
                        )
                        .await?;
                    from = token.clone();
                    moved_previous = Some(token);
                } else if due {
                    protect = Some(hash.clone());
                }
            }
            super::PreviousKey::Unknown => protect = Some(String::new()),
            _ => {}
        }
        // The key of a pending document (a rollback or bookkeeping copy left half-written)
        // stays too: that rotation must still be able to finish or be abandoned.
        let pending_key = match pending_rotation(&desc) {
            Some(token) => self
                .read_pending(store, &scope, token)
                .await
                .ok()
                .flatten()
                .map(|p| p.key_hash),
            None => None,
        };
        let mut retirable = current.clone();
        let (held_by_previous, rest): (Vec<_>, Vec<_>) =
            current.older_keys.iter().cloned().partition(|k| {
                pending_key.as_deref() == Some(k.key_hash.as_str())
                    || match &protect {
                        Some(h) if h.is_empty() => true,
                        Some(h) => &k.key_hash == h,
                        None => false,
                    }
            });
        retirable.older_keys = rest;
        self.fence(store, &scope, own).await?;
        let mut plan = self
            .retire_or_preview(&scope, &retirable, &policy, now, desc.last_rotated, mode)
            .await?;
        plan.kept.extend(held_by_previous);

        let mut saved_version = None;
        let mut note = None;
        if plan.changed {
            if let Some(other) = pending_rotation(&desc) {
                note = Some(format!(
                    "a rotation (token {other}) is in progress, so the retirement state (usage samples, \
                     disabled keys) was not saved; it is sampled again at the next run"
                ));
            } else {
                let mut record = current.clone();
                record.older_keys =
                    pin_grace_starts(plan.kept.clone(), &current, desc.last_rotated);
                match self
                    .write_bookkeeping_version(
                        store,
                        &scope,
                        &from,
                        &record,
                        "saving the retirement state",
                    )
                    .await
                {
                    Ok(token) => saved_version = Some(token),
                    // Another writer won: nothing is lost but samples (deleted keys are found
                    // gone by the next run, disabled ones by their state at OpenRouter).
                    Err(EngineError::Conflict { message, .. }) => note = Some(message),
                    Err(e) => return Err(e),
                }
            }
        }
        let report = RetireReport {
            secret_id: secret_id.to_owned(),
            keys: plan.keys,
            retired: plan.retired,
            disabled: plan.disabled,
            stuck: plan.stuck,
            saved_version: saved_version.or(moved_previous),
            note,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        };
        let observing = report.observing().count();
        if report.stuck {
            error!(
                secret_id,
                retired = report.retired.len(),
                disabled = report.disabled.len(),
                observing,
                stuck = true,
                duration_ms = report.duration_ms,
                "retirement: an old key still receives traffic past max_retirement_wait; it was NOT deleted \
                 (find what still uses it, or `rotor retire --force`)"
            );
        } else {
            info!(
                secret_id,
                retired = report.retired.len(),
                disabled = report.disabled.len(),
                observing,
                stuck = false,
                saved_version = report.saved_version.as_deref().unwrap_or(""),
                duration_ms = report.duration_ms,
                "retirement finished"
            );
        }
        Ok(report)
    }

    /// Decides (and, unless previewing, carries out) the retirement of every older key recorded
    /// in `current`. Used by [`retire`](Self::retire), by createSecret and by `status` (preview).
    pub(crate) async fn retire_or_preview(
        &self,
        scope: &Scope,
        current: &KeyRecord,
        policy: &Policy,
        now: DateTime<Utc>,
        last_rotated: Option<DateTime<Utc>>,
        mode: Mode,
    ) -> Result<Plan, EngineError> {
        let latest = current.older_keys.iter().map(|k| k.superseded_at).max();
        let mut plan = Plan::default();
        for older in &current.older_keys {
            if older.key_hash == current.key_hash {
                continue;
            }
            let since = grace_start(older, latest, last_rotated);
            self.plan_key(scope, older, since, policy, now, mode, &mut plan)
                .await?;
        }
        Ok(plan)
    }

    /// Observes one older key at OpenRouter, asks [`decide`] what to do, and (unless previewing)
    /// does it: the effects of retirement, separate from the decision.
    #[allow(clippy::too_many_arguments)]
    async fn plan_key(
        &self,
        scope: &Scope,
        older: &OlderKey,
        since: DateTime<Utc>,
        policy: &Policy,
        now: DateTime<Utc>,
        mode: Mode,
        plan: &mut Plan,
    ) -> Result<(), EngineError> {
        let needs_read = needs_observation(
            since,
            policy,
            now,
            mode == Mode::Force,
            mode == Mode::Preview,
        );
        let observed = if !needs_read {
            Observed::Unread
        } else {
            match self.client.get_key(&older.key_hash).await {
                Ok(key) => Observed::Alive {
                    usage: key.usage,
                    disabled: key.disabled,
                    updated_at: key.updated_at,
                    last_used_at: key.last_used_at,
                },
                Err(e) if e.is_not_found() => Observed::Gone,
                Err(e) => {
                    return Err(openrouter_error(
                        scope,
                        &format!("reading older key {} (GET /keys/{{hash}})", older.key_hash),
                        e,
                    ));
                }
            }
        };
        let preview = mode == Mode::Preview;
        let verdict = decide(
            older,
            observed,
            since,
            policy,
            now,
            mode == Mode::Force,
            preview,
        );
        let Verdict {
            action,
            key: k,
            mut entry,
            changed,
            stuck,
        } = verdict;
        plan.changed |= changed;
        if stuck {
            plan.stuck = true;
            warn!(
                secret_id = scope.secret.as_str(),
                key_hash = k.key_hash.as_str(),
                usage = entry.usage.unwrap_or_default(),
                "an old key still receives traffic past max_retirement_wait; not deleting it"
            );
        }
        if !preview && entry.decision == RetireDecision::Reenabled {
            warn!(
                secret_id = scope.secret.as_str(),
                key_hash = k.key_hash.as_str(),
                "an old key rotor had disabled was re-enabled; observing its usage again"
            );
        }
        match action {
            Action::Keep => {
                plan.keys.push(entry);
                plan.kept.push(k);
            }
            Action::ForgetGone => {
                if !preview {
                    plan.retired.push(RetiredKey {
                        key_hash: k.key_hash.clone(),
                        key_name: k.key_name.clone(),
                        already_gone: true,
                    });
                }
                plan.keys.push(entry);
            }
            _ if preview => {
                plan.keys.push(entry);
                plan.kept.push(k);
            }
            Action::Disable { then_delete } => {
                self.forget_key(&k.key_hash);
                self.client
                    .update_key(
                        &k.key_hash,
                        &UpdateKeyRequest {
                            disabled: Some(true),
                            ..UpdateKeyRequest::default()
                        },
                    )
                    .await
                    .map_err(|e| {
                        openrouter_error(
                            scope,
                            &format!("disabling drained older key {}", k.key_hash),
                            e,
                        )
                    })?;
                info!(
                    secret_id = scope.secret.as_str(),
                    key_hash = k.key_hash.as_str(),
                    "disabled a drained old key (re-enable: `rotor retire <target> --reenable <hash>`)"
                );
                plan.disabled.push(k.key_hash.clone());
                if then_delete {
                    self.delete_planned(scope, k, entry, DeleteReason::DisableDelayPassed, plan)
                        .await?;
                } else {
                    plan.keys.push(entry);
                    plan.kept.push(k);
                }
            }
            Action::Delete(reason) => {
                entry.decision = RetireDecision::Due {
                    action: DueAction::Delete,
                };
                self.delete_planned(scope, k, entry, reason, plan).await?;
            }
        }
        Ok(())
    }

    /// Deletes a key retirement decided to delete, and reports it.
    async fn delete_planned(
        &self,
        scope: &Scope,
        k: OlderKey,
        mut entry: KeyRetirement,
        reason: DeleteReason,
        plan: &mut Plan,
    ) -> Result<(), EngineError> {
        let why = match reason {
            DeleteReason::Drained => "its grace period passed and its traffic drained",
            DeleteReason::DisableDelayPassed => "it was disabled for disable_delay",
            DeleteReason::Forced => "forced",
            DeleteReason::AlreadyGone => "already gone",
        };
        let already_gone = self.delete_older(scope, &k, why).await?;
        plan.changed = true;
        plan.retired.push(RetiredKey {
            key_hash: k.key_hash.clone(),
            key_name: k.key_name.clone(),
            already_gone,
        });
        entry.decision = RetireDecision::Deleted {
            reason,
            already_gone,
        };
        plan.keys.push(entry);
        Ok(())
    }

    async fn delete_older(
        &self,
        scope: &Scope,
        k: &OlderKey,
        why: &str,
    ) -> Result<bool, EngineError> {
        let already_gone = self.delete_key(&k.key_hash).await.map_err(|e| {
            openrouter_error(
                scope,
                &format!("retiring older key {} ({why})", k.key_hash),
                e,
            )
        })?;
        info!(
            secret_id = scope.secret.as_str(),
            token = scope.token.as_deref().unwrap_or(""),
            key_hash = k.key_hash.as_str(),
            already_gone,
            reason = why,
            "retired an older key"
        );
        Ok(already_gone)
    }
}
