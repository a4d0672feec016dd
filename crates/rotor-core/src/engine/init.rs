//! `init`: the first key and the secret.

#![allow(clippy::result_large_err)]

use super::*;

impl Engine {
    /// Creates the first key and the secret. Refused when the secret already exists. If storing
    /// the secret fails, the key is deleted again.
    pub async fn init(
        &self,
        store: &dyn SecretStore,
        secret_id: &str,
        overrides: Option<PolicyOverrides>,
    ) -> Result<InitReport, EngineError> {
        let store: &dyn SecretStore = &ReadCache::new(store);
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
        bounds::check_expiry(&policy).map_err(|message| EngineError::InvalidInput {
            message: format!("secret {secret_id}: {message}"),
        })?;
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
    pub(super) async fn create_first_key(
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
            return Err(openrouter_error(
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
}
