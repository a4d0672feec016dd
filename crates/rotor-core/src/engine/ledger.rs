//! One owner per secret, and a durable intent before every key.
//!
//! Every mutating operation (a rotation, a step that creates, promotes or deletes, abandon,
//! retire, rollback, revoke, a sweep's deletions) runs under a *lease* recorded in the secret's
//! ledger ([`SecretStore::write_ledger`], a check-and-set document beside the versions). A worker
//! takes the lease when it is free or expired; a second worker is refused with
//! [`EngineError::Busy`] naming the holder and when its lease ends, before it changes anything.
//! The owner renews the lease (another check-and-set) whenever less than half of it is left
//! before it acts ([`Engine::fence`]), so a worker that stalled past its lease and lost it to
//! another finds out at its next action and stops. A crashed owner's lease simply expires.
//!
//! Before `POST /keys` the owner records an *intent* (rotation token, name tag, workspace) in the
//! same ledger. An intent without a stored key is the only thing that makes rotor list keys: the
//! next owner ([`Engine::take_lease`]) lists the intent's workspace for keys with its tag that no
//! stored document records, deletes them, and drops the intent. So a crash anywhere between the
//! create and the store write is recovered from the store alone, by any worker, on any backend.
//!
//! A rotation knows its intent (token, tag, workspace) before it takes the lease, so it records
//! both in one check-and-set ([`Engine::take_lease_with_intent`]); an intent recorded that way
//! whose `POST /keys` was never sent (the rotation was refused, or failed before creating) is
//! dropped by the release write, with nothing to look up.
//!
//! The rotation service runs its four steps as separate invocations within seconds; there
//! ([`Engine::with_lease_handover`]) a createSecret that stored its pending document keeps its
//! lease for the same rotation's finishSecret ([`Lease::handed_to`]), which takes it over once
//! it has read that document as stored (`may_take_over`), dropping the rotation's intent in the
//! same check-and-set: one ledger write instead of a release and a fresh take.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rotor_openrouter::ListKeysOptions;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::{Engine, EngineError, Scope, openrouter_error, store_err};
use crate::policy::tag_of_name;
use crate::record::KeyRecord;
use crate::store::{SecretStore, Stage, StoreError, VersionSelector};

/// The ledger document (JSON in the store; never key material).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LedgerDocument {
    /// Marks the document as rotor's ledger (so a reader of every version can skip it).
    #[serde(default = "ledger_format")]
    pub rotor_ledger: u32,
    /// The worker that owns the secret now, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
    /// Keys about to be created whose plaintext may not be stored yet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub intents: Vec<Intent>,
}

fn ledger_format() -> u32 {
    1
}

/// Who owns a secret, doing what, until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The worker (host, process, and a random id per engine).
    pub holder: String,
    /// What it is doing (`rotate`, `createSecret`, `retire`…).
    pub operation: String,
    pub acquired_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Set by a lone createSecret run by the rotation service (the Lambda): the rotation token
    /// whose finishSecret may take this lease over once that rotation's pending document is
    /// stored (`may_take_over`). createSecret then leaves the lease in place instead of
    /// releasing it, and finishSecret's takeover is the write that would have taken it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handed_to: Option<String>,
}

/// Whether a worker may take over `lease` while it still runs: only a lease a lone createSecret
/// handed to rotation `token` ([`Lease::handed_to`]), taken by that rotation's finishSecret once it
/// has read the rotation's pending document as stored (`pending_stored`). createSecret's last
/// action is storing that document, so nothing it still does needs the lease; every other worker
/// waits for the release or the expiry, as for any lease.
pub(crate) fn may_take_over(lease: &Lease, pending_stored: Option<&str>) -> bool {
    lease.handed_to.is_some() && lease.handed_to.as_deref() == pending_stored
}

/// What a lease is taken for ([`Engine::acquire_lease`]).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LeaseRequest<'a> {
    /// What the owner will do (`rotate`, `createSecret`…), shown to workers it refuses.
    pub(crate) operation: &'a str,
    /// The intent recorded in the same check-and-set.
    pub(crate) intent: Option<&'a PlannedIntent>,
    /// [`Lease::handed_to`]: a lone createSecret that leaves the lease to its finishSecret.
    pub(crate) hand_over_to: Option<&'a str>,
    /// The rotation whose pending document the caller read as stored, after reading the
    /// ledger: a lease handed to it may be taken over ([`may_take_over`]), and its intent is
    /// dropped in the same write (its key is recorded).
    pub(crate) pending_stored: Option<&'a str>,
}

