//! `rollback`: make the previous key current again.
//!
//! Choice: rollback writes a *new version* holding the previous key (its document copied from the
//! AWSPREVIOUS version, with the failed key added to `older_keys`) and promotes it from the current
//! version in one atomic stage move. A bare `promote(previous, from = current)` would switch
//! applications back just as atomically, but the document made current again was written before
//! the failed key existed, so the failed key would be recorded by no current document and never be
//! retired (an orphan). With the new version, every live key is recorded by the current document
//! at every instant, the failed key is retired later like any older key (grace period, drained
//! usage), and history is kept: the failed version stays as AWSPREVIOUS (rolling back again
//! restores it while its key is alive).

use crate::read_cache::ReadCache;
use chrono::{DateTime, Utc};
use rotor_openrouter::UpdateKeyRequest;
use serde::Serialize;
use tracing::info;

use super::{Engine, EngineError, Scope, openrouter_error, pending_rotation, store_err};
use crate::record::{KeyRecord, OlderKey, RetireReason};
use crate::store::{SecretStore, Stage, VersionSelector};

/// The result of [`Engine::rollback`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RollbackReport {
    pub secret_id: String,
    /// The new current version (holding the restored key).
    pub version_id: String,
    /// The key applications read again.
    pub restored_key_hash: String,
    /// Whether the restored key had been disabled and was re-enabled.
    pub reenabled: bool,
    /// The key that was current and is now recorded for retirement.
    pub failed_key_hash: String,
    /// When the failed key's grace period ends (then it is retired once its traffic drained).
    pub failed_key_grace_ends_at: DateTime<Utc>,
}

impl Engine {
    /// Makes the previous key current again (re-enabling it if it was disabled) after checking at
    /// OpenRouter that it still exists and works; the key that was current is recorded as an older
    /// key (`retire_reason: rolled_back`) and retired later. Refused ([`EngineError::Precondition`])
    /// when there is no previous key to return to (it is already gone, or AWSPREVIOUS holds the
    /// current key because retirement of the previous key had started), and
    /// ([`EngineError::Conflict`]) while a rotation is in progress.
    pub async fn rollback(
        &self,
        store: &dyn SecretStore,
        secret_id: &str,
    ) -> Result<RollbackReport, EngineError> {
        let store: &dyn SecretStore = &ReadCache::new(store);
        let scope = Scope::new(secret_id, None, None);
        let mut own = self.take_lease(store, &scope, "rollback").await?;
        let result = self.rollback_owned(store, secret_id, &mut own).await;
        self.release(store, own).await;
        result
    }

