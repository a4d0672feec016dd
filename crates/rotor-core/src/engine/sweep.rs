//! Orphan sweep: OpenRouter keys that carry rotor's name tag but that no version of any
//! given secret references.
//!
//! A key is *referenced* by a secret when any version the store still lists (any stage, or none)
//! holds it as its key or in its `older_keys`, or when its tag is the tag of the secret's rotation
//! in progress (its key may not be stored yet). A document that cannot be parsed makes the sweep
//! fail: rotor cannot know which keys it references, so it will not call anything an orphan.
//! Keys younger than `min_age` are reported but never deleted (a rotation of a secret that was not
//! given may have just created one).

use crate::read_cache::ReadCache;
use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rotor_openrouter::ListKeysOptions;
use serde::Serialize;
use tracing::warn;

use secrecy::ExposeSecret;

use super::ledger::{LedgerDocument, is_ledger_document};
use super::{Engine, EngineError, Scope, openrouter_error, pending_rotation, store_err};
use crate::policy::{rotor_tag, tag_of_name};
use crate::record::KeyRecord;
use crate::store::{SecretStore, StoreError, VersionSelector};

/// A rotor-tagged key no given secret references.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrphanKey {
    pub key_hash: String,
    pub key_name: String,
    pub created_at: DateTime<Utc>,
    pub age_seconds: i64,
    pub usage: f64,
    pub disabled: bool,
    /// Younger than the sweep's minimum age: reported, never deleted.
    pub too_new: bool,
    /// Deleted by this sweep (`false` when only listing).
    pub deleted: bool,
}

/// The result of [`Engine::sweep`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepReport {
    /// The secrets whose versions were read.
    pub secrets: Vec<String>,
    /// How many rotor-tagged keys exist in the account.
    pub rotor_keys: usize,
    /// How many of them the secrets reference.
    pub referenced: usize,
    pub orphans: Vec<OrphanKey>,
}

/// What a secret references: key hashes and tags of rotations in progress.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct References {
    pub hashes: BTreeSet<String>,
    pub tags: BTreeSet<String>,
}

impl Engine {
    /// Every key hash any version of the secret references, and the tag of its rotation in
    /// progress.
    pub async fn references(
        &self,
        store: &dyn SecretStore,
        secret_id: &str,
    ) -> Result<References, EngineError> {
        let store: &dyn SecretStore = &ReadCache::new(store);
        let scope = Scope::new(secret_id, None, None);
        let desc = self.describe(store, &scope).await?;
        let mut refs = References::default();
        if let Some(token) = pending_rotation(&desc) {
            refs.tags.insert(rotor_tag(&desc.secret_id, token));
        }
        // Keys about to be created (an intent recorded, the key perhaps not stored yet).
        let ledger = store.read_ledger(secret_id).await.map_err(|e| {
            store_err(
                scope.clone(),
                "reading the secret's ledger for the sweep",
                e,
            )
        })?;
        if let Some(entry) = ledger {
            let doc = LedgerDocument::parse(&entry.document).map_err(|_| EngineError::Precondition {
                scope: scope.clone(),
                message: "the secret's rotor ledger cannot be parsed, so the sweep cannot tell which keys \
                          are about to be stored; the sweep deleted nothing"
                    .into(),
            })?;
            refs.tags.extend(doc.intents.into_iter().map(|i| i.tag));
        }
        for v in &desc.versions {
            let sel = VersionSelector::Version {
                id: v.id.clone(),
                stage: None,
            };
            let value = match store.get_value(secret_id, &sel).await {
                Ok(value) => value,
                // A version without a value (a pending rotation before createSecret), or one the
                // store forgot between describe and read.
                Err(StoreError::NotFound { .. }) => continue,
                Err(e) => {
                    return Err(store_err(
                        scope.clone(),
                        &format!("reading version {} for the sweep", v.id),
                        e,
                    ));
                }
            };
            if is_ledger_document(value.value.expose_secret()) {
                continue;
            }
            let record = KeyRecord::parse(&value.value, secret_id).map_err(|source| {
                EngineError::Record {
                    scope: scope.clone(),
                    which: format!(
                        "version {} (the sweep cannot tell which keys it references)",
                        v.id
                    ),
                    source,
                }
            })?;
            refs.hashes
                .extend(record.referenced_hashes().map(str::to_owned));
        }
        Ok(refs)
    }

