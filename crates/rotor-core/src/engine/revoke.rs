//! Emergency revocation: a leaked key, a departed team member.
//!
//! * [`Engine::revoke`]: a whole rotation now (create, set, test, finish), then every older key of
//!   the secret is deleted at once, ignoring grace periods and usage. Applications that read the
//!   store move to the new key at finish; whoever still holds an old key loses access (the point).
//!   The old keys are deleted right after the new key passed its test and became current, never
//!   before: applications reading the store never get a dead key.
//! * [`Engine::revoke_key`]: deletes one recorded key that is not the current one.

use crate::read_cache::ReadCache;
use std::time::Instant;

use serde::Serialize;
use tracing::warn;

use super::retire::Mode;
use super::{
    Engine, EngineError, RetiredKey, RotationReport, Scope, openrouter_error, pending_rotation,
    store_err,
};
use crate::record::KeyRecord;
use crate::store::{SecretStore, Stage, VersionSelector};

/// The result of [`Engine::revoke`] and [`Engine::revoke_key`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RevokeReport {
    pub secret_id: String,
    /// The rotation that replaced the current key (`revoke` only).
    pub rotation: Option<RotationReport>,
    /// The key now current.
    pub current_key_hash: String,
    /// Keys deleted at OpenRouter (or found already gone).
    pub deleted: Vec<RetiredKey>,
    /// The bookkeeping version that stopped recording the deleted keys, if written.
    pub saved_version: Option<String>,
    pub duration_ms: u64,
}

impl Engine {
    /// Rotates now, then deletes every older key of the secret (grace and usage ignored).
    pub async fn revoke(
        &self,
        store: &dyn SecretStore,
        secret_id: &str,
    ) -> Result<RevokeReport, EngineError> {
        let store: &dyn SecretStore = &ReadCache::new(store);
        let started = Instant::now();
        let rotation = self.rotate(store, secret_id).await?;
        let retire = self.retire_with_mode(store, secret_id, Mode::Force).await?;
        let mut deleted = rotation.retired.clone();
        deleted.extend(retire.retired);
        let current = self
            .read_current(store, &Scope::new(secret_id, None, None))
            .await?;
        warn!(
            secret_id,
            current_key_hash = current.key_hash.as_str(),
            deleted = deleted.len(),
            "revoked: rotated and deleted every older key"
        );
        Ok(RevokeReport {
            secret_id: secret_id.to_owned(),
            rotation: Some(rotation),
            current_key_hash: current.key_hash,
            deleted,
            saved_version: retire.saved_version,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        })
    }

    /// Deletes one key recorded by the secret (an older key of the current document, or the
    /// AWSPREVIOUS version's key) after checking it is neither the current key nor the key of a
    /// rotation in progress. Refused for keys the secret does not record.
    pub async fn revoke_key(
        &self,
        store: &dyn SecretStore,
        secret_id: &str,
        key_hash: &str,
    ) -> Result<RevokeReport, EngineError> {
        let store: &dyn SecretStore = &ReadCache::new(store);
        let scope = Scope::new(secret_id, None, None);
        let mut own = self.take_lease(store, &scope, "revoke").await?;
        let result = self
            .revoke_key_owned(store, secret_id, key_hash, &mut own)
            .await;
        self.release(store, own).await;
        result
    }

