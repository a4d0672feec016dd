//! `abandon`: give up the rotation in progress under the secret's lease.

#![allow(clippy::result_large_err)]

use super::*;

impl Engine {
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
        let store: &dyn SecretStore = &ReadCache::new(store);
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

    pub(super) async fn abandon_owned(
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
                openrouter_error(
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
}
