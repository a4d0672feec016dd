//! createSecret: retire due keys, check the bounds, record the intent, `POST /keys`, store the pending document; and what happens when any of that fails half-way.

#![allow(clippy::result_large_err)]

use super::bookkeeping;
use super::ledger::PlannedIntent;
use super::*;

/// The result of [`Engine::retire_due_keys`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Retirement {
    /// Older keys still inside their grace period (still alive, still recorded).
    pub kept: Vec<OlderKey>,
    /// Keys deleted (or found already gone).
    pub retired: Vec<RetiredKey>,
}

impl Engine {
    /// The intent createSecret records for `token`, read (read-only) before the lease is taken,
    /// so that the lease and the intent are one check-and-set (ledger.rs). `None` when the
    /// pending version of `token` already holds a document: nothing will be created. Fails as
    /// createSecret would: no usable current document, or its key not visible to this
    /// management key.
    pub(super) async fn plan_intent(
        &self,
        store: &dyn SecretStore,
        scope: &Scope,
        token: &str,
    ) -> Result<Option<PlannedIntent>, EngineError> {
        let desc = self.describe(store, scope).await?;
        if self.read_pending(store, scope, token).await?.is_some() {
            return Ok(None);
        }
        let current = self.read_current(store, scope).await?;
        let key = self
            .visible_key(scope, "current", &current.key_hash)
            .await?;
        Ok(Some(PlannedIntent {
            token: token.to_owned(),
            tag: rotor_tag(&desc.secret_id, token),
            workspace_id: Some(key.workspace_id).filter(|w| !w.is_empty()),
        }))
    }

    /// createSecret when `token`'s pending version already holds a document (a re-run): nothing
    /// to create and nothing to change, so no lease is taken.
    pub(super) async fn already_created(
        &self,
        store: &dyn SecretStore,
        scope: &Scope,
        token: &str,
    ) -> Result<StepDone, EngineError> {
        let pending = self.require_pending(store, scope, token).await?;
        Ok(StepDone::outcome(StepOutcome::AlreadyCreated).with_hash(pending.key_hash))
    }

    pub(super) async fn create_secret(
        &self,
        store: &dyn SecretStore,
        scope: &Scope,
        token: &str,
        own: &mut Ownership,
    ) -> Result<StepDone, EngineError> {
        let secret_id = scope.secret.as_str();
        let desc = self.describe(store, scope).await?;
        if let TokenState::Current = check_token(&desc, scope)? {
            return Ok(self.already_current(store, scope).await);
        }
        let current = self.read_current(store, scope).await?;
        if let Some(pending) = self.read_pending(store, scope, token).await? {
            return Ok(StepDone::outcome(StepOutcome::AlreadyCreated).with_hash(pending.key_hash));
        }
        let policy = self.defaults.with_overrides(current.rotation.as_ref());

        // Confused-deputy guard, and the source of "copy the current key's settings": the current
        // key must be visible with this management key. Read-only, before anything changes.
        let current_key = self
            .visible_key(scope, "current", &current.key_hash)
            .await?;

        let now = self.clock.now();
        // The store's canonical id (an ARN on AWS), so a re-run finds the key whatever spelling of
        // the secret id the caller used.
        let tag = rotor_tag(&desc.secret_id, token);

        // The key AWSPREVIOUS holds stays alive until finishSecret has moved AWSPREVIOUS away
        // from it (an application reading AWSPREVIOUS must never get a deleted key); it stays
        // recorded in the new document, and finishSecret retires it if it is due. When the
        // previous document cannot be read, nothing is retired this time.
        let previous = self.previous_key(store, scope, &current).await?;
        let mut retirable = current.clone();
        let (protected_previous, rest): (Vec<OlderKey>, Vec<OlderKey>) = current
            .older_keys
            .iter()
            .cloned()
            .partition(|k| match &previous {
                PreviousKey::Key(hash) => &k.key_hash == hash,
                PreviousKey::None => false,
                PreviousKey::Unknown => true,
            });
        retirable.older_keys = rest;
        self.fence(store, scope, own).await?;
        let mut retirement = self
            .retire_due_keys(scope, &retirable, &policy, now, desc.last_rotated)
            .await?;
        retirement.kept.extend(protected_previous);

        let settings = policy.key_settings(Some(&current_key));
        let workspace_id = Some(current_key.workspace_id.clone()).filter(|w| !w.is_empty());
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
            creator_user_id: None,
            workspace_id: workspace_id.clone(),
        };
        let mut older_keys: Vec<OlderKey> = retirement
            .kept
            .into_iter()
            .filter(|k| k.key_hash != current.key_hash)
            .collect();
        older_keys.push(OlderKey::new(
            current.key_hash.clone(),
            current.key_name.clone(),
            current.created_at,
            now,
        ));