    async fn rollback_owned(
        &self,
        store: &dyn SecretStore,
        secret_id: &str,
        own: &mut super::ledger::Ownership,
    ) -> Result<RollbackReport, EngineError> {
        let scope = Scope::new(secret_id, None, None);
        let desc = self.describe(store, &scope).await?;
        if let Some(other) = pending_rotation(&desc) {
            return Err(EngineError::Conflict {
                scope,
                message: format!(
                    "a rotation (token {other}) is in progress; finish it (`rotor rotate --resume`) or \
                     abandon it before rolling back (rotor changed nothing)"
                ),
            });
        }
        let Some(from) = desc.with_stage(Stage::Current).map(|v| v.id.clone()) else {
            return Err(EngineError::Precondition {
                scope,
                message: "the secret has no AWSCURRENT value; nothing to roll back".into(),
            });
        };
        let Some(prev_id) = desc.with_stage(Stage::Previous).map(|v| v.id.clone()) else {
            return Err(EngineError::Precondition {
                scope,
                message:
                    "the secret has no AWSPREVIOUS version, so there is no previous key to roll \
                          back to (rotor changed nothing)"
                        .into(),
            });
        };
        let current = self.read_current(store, &scope).await?;
        let value = store
            .get_value(
                secret_id,
                &VersionSelector::version_in_stage(&prev_id, Stage::Previous),
            )
            .await
            .map_err(|e| store_err(scope.clone(), "reading the AWSPREVIOUS value", e))?;
        let previous =
            KeyRecord::parse(&value.value, secret_id).map_err(|source| EngineError::Record {
                scope: scope.clone(),
                which: format!("AWSPREVIOUS (version {prev_id})"),
                source,
            })?;
        if previous.key_hash == current.key_hash {
            return Err(EngineError::Precondition {
                scope,
                message: format!(
                    "there is no previous key to roll back to: AWSPREVIOUS (version {prev_id}) holds \
                     the current key {} because rotor wrote a bookkeeping version while retiring or \
                     revoking older keys, and a previous key's plaintext is kept only in AWSPREVIOUS \
                     (rollback is possible until retirement of the previous key starts, i.e. within \
                     its grace period). To keep an old key alive use `rotor retire --reenable HASH`; \
                     to replace the current key, `rotor rotate` (rotor changed nothing)",
                    current.key_hash
                ),
            });
        }
        let key = match self.client.get_key(&previous.key_hash).await {
            Ok(key) => key,
            Err(e) if e.is_not_found() => {
                return Err(EngineError::Precondition {
                    scope,
                    message: format!(
                        "the previous key {} is already gone at OpenRouter (retired or deleted), so \
                         there is nothing to roll back to; run `rotor rotate` for a new key instead \
                         (rotor changed nothing)",
                        previous.key_hash
                    ),
                });
            }
            Err(e) => {
                return Err(openrouter_error(
                    &scope,
                    &format!("reading the previous key {}", previous.key_hash),
                    e,
                ));
            }
        };
        let now = self.clock.now();
        if key.expires_at.is_some_and(|t| t <= now) {
            return Err(EngineError::Precondition {
                scope,
                message: format!(
                    "the previous key {} has expired at OpenRouter; run `rotor rotate` for a new key \
                     instead (rotor changed nothing)",
                    previous.key_hash
                ),
            });
        }
        let reenabled = key.disabled;
        if key.disabled {
            self.forget_key(&previous.key_hash);
            self.client
                .update_key(
                    &previous.key_hash,
                    &UpdateKeyRequest {
                        disabled: Some(false),
                        ..UpdateKeyRequest::default()
                    },
                )
                .await
                .map_err(|e| {
                    openrouter_error(
                        &scope,
                        &format!("re-enabling the previous key {}", previous.key_hash),
                        e,
                    )
                })?;
        }
        // The restored key must really work before applications are sent back to it.
        match self.client.current_key(&previous.api_key).await {
            Ok(me) if me.label == key.label => {}
            Ok(_) => {
                return Err(EngineError::KeyCheck {
                    scope,
                    message: format!(
                        "the AWSPREVIOUS document's api_key is not the key with hash {} (labels \
                         differ); rotor changed nothing in the store",
                        previous.key_hash
                    ),
                });
            }
            Err(e) => {
                return Err(openrouter_error(
                    &scope,
                    &format!(
                        "checking the previous key {} works (GET /key with it); rotor changed nothing in the store",
                        previous.key_hash
                    ),
                    e,
                ));
            }
        }

        let policy = self.defaults.with_overrides(current.rotation.as_ref());
        let latest = current.older_keys.iter().map(|k| k.superseded_at).max();
        let mut older_keys: Vec<OlderKey> = Vec::new();
        let mut seen = vec![previous.key_hash.clone(), current.key_hash.clone()];
        for k in current.older_keys.iter().chain(previous.older_keys.iter()) {
            if seen.contains(&k.key_hash) {
                continue;
            }
            seen.push(k.key_hash.clone());
            let mut k = k.clone();
            if k.grace_started_at.is_none() {
                k.grace_started_at =
                    Some(super::retire::grace_start(&k, latest, desc.last_rotated));
            }
            older_keys.push(k);
        }
        let mut failed = OlderKey::new(
            current.key_hash.clone(),
            current.key_name.clone(),
            current.created_at,
            now,
        );
        failed.grace_started_at = Some(now);
        failed.retire_reason = Some(RetireReason::RolledBack);
        older_keys.push(failed);
        let record = KeyRecord {
            api_key: previous.api_key.clone(),
            key_hash: previous.key_hash.clone(),
            key_name: previous.key_name.clone(),
            created_at: previous.created_at,
            expires_at: previous.expires_at,
            rotation: current.rotation.clone(),
            older_keys,
            extra: current.extra.clone(),
        };
        self.fence(store, &scope, own).await?;
        let version_id = self
            .write_bookkeeping_version(store, &scope, &from, &record, "rolling back")
            .await?;
        info!(
            secret_id,
            version_id = version_id.as_str(),
            restored_key_hash = previous.key_hash.as_str(),
            failed_key_hash = current.key_hash.as_str(),
            reenabled,
            "rolled back to the previous key"
        );
        Ok(RollbackReport {
            secret_id: secret_id.to_owned(),
            version_id,
            restored_key_hash: previous.key_hash,
            reenabled,
            failed_key_hash: current.key_hash,
            failed_key_grace_ends_at: policy.retirable_at(now),
        })
    }
}