/// A key about to be created at OpenRouter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    /// The rotation token (the version that will hold the key).
    pub token: String,
    /// The key's name tag (`[rotor:<tag>]`).
    pub tag: String,
    /// The workspace the key is created in (`None`: the default workspace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,
    pub recorded_at: DateTime<Utc>,
}

impl LedgerDocument {
    /// Parses a stored ledger (an empty document is an empty ledger).
    pub fn parse(text: &str) -> Result<LedgerDocument, serde_json::Error> {
        if text.trim().is_empty() {
            return Ok(LedgerDocument {
                rotor_ledger: 1,
                ..LedgerDocument::default()
            });
        }
        serde_json::from_str(text)
    }

    fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a ledger document always serializes")
    }
}

/// Whether a stored value is a ledger document rather than a key document.
pub fn is_ledger_document(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| v.get("rotor_ledger").cloned())
        .is_some()
}

/// A held lease: the ledger as this owner last wrote it.
#[derive(Debug, Clone)]
pub struct Ownership {
    pub(crate) secret: String,
    revision: String,
    doc: LedgerDocument,
    ttl: Duration,
    /// Keys deleted while recovering earlier intents when the lease was taken.
    pub(crate) recovered: Vec<String>,
    /// Intents whose document this owner stored (their key is recorded; no read needed to
    /// drop them at release).
    stored: Vec<String>,
    /// Intents this owner recorded itself (not inherited from an earlier owner).
    fresh: Vec<String>,
    /// Intents whose `POST /keys` this owner sent (or may have sent).
    posted: Vec<String>,
}

/// The intent a rotation records together with its lease (see the module docs).
#[derive(Debug, Clone)]
pub(crate) struct PlannedIntent {
    pub(crate) token: String,
    pub(crate) tag: String,
    pub(crate) workspace_id: Option<String>,
}

impl Ownership {
    /// When the lease ends unless renewed.
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.doc
            .lease
            .as_ref()
            .map(|l| l.expires_at)
            .unwrap_or_default()
    }

    /// Notes that the document of `token`'s intent is stored.
    pub(crate) fn stored(&mut self, token: &str) {
        self.stored.push(token.to_owned());
    }

    /// Notes that `POST /keys` for `token`'s intent is about to be sent: from here on the key
    /// may exist, so the intent is dropped only once its document is stored or the key deleted.
    pub(crate) fn posting(&mut self, token: &str) {
        self.posted.push(token.to_owned());
    }

    /// Whether an intent for `token` is recorded.
    pub(crate) fn has_intent(&self, token: &str) -> bool {
        self.doc.intents.iter().any(|i| i.token == token)
    }

    /// Whether this owner recorded `token`'s intent itself (with its lease or later).
    pub(crate) fn recorded_intent(&self, token: &str) -> bool {
        self.has_intent(token) && self.fresh.iter().any(|t| t == token)
    }

    /// Whether `token`'s intent is this owner's and its `POST /keys` was never sent: no key of
    /// it can exist.
    fn never_posted(&self, token: &str) -> bool {
        self.fresh.iter().any(|t| t == token) && !self.posted.iter().any(|t| t == token)
    }

    /// The intents whose key may exist (what [`Engine::recover_intents`] recovers): every one
    /// an earlier owner left, and this owner's once their `POST /keys` was sent.
    fn intents_to_recover(&self) -> Vec<Intent> {
        self.doc
            .intents
            .iter()
            .filter(|i| !self.never_posted(&i.token))
            .cloned()
            .collect()
    }
}

fn chrono_ttl(ttl: Duration) -> chrono::Duration {
    chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::seconds(120))
}

impl Engine {
    /// This engine's worker identity in leases: host, process id and a random id.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Takes the secret's lease for `operation` when it is free or expired, then
    /// recovers every intent an earlier owner left (see the module docs). Refused with
    /// [`EngineError::Busy`] while another worker's lease runs: nothing changed.
    pub async fn take_lease(
        &self,
        store: &dyn SecretStore,
        scope: &Scope,
        operation: &str,
    ) -> Result<Ownership, EngineError> {
        self.take_lease_with_intent(store, scope, operation, None)
            .await
    }

