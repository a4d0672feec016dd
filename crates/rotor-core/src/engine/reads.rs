//! Shared reads of the secret (describe, Current, Pending, Previous) and the confused-deputy check, each mapping store errors to engine errors.

#![allow(clippy::result_large_err)]

use super::*;

/// The key AWSPREVIOUS holds, as far as rotor can tell.
pub(super) enum PreviousKey {
    /// No previous version, or it holds the current key.
    None,
    /// This key (not the current one).
    Key(String),
    /// A previous document rotor cannot parse: protect every older key.
    Unknown,
}

impl Engine {
    /// The no-op result for a token that is already Current, naming its key where readable.
    pub(super) async fn already_current(&self, store: &dyn SecretStore, scope: &Scope) -> StepDone {
        let token = scope.token.clone().unwrap_or_default();
        let selector = VersionSelector::Version {
            id: token,
            stage: None,
        };
        let hash = match store.get_value(&scope.secret, &selector).await {
            Ok(v) => KeyRecord::parse(&v.value, &scope.secret)
                .ok()
                .map(|r| r.key_hash),
            Err(_) => None,
        };
        StepDone {
            key_hash: hash,
            ..StepDone::outcome(StepOutcome::AlreadyCurrent)
        }
    }

    pub(super) async fn describe(
        &self,
        store: &dyn SecretStore,
        scope: &Scope,
    ) -> Result<SecretDescription, EngineError> {
        store
            .describe(&scope.secret)
            .await
            .map_err(|e| store_err(scope.clone(), "describing the secret", e))
    }

    /// The key the AWSPREVIOUS document holds, when it is not `current`'s key. A read failure
    /// fails (rotor must not retire a key applications may still read as AWSPREVIOUS); a
    /// document rotor cannot parse is [`PreviousKey::Unknown`].
    pub(super) async fn previous_key(
        &self,
        store: &dyn SecretStore,
        scope: &Scope,
        current: &KeyRecord,
    ) -> Result<PreviousKey, EngineError> {
        let value = match store
            .get_value(&scope.secret, &VersionSelector::Stage(Stage::Previous))
            .await
        {
            Ok(v) => v,
            Err(StoreError::NotFound { .. }) => return Ok(PreviousKey::None),
            Err(e) => {
                return Err(store_err(
                    scope.clone(),
                    "reading the AWSPREVIOUS value (its key must stay alive while applications can read it)",
                    e,
                ));
            }
        };
        Ok(match KeyRecord::parse(&value.value, &scope.secret) {
            Ok(previous) if previous.key_hash != current.key_hash => {
                PreviousKey::Key(previous.key_hash)
            }
            Ok(_) => PreviousKey::None,
            Err(_) => PreviousKey::Unknown,
        })
    }

    pub(super) async fn read_current(
        &self,
        store: &dyn SecretStore,
        scope: &Scope,
    ) -> Result<KeyRecord, EngineError> {
        let value = match store
            .get_value(&scope.secret, &VersionSelector::Stage(Stage::Current))
            .await
        {
            Ok(v) => v,
            Err(StoreError::NotFound { .. }) => {
                return Err(EngineError::Precondition {
                    scope: scope.clone(),
                    message: "the secret has no AWSCURRENT value; create it with `rotor init`"
                        .into(),
                });
            }
            Err(e) => return Err(store_err(scope.clone(), "reading the AWSCURRENT value", e)),
        };
        KeyRecord::parse(&value.value, &scope.secret).map_err(|source| EngineError::Record {
            scope: scope.clone(),
            which: format!("AWSCURRENT (version {})", value.version_id),
            source,
        })
    }

    /// The pending document of `token`, `None` when the version has no value yet.
    pub(super) async fn read_pending(
        &self,
        store: &dyn SecretStore,
        scope: &Scope,
        token: &str,
    ) -> Result<Option<KeyRecord>, EngineError> {
        let selector = VersionSelector::version_in_stage(token, Stage::Pending);
        let value = match store.get_value(&scope.secret, &selector).await {
            Ok(v) => v,
            Err(StoreError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(store_err(scope.clone(), "reading the AWSPENDING value", e)),
        };
        KeyRecord::parse(&value.value, &scope.secret)
            .map(Some)
            .map_err(|source| EngineError::Record {
                scope: scope.clone(),
                which: format!("AWSPENDING (version {token})"),
                source,
            })
    }

    pub(super) async fn require_pending(
        &self,
        store: &dyn SecretStore,
        scope: &Scope,
        token: &str,
    ) -> Result<KeyRecord, EngineError> {
        self.read_pending(store, scope, token)
            .await?
            .ok_or_else(|| EngineError::Precondition {
                scope: scope.clone(),
                message: "the AWSPENDING version has no value yet; run createSecret first".into(),
            })
    }

    /// `GET /keys/{hash}`; a 404 means the key is not in this account: [`EngineError::ForeignKey`].
    pub(super) async fn visible_key(
        &self,
        scope: &Scope,
        which: &'static str,
        hash: &str,
    ) -> Result<Key, EngineError> {
        match self.get_key_once(hash).await {
            Ok(key) => Ok(key),
            Err(e) if e.is_not_found() => Err(EngineError::ForeignKey {
                scope: scope.clone(),
                which,
                key_hash: hash.to_owned(),
            }),
            Err(e) => Err(openrouter_error(
                scope,
                &format!("reading the {which} key {hash} (GET /keys/{{hash}})"),
                e,
            )),
        }
    }
}