    /// Lists rotor-tagged keys of the account (every workspace) that `refs` (the union of every
    /// given secret's [`references`](Self::references)) do not reference. Deletes nothing: the
    /// deletion is [`sweep_confirmed`](Self::sweep_confirmed), which reads the references again
    /// under the secrets' leases and deletes only keys that were shown.
    pub async fn sweep(
        &self,
        secrets: Vec<String>,
        refs: &References,
        min_age: Duration,
    ) -> Result<SweepReport, EngineError> {
        self.sweep_keys(secrets, refs, false, min_age, None).await
    }

    /// Deletes the orphans a person confirmed (`confirmed`: the hashes shown), under the lease of
    /// every given secret: the references are read again after the leases are taken, so a key
    /// that a rotation stored (or is about to store) meanwhile is kept, and only keys that were
    /// shown and are still unreferenced and older than `min_age` are deleted. Refused
    /// ([`EngineError::Busy`]) while any of the secrets has another owner: nothing deleted.
    pub async fn sweep_confirmed(
        &self,
        secrets: &[(&dyn SecretStore, String)],
        names: Vec<String>,
        confirmed: &BTreeSet<String>,
        min_age: Duration,
    ) -> Result<SweepReport, EngineError> {
        let mut owned = Vec::new();
        let mut result = Ok(References::default());
        for (store, secret_id) in secrets {
            let scope = Scope::new(secret_id, None, None);
            match self.take_lease(*store, &scope, "sweep").await {
                Ok(own) => owned.push((*store, own)),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        if let Ok(refs) = &mut result {
            for (store, secret_id) in secrets {
                match self.references(*store, secret_id).await {
                    Ok(r) => {
                        refs.hashes.extend(r.hashes);
                        refs.tags.extend(r.tags);
                    }
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
        }
        let report = match result {
            Ok(refs) => {
                self.sweep_keys(names, &refs, true, min_age, Some(confirmed))
                    .await
            }
            Err(e) => Err(e),
        };
        for (store, own) in owned {
            self.release(store, own).await;
        }
        report
    }

    async fn sweep_keys(
        &self,
        secrets: Vec<String>,
        refs: &References,
        delete: bool,
        min_age: Duration,
        only: Option<&BTreeSet<String>>,
    ) -> Result<SweepReport, EngineError> {
        let scope = Scope::new("(sweep)", None, None);
        // Every workspace: a rotated key lives in its current key's workspace.
        let workspaces: Vec<Option<String>> = match self.client.list_workspaces().await {
            Ok(ws) if !ws.is_empty() => ws.into_iter().map(|w| Some(w.id)).collect(),
            Ok(_) => vec![None],
            Err(e) if e.is_not_found() => vec![None],
            Err(e) => {
                return Err(openrouter_error(
                    &scope,
                    "listing workspaces (GET /workspaces)",
                    e,
                ));
            }
        };
        let mut keys = Vec::new();
        let mut seen = BTreeSet::new();
        for workspace_id in workspaces {
            let listed = self
                .client
                .list_keys(&ListKeysOptions {
                    include_disabled: true,
                    include_expired: true,
                    workspace_id,
                })
                .await
                .map_err(|e| openrouter_error(&scope, "listing keys (GET /keys)", e))?;
            for key in listed {
                if seen.insert(key.hash.clone()) {
                    keys.push(key);
                }
            }
        }
        let now = self.clock.now();
        let min_age = chrono::Duration::from_std(min_age).unwrap_or(chrono::Duration::MAX);
        let mut report = SweepReport {
            secrets,
            rotor_keys: 0,
            referenced: 0,
            orphans: Vec::new(),
        };
        for key in keys {
            let Some(tag) = tag_of_name(&key.name) else {
                continue;
            };
            report.rotor_keys += 1;
            if refs.hashes.contains(&key.hash) || refs.tags.contains(tag) {
                report.referenced += 1;
                continue;
            }
            let age = now - key.created_at;
            let too_new = age < min_age;
            let mut orphan = OrphanKey {
                key_hash: key.hash.clone(),
                key_name: key.name.clone(),
                created_at: key.created_at,
                age_seconds: age.num_seconds(),
                usage: key.usage,
                disabled: key.disabled,
                too_new,
                deleted: false,
            };
            if delete && !too_new && only.is_none_or(|o| o.contains(&key.hash)) {
                self.delete_key(&key.hash).await.map_err(|e| {
                    openrouter_error(&scope, &format!("deleting orphan key {}", key.hash), e)
                })?;
                warn!(
                    key_hash = key.hash.as_str(),
                    key_name = key.name.as_str(),
                    "sweep deleted an orphaned rotor key"
                );
                orphan.deleted = true;
            }
            report.orphans.push(orphan);
        }
        Ok(report)
    }
}
