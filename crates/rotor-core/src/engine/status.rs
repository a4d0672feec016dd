//! `status`: stages, keys and what retirement would do, without key material.

#![allow(clippy::result_large_err)]

use super::*;

impl Engine {
    /// Stages with their keys, whether each key works (as OpenRouter reports it to the management
    /// key), the older keys and when each becomes retirable. No key material.
    pub async fn status(
        &self,
        store: &dyn SecretStore,
        secret_id: &str,
    ) -> Result<SecretStatus, EngineError> {
        let store: &dyn SecretStore = &ReadCache::new(store);
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
            // What retirement would do now (no change anywhere).
            retirement: match &current_record {
                Some(current) => self
                    .retire_or_preview(
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

    pub(super) async fn key_state(&self, hash: &str, now: DateTime<Utc>) -> KeyState {
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
}