    /// [`take_lease`](Self::take_lease), recording `intent` in the same check-and-set. An
    /// intent an earlier owner left for the same token is recovered first, like any other (its
    /// key may exist), and the intent is then recorded again by createSecret.
    pub(crate) async fn take_lease_with_intent(
        &self,
        store: &dyn SecretStore,
        scope: &Scope,
        operation: &str,
        intent: Option<&PlannedIntent>,
    ) -> Result<Ownership, EngineError> {
        let request = LeaseRequest {
            operation,
            intent,
            ..LeaseRequest::default()
        };
        self.acquire_lease(store, scope, request).await
    }

    /// Takes the lease as `request` says (see [`LeaseRequest`]): when it is free, expired, or
    /// handed to the rotation whose pending document the caller read as stored.
    pub(crate) async fn acquire_lease(
        &self,
        store: &dyn SecretStore,
        scope: &Scope,
        request: LeaseRequest<'_>,
    ) -> Result<Ownership, EngineError> {
        let LeaseRequest {
            operation,
            intent,
            hand_over_to,
            pending_stored,
        } = request;
        let ttl = self.defaults.lease_ttl;
        let mut attempts = 0;
        let mut own = loop {
            attempts += 1;
            let entry = store
                .read_ledger(&scope.secret)
                .await
                .map_err(|e| store_err(scope.clone(), "reading the secret's ledger (lease)", e))?;
            let (revision, doc) = match &entry {
                Some(e) => (
                    Some(e.revision.clone()),
                    LedgerDocument::parse(&e.document).map_err(|e| EngineError::Precondition {
                        scope: scope.clone(),
                        message: format!(
                            "the secret's rotor ledger cannot be parsed ({:?} error at line {} column {}); \
                             it holds no key: delete it (see docs/lifecycle.md, \"The ledger\") and retry",
                            e.classify(),
                            e.line(),
                            e.column()
                        ),
                    })?,
                ),
                None => (None, LedgerDocument::parse("").unwrap_or_default()),
            };
            let now = self.clock.now();
            // Strict, even for this engine's own holder: two tasks sharing one engine must not
            // both own a secret.
            if let Some(lease) = &doc.lease
                && lease.expires_at > now
                && !may_take_over(lease, pending_stored)
            {
                return Err(EngineError::Busy {
                    scope: scope.clone(),
                    holder: lease.holder.clone(),
                    operation: lease.operation.clone(),
                    until: lease.expires_at,
                });
            }
            if let Some(lease) = &doc.lease {
                if lease.expires_at > now {
                    info!(
                        secret_id = scope.secret.as_str(),
                        previous_holder = lease.holder.as_str(),
                        token = lease.handed_to.as_deref().unwrap_or_default(),
                        "taking over the lease createSecret handed to this rotation's finishSecret"
                    );
                } else {
                    info!(
                        secret_id = scope.secret.as_str(),
                        previous_holder = lease.holder.as_str(),
                        previous_operation = lease.operation.as_str(),
                        expired_at = %lease.expires_at,
                        "taking over an expired lease"
                    );
                }
            }
            let mut next = doc.clone();
            next.lease = Some(Lease {
                holder: self.holder.clone(),
                operation: operation.to_owned(),
                acquired_at: now,
                expires_at: now + chrono_ttl(ttl),
                handed_to: hand_over_to.map(str::to_owned),
            });
            // The intent of a rotation whose document is stored: its key is recorded.
            if let Some(token) = pending_stored {
                next.intents.retain(|i| i.token != token);
            }
            let mut fresh = Vec::new();
            if let Some(planned) = intent
                && !doc.intents.iter().any(|i| i.token == planned.token)
            {
                next.intents.push(Intent {
                    token: planned.token.clone(),
                    tag: planned.tag.clone(),
                    workspace_id: planned.workspace_id.clone(),
                    recorded_at: now,
                });
                fresh.push(planned.token.clone());
            }
            match store
                .write_ledger(&scope.secret, revision.as_deref(), &next.to_json())
                .await
            {
                Ok(revision) => {
                    break Ownership {
                        secret: scope.secret.clone(),
                        revision,
                        doc: next,
                        ttl,
                        recovered: Vec::new(),
                        stored: Vec::new(),
                        fresh,
                        posted: Vec::new(),
                    };
                }
                Err(StoreError::Conflict { .. }) if attempts < 5 => continue,
                Err(e) => {
                    return Err(store_err(
                        scope.clone(),
                        "taking the secret's lease (ledger check-and-set)",
                        e,
                    ));
                }
            }
        };
        if !own.intents_to_recover().is_empty() {
            self.recover_intents(store, scope, &mut own).await?;
        }
        Ok(own)
    }