    async fn revoke_key_owned(
        &self,
        store: &dyn SecretStore,
        secret_id: &str,
        key_hash: &str,
        own: &mut super::ledger::Ownership,
    ) -> Result<RevokeReport, EngineError> {
        let started = Instant::now();
        let scope = Scope::new(secret_id, None, None);
        let desc = self.describe(store, &scope).await?;
        let current = self.read_current(store, &scope).await?;
        if current.key_hash == key_hash {
            return Err(EngineError::Precondition {
                scope,
                message: format!(
                    "key {key_hash} is the current key that applications read; revoke it with \
                     `rotor revoke <target>` (without --hash), which rotates first (rotor changed nothing)"
                ),
            });
        }
        if let Some(token) = pending_rotation(&desc) {
            let pending = store
                .get_value(
                    secret_id,
                    &VersionSelector::version_in_stage(token, Stage::Pending),
                )
                .await
                .ok()
                .and_then(|v| KeyRecord::parse(&v.value, secret_id).ok());
            if pending.is_some_and(|p| p.key_hash == key_hash) {
                return Err(EngineError::Precondition {
                    scope,
                    message: format!(
                        "key {key_hash} is the new key of the rotation in progress (token {token}); \
                         abandon that rotation instead (rotor changed nothing)"
                    ),
                });
            }
        }
        let in_older = current.older_keys.iter().find(|k| k.key_hash == key_hash);
        let mut recorded = in_older.map(|k| k.key_name.clone());
        if recorded.is_none() {
            if let Some(prev) = desc.with_stage(Stage::Previous) {
                let sel = VersionSelector::version_in_stage(&prev.id, Stage::Previous);
                if let Ok(v) = store.get_value(secret_id, &sel).await {
                    if let Ok(r) = KeyRecord::parse(&v.value, secret_id) {
                        if r.key_hash == key_hash {
                            recorded = Some(r.key_name);
                        }
                    }
                }
            }
        }
        let Some(key_name) = recorded else {
            return Err(EngineError::Precondition {
                scope,
                message: format!(
                    "key {key_hash} is not recorded by this secret (neither an older key of the \
                     current document nor the AWSPREVIOUS key); see `rotor status`, or `rotor sweep` \
                     for keys no secret records (rotor changed nothing)"
                ),
            });
        };
        // Applications may read AWSPREVIOUS: if it holds this key, a bookkeeping version (a copy
        // of Current, still recording the key) first moves AWSPREVIOUS off it.
        let mut desc = desc;
        if let super::PreviousKey::Key(held) = self.previous_key(store, &scope, &current).await?
            && held == key_hash
        {
            if let Some(token) = pending_rotation(&desc) {
                return Err(EngineError::Conflict {
                    scope,
                    message: format!(
                        "key {key_hash} is the one applications may read as AWSPREVIOUS, and a rotation \
                         (token {token}) is in progress, so AWSPREVIOUS cannot be moved off it first; \
                         finish (`rotor rotate --resume`) or abandon that rotation, then revoke (rotor \
                         changed nothing)"
                    ),
                });
            }
            let Some(from) = desc.with_stage(Stage::Current).map(|v| v.id.clone()) else {
                return Err(EngineError::Precondition {
                    scope,
                    message: "the secret has no AWSCURRENT version".into(),
                });
            };
            self.fence(store, &scope, own).await?;
            self.write_bookkeeping_version(
                store,
                &scope,
                &from,
                &current,
                "moving AWSPREVIOUS off the key to revoke",
            )
            .await?;
            desc = self.describe(store, &scope).await?;
        }
        self.fence(store, &scope, own).await?;
        let already_gone = self.delete_key(key_hash).await.map_err(|e| {
            openrouter_error(&scope, &format!("deleting key {key_hash} (revoke)"), e)
        })?;
        warn!(
            secret_id,
            key_hash, already_gone, "revoked one recorded key"
        );
        let mut saved_version = None;
        if in_older.is_some() && pending_rotation(&desc).is_none() {
            if let Some(from) = desc.with_stage(Stage::Current).map(|v| v.id.clone()) {
                let mut record = current.clone();
                record.older_keys = super::bookkeeping::pin_grace_starts(
                    current
                        .older_keys
                        .iter()
                        .filter(|k| k.key_hash != key_hash)
                        .cloned()
                        .collect(),
                    &current,
                    desc.last_rotated,
                );
                // The key is gone whatever happens here; a failed write only leaves it recorded
                // (the next retirement finds it already gone).
                match self
                    .write_bookkeeping_version(
                        store,
                        &scope,
                        &from,
                        &record,
                        "forgetting the revoked key",
                    )
                    .await
                {
                    Ok(v) => saved_version = Some(v),
                    Err(EngineError::Conflict { .. }) => {}
                    Err(EngineError::Store { source, .. }) => {
                        return Err(store_err(
                            scope,
                            &format!(
                                "key {key_hash} was deleted, but removing it from the document"
                            ),
                            source,
                        ));
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(RevokeReport {
            secret_id: secret_id.to_owned(),
            rotation: None,
            current_key_hash: current.key_hash,
            deleted: vec![RetiredKey {
                key_hash: key_hash.to_owned(),
                key_name,
                already_gone,
            }],
            saved_version,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        })
    }
}
