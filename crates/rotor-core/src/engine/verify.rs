//! testSecret: prove the new key works before anything can promote it.

#![allow(clippy::result_large_err)]

use super::*;

impl Engine {
    pub(super) async fn test_secret(
        &self,
        store: &dyn SecretStore,
        scope: &Scope,
        token: &str,
    ) -> Result<StepDone, EngineError> {
        let desc = self.describe(store, scope).await?;
        if let TokenState::Current = check_token(&desc, scope)? {
            return Ok(self.already_current(store, scope).await);
        }
        // Works whether or not createSecret ran (RotateImmediately=false: pending == current).
        let pending = self.require_pending(store, scope, token).await?;
        let policy = self.defaults.with_overrides(pending.rotation.as_ref());
        let now = self.clock.now();
        let fail = |message: String| EngineError::KeyCheck {
            scope: scope.clone(),
            message,
        };

        let key = match self.get_key_once(&pending.key_hash).await {
            Ok(key) => key,
            Err(e) if e.is_not_found() => {
                return Err(fail(format!(
                    "OpenRouter has no key with hash {} in this account (deleted, or another account's); \
                     abandon this rotation and start a new one",
                    pending.key_hash
                )));
            }
            Err(e) => {
                return Err(openrouter_error(
                    scope,
                    "reading the new key's state (GET /keys/{hash})",
                    e,
                ));
            }
        };
        if key.disabled {
            return Err(fail(format!(
                "key {} is disabled at OpenRouter; run setSecret to re-enable it",
                key.hash
            )));
        }
        if key.expires_at.is_some_and(|t| t <= now) {
            return Err(fail(format!("key {} has expired at OpenRouter", key.hash)));
        }
        let me = match self.client.current_key(&pending.api_key).await {
            Ok(me) => me,
            Err(
                e @ (rotor_openrouter::Error::Unauthorized { .. }
                | rotor_openrouter::Error::Forbidden { .. }),
            ) => {
                return Err(fail(format!(
                    "OpenRouter does not accept the stored key ({e})"
                )));
            }
            Err(e) => {
                return Err(openrouter_error(
                    scope,
                    "calling GET /key with the new key",
                    e,
                ));
            }
        };
        if me.is_management_key || me.is_provisioning_key {
            return Err(fail(
                "the stored api_key is a management key, not an ordinary API key".into(),
            ));
        }
        if me.label != key.label {
            return Err(fail(format!(
                "the stored api_key is not the key with hash {} (OpenRouter labels differ: {} vs {})",
                key.hash, me.label, key.label
            )));
        }
        if me.expires_at.is_some_and(|t| t <= now) {
            return Err(fail(format!("key {} has expired", key.hash)));
        }
        // A key that cannot spend is no working key: over its own limit (402 at inference), or
        // blocked by a spent guardrail or workspace budget (403).
        if me.limit_remaining.is_some_and(|r| r <= 0.0) {
            return Err(fail(format!(
                "key {} is over its spending limit (limit_remaining {})",
                key.hash,
                me.limit_remaining.unwrap_or_default()
            )));
        }
        if let Some(spent) = me.budgets.iter().find(|b| b.is_spent()) {
            return Err(fail(format!(
                "key {} is blocked by a spent {} budget{} (limit ${}, remaining ${}); raise or reset that \
                 budget, then resume the rotation",
                key.hash,
                spent.scope,
                spent
                    .guardrail_id
                    .as_deref()
                    .map(|g| format!(" (guardrail {g})"))
                    .unwrap_or_default(),
                spent.limit_usd,
                spent.remaining_usd
            )));
        }
        if policy.test_mode == TestMode::Completion {
            match self
                .client
                .chat_completion(&pending.api_key, &policy.test_model)
                .await
            {
                Ok(_) => {}
                Err(e) if e.is_transient() => {
                    return Err(openrouter_error(
                        scope,
                        &format!("a test completion on {}", policy.test_model),
                        e,
                    ));
                }
                Err(e) => {
                    return Err(fail(format!(
                        "a test completion on {} failed: {e}",
                        policy.test_model
                    )));
                }
            }
        }
        Ok(StepDone::outcome(StepOutcome::Passed).with_hash(pending.key_hash))
    }
}
