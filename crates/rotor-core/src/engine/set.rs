//! setSecret: apply the policy's settings to the new key at OpenRouter.

#![allow(clippy::result_large_err)]

use super::*;

pub(super) fn same_limit(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => (x - y).abs() < 1e-9,
        _ => false,
    }
}

impl Engine {
    pub(super) async fn set_secret(
        &self,
        store: &dyn SecretStore,
        scope: &Scope,
        token: &str,
    ) -> Result<StepDone, EngineError> {
        let desc = self.describe(store, scope).await?;
        if let TokenState::Current = check_token(&desc, scope)? {
            return Ok(self.already_current(store, scope).await);
        }
        let pending = self.require_pending(store, scope, token).await?;
        let current = self.read_current(store, scope).await?;
        // Confused-deputy guard: both documents' keys must belong to this management key's account.
        let current_key = self
            .visible_key(scope, "current", &current.key_hash)
            .await?;
        if pending.key_hash == current.key_hash {
            // The pending value is the current one (RotateImmediately=false): leave the live key alone.
            return Ok(StepDone::outcome(StepOutcome::Unchanged).with_hash(pending.key_hash));
        }
        let pending_key = self
            .visible_key(scope, "pending", &pending.key_hash)
            .await?;
        let policy = self.defaults.with_overrides(pending.rotation.as_ref());
        let want = policy.key_settings(Some(&current_key));

        let mut request = UpdateKeyRequest::default();
        let mut fields = Vec::new();
        if pending_key.name != pending.key_name {
            request.name = Some(pending.key_name.clone());
            fields.push("name".to_owned());
        }
        if !same_limit(pending_key.limit, want.limit) {
            request.limit = Some(want.limit);
            fields.push("limit".to_owned());
        }
        if pending_key.limit_reset != want.limit_reset {
            request.limit_reset = Some(want.limit_reset);
            fields.push("limit_reset".to_owned());
        }
        if pending_key.include_byok_in_limit != want.include_byok_in_limit {
            request.include_byok_in_limit = Some(want.include_byok_in_limit);
            fields.push("include_byok_in_limit".to_owned());
        }
        if pending_key.disabled {
            request.disabled = Some(false);
            fields.push("disabled".to_owned());
        }
        // The new key lives in the current key's workspace (createSecret created it there; the
        // current key may have moved since).
        if !current_key.workspace_id.is_empty()
            && pending_key.workspace_id != current_key.workspace_id
        {
            request.workspace_id = Some(current_key.workspace_id.clone());
            fields.push("workspace_id".to_owned());
        }
        if !request.is_empty() {
            self.forget_key(&pending.key_hash);
            self.client
                .update_key(&pending.key_hash, &request)
                .await
                .map_err(|e| {
                    openrouter_error(
                        scope,
                        &format!("updating the new key's settings ({})", fields.join(", ")),
                        e,
                    )
                })?;
        }
        // The restrictions the team put on the current key (guardrails) bind the new key too,
        // before it is tested.
        fields.extend(
            self.carry_guardrails(scope, &current.key_hash, &pending.key_hash)
                .await?,
        );
        if fields.is_empty() {
            return Ok(StepDone::outcome(StepOutcome::Unchanged).with_hash(pending.key_hash));
        }
        Ok(StepDone::outcome(StepOutcome::Updated { fields }).with_hash(pending.key_hash))
    }

    /// Assigns `new` to every guardrail `current` is assigned to. Returns what changed
    /// (`guardrail <id>`). An account without guardrails (404) has nothing to carry.
    pub(super) async fn carry_guardrails(
        &self,
        scope: &Scope,
        current: &str,
        new: &str,
    ) -> Result<Vec<String>, EngineError> {
        let assignments = match self.client.list_key_assignments().await {
            Ok(a) => a,
            Err(e) if e.is_not_found() => return Ok(Vec::new()),
            Err(e) => {
                return Err(openrouter_error(
                    scope,
                    "listing guardrail assignments (GET /guardrails/assignments/keys)",
                    e,
                ));
            }
        };
        let of = |hash: &str| -> std::collections::BTreeSet<String> {
            assignments
                .iter()
                .filter(|a| a.key_hash == hash)
                .map(|a| a.guardrail_id.clone())
                .collect()
        };
        let missing: Vec<String> = of(current).difference(&of(new)).cloned().collect();
        let mut changed = Vec::new();
        for guardrail in missing {
            self.client
                .assign_keys_to_guardrail(&guardrail, &[new])
                .await
                .map_err(|e| {
                    openrouter_error(
                        scope,
                        &format!(
                            "assigning the new key to guardrail {guardrail} (as the current key is)"
                        ),
                        e,
                    )
                })?;
            changed.push(format!("guardrail {guardrail}"));
        }
        Ok(changed)
    }
}
