//! `rotor retire --reenable HASH`: bring an older key back and restart its retirement.

#![allow(clippy::result_large_err)]

use super::bookkeeping::pin_grace_starts;
use super::retire::*;
use super::retire_decision::plus;
use super::*;
use crate::record::RetireReason;
use crate::store::SecretStore;

impl Engine {
    /// Re-enables an older key of the secret (undoes `disable_first`, or re-enables a key disabled
    /// by hand) and restarts its retirement: a fresh grace period from now, no samples. Refused for
    /// a key the current document does not record as older.
    pub async fn reenable(
        &self,
        store: &dyn SecretStore,
        secret_id: &str,
        key_hash: &str,
    ) -> Result<ReenableReport, EngineError> {
        let store: &dyn SecretStore = &ReadCache::new(store);
        let scope = Scope::new(secret_id, None, None);
        let mut own = self.take_lease(store, &scope, "reenable").await?;
        let result = self
            .reenable_owned(store, secret_id, key_hash, &mut own)
            .await;
        self.release(store, own).await;
        result
    }

    async fn reenable_owned(
        &self,
        store: &dyn SecretStore,
        secret_id: &str,
        key_hash: &str,
        own: &mut super::ledger::Ownership,
    ) -> Result<ReenableReport, EngineError> {
        let scope = Scope::new(secret_id, None, None);
        let desc = self.describe(store, &scope).await?;
        let current = self.read_current(store, &scope).await?;
        let Some(from) = desc.with_stage(Stage::Current).map(|v| v.id.clone()) else {
            return Err(EngineError::Precondition {
                scope,
                message: "the secret has no AWSCURRENT value".into(),
            });
        };
        if current.key_hash == key_hash {
            return Err(EngineError::Precondition {
                scope,
                message: format!("key {key_hash} is the current key; only older keys are retired"),
            });
        }
        if !current.older_keys.iter().any(|k| k.key_hash == key_hash) {
            return Err(EngineError::Precondition {
                scope,
                message: format!(
                    "key {key_hash} is not recorded as an older key of this secret (see `rotor status`); \
                     rotor re-enables only keys it is retiring"
                ),
            });
        }
        let key = self.visible_key(&scope, "older", key_hash).await?;
        if key.disabled {
            self.forget_key(key_hash);
            self.client
                .update_key(
                    key_hash,
                    &UpdateKeyRequest {
                        disabled: Some(false),
                        ..UpdateKeyRequest::default()
                    },
                )
                .await
                .map_err(|e| openrouter_error(&scope, &format!("re-enabling key {key_hash}"), e))?;
        }
        let now = self.clock.now();
        let policy = self.defaults.with_overrides(current.rotation.as_ref());
        let mut record = current.clone();
        let mut older = pin_grace_starts(current.older_keys.clone(), &current, desc.last_rotated);
        for k in older.iter_mut().filter(|k| k.key_hash == key_hash) {
            k.grace_started_at = Some(now);
            k.usage_samples.clear();
            k.disabled_at = None;
            k.retire_reason = Some(RetireReason::Reenabled);
        }
        record.older_keys = older;
        let saved_version = if pending_rotation(&desc).is_some() {
            None
        } else {
            self.fence(store, &scope, own).await?;
            Some(
                self.write_bookkeeping_version(
                    store,
                    &scope,
                    &from,
                    &record,
                    "saving the re-enabled key",
                )
                .await?,
            )
        };
        info!(
            secret_id,
            key_hash,
            was_disabled = key.disabled,
            "re-enabled an old key; its retirement restarts"
        );
        Ok(ReenableReport {
            secret_id: secret_id.to_owned(),
            key_hash: key_hash.to_owned(),
            was_disabled: key.disabled,
            grace_ends_at: plus(now, policy.grace_period),
            saved_version,
        })
    }
}