        // Bounds, before any key exists: the document must fit the store and the live keys the
        // policy. A refused rotation leaves nothing pending.
        let verdict = bounds::check(
            &older_keys,
            &policy,
            now,
            desc.last_rotated,
            store.max_value_bytes(),
            &KeyRecord {
                api_key: rotor_openrouter::ApiKey::new(bounds::PLACEHOLDER_KEY.to_owned()),
                key_hash: "0".repeat(64),
                key_name: request.name.clone(),
                created_at: now,
                expires_at: request.expires_at,
                rotation: current.rotation.clone(),
                older_keys: older_keys.clone(),
                extra: current.extra.clone(),
            },
        );
        let verdict = verdict.and_then(|()| bounds::check_expiry(&policy));
        if let Err(message) = verdict {
            self.drop_valueless_pending(store, scope, token).await;
            return Err(EngineError::Bounds {
                scope: scope.clone(),
                message,
            });
        }

        // The durable intent: from here on, a crash anywhere is recovered from the store alone.
        self.record_intent(store, scope, own, token, &tag, workspace_id.as_deref())
            .await?;
        let created = self.create_key(store, scope, own, &request, token).await?;
        let new_hash = created.data.hash.clone();
        // Stores that cannot hold an empty pending version across processes (Secrets Manager
        // outside a RotateSecret) cannot refuse a rotation that `RotateSecret` started meanwhile
        // (the service does not take rotor's lease); and PutSecretValue would silently move
        // AWSPENDING to this one. So look again, right before storing: the other one wins.
        if !store.begin_rotation_is_exclusive()
            && let Err(e) = self.refuse_other_rotation(store, scope, token).await
        {
            self.discard_unstored_key(store, scope, own, token, &new_hash)
                .await;
            return Err(e);
        }
        older_keys.retain(|k| k.key_hash != new_hash);
        let record = KeyRecord {
            api_key: created.key,
            key_hash: new_hash.clone(),
            key_name: created.data.name.clone(),
            created_at: created.data.created_at,
            expires_at: created.data.expires_at.or(request.expires_at),
            rotation: current.rotation.clone(),
            older_keys,
            extra: current.extra.clone(),
        };
        if let Err(lost) = self.fence(store, scope, own).await {
            // Another worker took the secret over while this one was creating its key: the key
            // is this worker's alone, unrecorded; delete it and stop.
            self.discard_unstored_key(store, scope, own, token, &new_hash)
                .await;
            return Err(lost);
        }
        self.store_pending(store, scope, own, token, &record)
            .await?;
        Ok(StepDone {
            outcome: StepOutcome::Created,
            key_hash: Some(new_hash),
            retired: retirement.retired,
            cleaned_up: std::mem::take(&mut own.recovered),
        })
    }

    /// Removes Pending from `token` when its version holds no value yet (a rotation refused
    /// before it created a key leaves nothing pending). Best effort.
    pub(super) async fn drop_valueless_pending(
        &self,
        store: &dyn SecretStore,
        scope: &Scope,
        token: &str,
    ) {
        let sel = VersionSelector::version_in_stage(token, Stage::Pending);
        if let Err(StoreError::NotFound { .. }) = store.get_value(&scope.secret, &sel).await
            && let Err(e) = store.clear_pending(&scope.secret, token).await
        {
            warn!(secret_id = scope.secret.as_str(), token, error = %e,
                "could not remove AWSPENDING from the refused rotation; `rotor rotate --abandon` does");
        }
    }

    /// Deletes a key this worker created but will not store, and drops its intent. Deleting it
    /// needs no lease: no stored document and no other worker knows the key. On failure the
    /// intent stays (if this worker still owns the ledger), and the next owner deletes the key.
    pub(super) async fn discard_unstored_key(
        &self,
        store: &dyn SecretStore,
        scope: &Scope,
        own: &mut Ownership,
        token: &str,
        hash: &str,
    ) -> Option<String> {
        match self.delete_key(hash).await.map_err(|e| e.to_string()) {
            Ok(_) => {
                if let Err(e) = self.resolve_intent(store, scope, own, token).await {
                    warn!(secret_id = scope.secret.as_str(), error = %e,
                        "could not drop the intent of a deleted key; the next run drops it");
                }
                None
            }
            Err(e) => {
                warn!(
                    secret_id = scope.secret.as_str(),
                    key_hash = hash,
                    error = %e,
                    "could not delete a key that will not be stored; the next run of any rotor command on this secret deletes it (its intent is recorded)"
                );
                Some(e)
            }
        }
    }

    /// `POST /keys`. A refusal (4xx) created nothing: the intent is dropped. Any other failure
    /// may hide a created key: the intent is recovered at once (the key is found by its tag and
    /// deleted) and the step fails retryably; if that recovery fails too, the intent stays for the
    /// next owner. Never leaves an unrecorded key.
    pub(super) async fn create_key(
        &self,
        store: &dyn SecretStore,
        scope: &Scope,
        own: &mut Ownership,
        request: &CreateKeyRequest,
        token: &str,
    ) -> Result<CreatedKey, EngineError> {
        own.posting(token);
        match self.client.create_key(request).await {
            Ok(created) => Ok(created),
            Err(e) if matches!(e.status(), Some(400 | 401 | 403 | 404 | 422)) => {
                let _ = self.resolve_intent(store, scope, own, token).await;
                Err(openrouter_error(
                    scope,
                    "creating the new key at OpenRouter (POST /keys)",
                    e,
                ))
            }
            Err(e) => {
                let before = own.recovered.len();
                let cleanup = self.recover_intents(store, scope, own).await;
                let cleanup_note = match &cleanup {
                    Ok(()) if own.recovered.len() == before => {
                        "no key of this attempt exists".to_owned()
                    }
                    Ok(()) => format!(
                        "deleted the key it made (hash {})",
                        own.recovered[before..].join(", ")
                    ),
                    Err(c) => format!(
                        "could not check for a key of this attempt ({c}); its intent is recorded, so the next \
                         run of rotor on this secret deletes it"
                    ),
                };
                if e.is_outcome_unknown() {
                    Err(EngineError::OutcomeUnknown {
                        scope: scope.clone(),
                        message: format!(
                            "the request creating the new key (POST /keys) got no response; rotor looked the key \
                             up by its tag [rotor:{}] and {cleanup_note}. Nothing was stored; retrying \
                             createSecret is safe",
                            rotor_tag(&scope.secret, token)
                        ),
                    })
                } else {
                    Err(openrouter_error(
                        scope,
                        &format!(
                            "creating the new key at OpenRouter (POST /keys; afterwards {cleanup_note})"
                        ),
                        e,
                    ))
                }
            }
        }
    }

    /// Writes the new document as pending. If the write surely failed, deletes the new key; if
    /// its outcome is unknown, leaves the intent, so the next owner keeps the key if it was
    /// stored and deletes it otherwise.
    pub(super) async fn store_pending(
        &self,
        store: &dyn SecretStore,
        scope: &Scope,
        own: &mut Ownership,
        token: &str,
        record: &KeyRecord,
    ) -> Result<(), EngineError> {
        let secret_id = scope.secret.as_str();
        let Err(e) = store
            .put_pending(secret_id, token, &record.to_secret_string())
            .await
        else {
            own.stored(token);
            return Ok(());
        };
        let landed = match &e {
            StoreError::Transient { .. } | StoreError::Backend { .. } => {
                match store
                    .get_value(
                        secret_id,
                        &VersionSelector::version_in_stage(token, Stage::Pending),
                    )
                    .await
                {
                    Ok(v) => Some(
                        KeyRecord::parse(&v.value, secret_id)
                            .is_ok_and(|r| r.key_hash == record.key_hash),
                    ),
                    Err(StoreError::NotFound { .. }) => Some(false),
                    Err(_) => None,
                }
            }
            _ => Some(false),
        };
        match landed {
            Some(true) => {
                own.stored(token);
                Ok(())
            }
            Some(false) => {
                let note = match self
                    .discard_unstored_key(store, scope, own, token, &record.key_hash)
                    .await
                {
                    None => format!(
                        "the new key (hash {}) was deleted again, nothing is left behind",
                        record.key_hash
                    ),
                    Some(d) => format!(
                        "deleting the new key (hash {}) failed too ({d}); its intent is recorded, so the next \
                         run of rotor on this secret deletes it",
                        record.key_hash
                    ),
                };
                Err(store_err(
                    scope.clone(),
                    &format!("storing the new key as pending ({note})"),
                    e,
                ))
            }
            None => Err(store_err(
                scope.clone(),
                &format!(
                    "storing the new key (hash {}) as pending (the outcome is unknown; its intent is recorded: \
                     the next run keeps the key if it was stored and deletes it otherwise)",
                    record.key_hash
                ),
                e,
            )),
        }
    }

    /// `DELETE /keys/{hash}`; `Ok(true)` when it was already gone (404).
    pub(super) async fn delete_key(&self, hash: &str) -> Result<bool, rotor_openrouter::Error> {
        self.forget_key(hash);
        match self.client.delete_key(hash).await {
            Ok(()) => Ok(false),
            Err(e) if e.is_not_found() => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// Retires the older keys of `current` whose time has come (grace period, then
    /// drained usage, optional disable-first; see [`Engine::retire`]) and returns the keys to keep
    /// recording, with their updated retirement state, in [`Retirement::kept`]. Never touches the
    /// current key. createSecret calls it, so the next rotation keeps at most two live keys once
    /// grace periods have passed and traffic has drained (keys still draining stay recorded).
    pub async fn retire_due_keys(
        &self,
        scope: &Scope,
        current: &KeyRecord,
        policy: &Policy,
        now: DateTime<Utc>,
        last_rotated: Option<DateTime<Utc>>,
    ) -> Result<Retirement, EngineError> {
        // The usage-aware retirement lives in engine/retire.rs.
        let plan = self
            .retire_or_preview(scope, current, policy, now, last_rotated, retire::Mode::Act)
            .await?;
        Ok(Retirement {
            kept: bookkeeping::pin_grace_starts(plan.kept, current, last_rotated),
            retired: plan.retired,
        })
    }
}