    /// Before an action: renews the lease (check-and-set) when less than half of it is left, so
    /// an owner that lost its lease to another worker stops here.
    pub(crate) async fn fence(
        &self,
        store: &dyn SecretStore,
        scope: &Scope,
        own: &mut Ownership,
    ) -> Result<(), EngineError> {
        let now = self.clock.now();
        if own.expires_at() - now >= chrono_ttl(own.ttl) / 2 {
            return Ok(());
        }
        let mut next = own.doc.clone();
        if let Some(lease) = &mut next.lease {
            lease.expires_at = now + chrono_ttl(own.ttl);
        }
        self.write_owned(store, scope, own, next).await
    }

    /// Writes `next` as the ledger over this owner's revision; a lost check-and-set means another
    /// worker took the lease over: [`EngineError::LeaseLost`].
    async fn write_owned(
        &self,
        store: &dyn SecretStore,
        scope: &Scope,
        own: &mut Ownership,
        next: LedgerDocument,
    ) -> Result<(), EngineError> {
        match store
            .write_ledger(&scope.secret, Some(&own.revision), &next.to_json())
            .await
        {
            Ok(revision) => {
                own.revision = revision;
                own.doc = next;
                Ok(())
            }
            Err(StoreError::Conflict { .. }) => Err(EngineError::LeaseLost {
                scope: scope.clone(),
            }),
            Err(e) => Err(store_err(
                scope.clone(),
                "writing the secret's ledger (lease)",
                e,
            )),
        }
    }

    /// Records that a key with `tag` is about to be created for rotation `token` (and renews the
    /// lease). Must succeed before `POST /keys`.
    pub(crate) async fn record_intent(
        &self,
        store: &dyn SecretStore,
        scope: &Scope,
        own: &mut Ownership,
        token: &str,
        tag: &str,
        workspace_id: Option<&str>,
    ) -> Result<(), EngineError> {
        let same = |i: &Intent| {
            i.token == token && i.tag == tag && i.workspace_id.as_deref() == workspace_id
        };
        if own.recorded_intent(token) && own.doc.intents.iter().any(same) {
            // Recorded with the lease (take_lease_with_intent) exactly as it is needed now:
            // renew only if due. (Planned from reads before the lease; if they no longer hold,
            // e.g. the current key's workspace changed, the intent is written again below.)
            return self.fence(store, scope, own).await;
        }
        let now = self.clock.now();
        let mut next = own.doc.clone();
        next.intents.retain(|i| i.token != token);
        next.intents.push(Intent {
            token: token.to_owned(),
            tag: tag.to_owned(),
            workspace_id: workspace_id.map(str::to_owned),
            recorded_at: now,
        });
        if let Some(lease) = &mut next.lease {
            lease.expires_at = now + chrono_ttl(own.ttl);
        }
        self.write_owned(store, scope, own, next).await?;
        own.fresh.push(token.to_owned());
        Ok(())
    }

    /// Drops the intent of `token` (its key is stored, or was deleted).
    pub(crate) async fn resolve_intent(
        &self,
        store: &dyn SecretStore,
        scope: &Scope,
        own: &mut Ownership,
        token: &str,
    ) -> Result<(), EngineError> {
        if !own.has_intent(token) {
            return Ok(());
        }
        let mut next = own.doc.clone();
        next.intents.retain(|i| i.token != token);
        self.write_owned(store, scope, own, next).await
    }

    /// Gives the lease up, dropping in the same write the intents whose key a stored version now
    /// records. Best effort: a failure leaves the lease to expire.
    pub(crate) async fn release(&self, store: &dyn SecretStore, own: Ownership) {
        let mut own = own;
        let resolved = self.stored_intents(store, &own).await;
        let mut next = own.doc.clone();
        next.lease = None;
        next.intents.retain(|i| !resolved.contains(&i.token));
        let scope = Scope::new(&own.secret, None, None);
        if let Err(e) = self.write_owned(store, &scope, &mut own, next).await {
            warn!(
                secret_id = own.secret.as_str(),
                error = %e,
                "could not release the lease; it expires by itself"
            );
        }
    }

    /// The tokens of recorded intents that can be dropped: their key a stored version records
    /// (known, or read from the store), or this owner recorded them and never sent their
    /// `POST /keys` (no key of theirs can exist).
    async fn stored_intents(&self, store: &dyn SecretStore, own: &Ownership) -> Vec<String> {
        let mut out = Vec::new();
        for intent in &own.doc.intents {
            if own.stored.contains(&intent.token) || own.never_posted(&intent.token) {
                out.push(intent.token.clone());
                continue;
            }
            let sel = VersionSelector::Version {
                id: intent.token.clone(),
                stage: None,
            };
            if let Ok(v) = store.get_value(&own.secret, &sel).await
                && KeyRecord::parse(&v.value, &own.secret).is_ok()
            {
                out.push(intent.token.clone());
            }
        }
        out
    }

