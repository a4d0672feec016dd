//! finishSecret: test (unless tested in this run), promote, then retire the key AWSPREVIOUS held.

#![allow(clippy::result_large_err)]

use super::*;

impl Engine {
    pub(super) async fn finish_secret(
        &self,
        store: &dyn SecretStore,
        scope: &Scope,
        token: &str,
        own: &mut Ownership,
        tested: bool,
    ) -> Result<StepDone, EngineError> {
        let desc = self.describe(store, scope).await?;
        if let TokenState::Current = check_token(&desc, scope)? {
            return Ok(self.already_current(store, scope).await);
        }
        // Never promote a key that has not passed its test: unless testSecret passed in this
        // run, test it now (a lone `rotor step --step finishSecret`, a Lambda retry).
        if !tested {
            self.test_secret(store, scope, token).await?;
        }
        // Never promote a document applications could not read.
        let pending = self.require_pending(store, scope, token).await?;
        let Some(from) = desc.with_stage(Stage::Current).map(|v| v.id.clone()) else {
            return Err(EngineError::Precondition {
                scope: scope.clone(),
                message: "no version is AWSCURRENT, so there is nothing to promote from".into(),
            });
        };
        let current = self.read_current(store, scope).await?;
        // The pending document was built from the current one at createSecret: it records the
        // current key among its older keys (or is the current key itself, RotateImmediately=false).
        // If the current version changed since (another rotation finished in between), promoting
        // would leave the key being replaced recorded nowhere: refuse.
        if pending.key_hash != current.key_hash
            && !pending
                .older_keys
                .iter()
                .any(|k| k.key_hash == current.key_hash)
        {
            return Err(EngineError::Conflict {
                scope: scope.clone(),
                message: format!(
                    "the current key ({}) changed after this rotation's createSecret (another rotation \
                     finished in between), so promoting would forget it; abandon this rotation with \
                     `rotor rotate --abandon` (deletes its new key) and rotate again",
                    current.key_hash
                ),
            });
        }
        // The key AWSPREVIOUS holds before the promote (retired afterwards if due).
        let former_previous = match self.previous_key(store, scope, &current).await? {
            PreviousKey::Key(hash) => Some(hash),
            PreviousKey::None | PreviousKey::Unknown => None,
        };
        self.fence(store, scope, own).await?;
        match store.promote(&scope.secret, token, &from).await {
            Ok(()) => {
                let retired = self
                    .retire_after_promote(
                        scope,
                        former_previous.as_deref(),
                        &pending,
                        desc.last_rotated,
                    )
                    .await;
                let mut done = StepDone::outcome(StepOutcome::Promoted).with_hash(pending.key_hash);
                done.retired = retired;
                Ok(done)
            }
            Err(e @ StoreError::Conflict { .. }) => Err(EngineError::Conflict {
                scope: scope.clone(),
                message: format!(
                    "another promote moved AWSCURRENT away from version {from} first ({e}); run `rotor status`"
                ),
            }),
            Err(e) => Err(store_err(
                scope.clone(),
                "promoting the new version to AWSCURRENT",
                e,
            )),
        }
    }

    /// After finishSecret's promote: retires the key that AWSPREVIOUS held until now, if it is due
    /// (createSecret left it alive because applications could still read it as AWSPREVIOUS). Its
    /// entry stays in the (new) current document until the next retirement finds it gone. A
    /// failure here does not fail the step: the promote is done, and the next rotation or `rotor
    /// retire` retires the key.
    pub(super) async fn retire_after_promote(
        &self,
        scope: &Scope,
        former_previous: Option<&str>,
        promoted: &KeyRecord,
        last_rotated: Option<DateTime<Utc>>,
    ) -> Vec<RetiredKey> {
        let Some(hash) = former_previous else {
            return Vec::new();
        };
        let mut record = promoted.clone();
        record.older_keys.retain(|k| k.key_hash == hash);
        if record.older_keys.is_empty() {
            return Vec::new();
        }
        let policy = self.defaults.with_overrides(promoted.rotation.as_ref());
        match self
            .retire_due_keys(scope, &record, &policy, self.clock.now(), last_rotated)
            .await
        {
            Ok(r) => r.retired,
            Err(e) => {
                warn!(
                    secret_id = scope.secret.as_str(),
                    key_hash = hash,
                    error = %e,
                    "could not retire the former AWSPREVIOUS key after promoting; the next rotation or `rotor retire` will"
                );
                Vec::new()
            }
        }
    }
}