    /// Every key hash the documents in `stages` and the versions `extra_versions` record. A read error fails: rotor will not delete a key it
    /// cannot prove unrecorded.
    pub(crate) async fn recorded_hashes(
        &self,
        store: &dyn SecretStore,
        scope: &Scope,
        stages: &[Stage],
        extra_versions: &[String],
    ) -> Result<HashSet<String>, EngineError> {
        let mut selectors: Vec<VersionSelector> =
            stages.iter().map(|s| VersionSelector::Stage(*s)).collect();
        selectors.extend(extra_versions.iter().map(|id| VersionSelector::Version {
            id: id.clone(),
            stage: None,
        }));
        let mut hashes = HashSet::new();
        for sel in selectors {
            match store.get_value(&scope.secret, &sel).await {
                Ok(v) => match KeyRecord::parse(&v.value, &scope.secret) {
                    Ok(r) => hashes.extend(r.referenced_hashes().map(str::to_owned)),
                    Err(source) => {
                        return Err(EngineError::Record {
                            scope: scope.clone(),
                            which: format!("{sel}"),
                            source,
                        });
                    }
                },
                Err(StoreError::NotFound { .. }) => {}
                Err(e) => {
                    return Err(store_err(
                        scope.clone(),
                        &format!("reading {sel} to see which keys are recorded"),
                        e,
                    ));
                }
            }
        }
        Ok(hashes)
    }

    /// Deletes the keys of recorded intents that no stored document records, then drops the
    /// intents. The only place rotor lists keys during a rotation.
    pub(crate) async fn recover_intents(
        &self,
        store: &dyn SecretStore,
        scope: &Scope,
        own: &mut Ownership,
    ) -> Result<(), EngineError> {
        let intents = own.intents_to_recover();
        let tokens: Vec<String> = intents.iter().map(|i| i.token.clone()).collect();
        let recorded = self
            .recorded_hashes(store, scope, &Stage::ALL, &tokens)
            .await?;
        for intent in intents {
            let keys = self
                .client
                .list_keys(&ListKeysOptions {
                    include_disabled: true,
                    include_expired: true,
                    workspace_id: intent.workspace_id.clone(),
                })
                .await
                .map_err(|e| {
                    openrouter_error(
                        scope,
                        &format!(
                            "listing keys to recover the interrupted rotation {} (tag {})",
                            intent.token, intent.tag
                        ),
                        e,
                    )
                })?;
            for key in keys {
                if tag_of_name(&key.name) != Some(intent.tag.as_str())
                    || recorded.contains(&key.hash)
                {
                    continue;
                }
                self.fence(store, scope, own).await?;
                self.delete_key(&key.hash).await.map_err(|e| {
                    openrouter_error(
                        scope,
                        &format!(
                            "deleting key {} of the interrupted rotation {} (never stored)",
                            key.hash, intent.token
                        ),
                        e,
                    )
                })?;
                warn!(
                    secret_id = scope.secret.as_str(),
                    token = intent.token.as_str(),
                    key_hash = key.hash.as_str(),
                    "deleted a key of an interrupted rotation whose plaintext was never stored"
                );
                own.recovered.push(key.hash);
            }
            self.resolve_intent(store, scope, own, &intent.token)
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(handed_to: Option<&str>) -> Lease {
        let now = Utc::now();
        Lease {
            holder: "lambda".into(),
            operation: "createSecret".into(),
            acquired_at: now,
            expires_at: now + chrono::Duration::minutes(2),
            handed_to: handed_to.map(str::to_owned),
        }
    }

    #[test]
    fn only_the_rotation_a_lease_was_handed_to_may_take_it_over_once_its_document_is_stored() {
        // (lease handed to, the rotation whose pending document the taker read as stored, may take over)
        let table = [
            (Some("t1"), Some("t1"), true),
            (Some("t1"), None, false),
            (Some("t1"), Some("t2"), false),
            (None, Some("t1"), false),
            (None, None, false),
        ];
        for (handed_to, stored, want) in table {
            assert_eq!(
                may_take_over(&lease(handed_to), stored),
                want,
                "handed to {handed_to:?}, stored {stored:?}"
            );
        }
    }
}
