//! The [`SecretStore`] implementation of [`SecretsManagerStore`]: each trait method onto its
//! Secrets Manager calls (the table in the parent module's docs).

use async_trait::async_trait;
use rotor_core::store::{
    LedgerEntry, SecretDescription, SecretStore, SecretValue, Stage, StoreError, VersionInfo,
    VersionSelector,
};
use secrecy::{ExposeSecret, SecretString};

use super::{SecretsManagerStore, to_chrono};
use crate::sdk_error::map_sdk_error;

#[async_trait]
impl SecretStore for SecretsManagerStore {
    fn backend(&self) -> &'static str {
        "aws"
    }

    /// Secrets Manager's limit on `SecretString`.
    fn max_value_bytes(&self) -> Option<usize> {
        Some(65_536)
    }

    /// The pending mark of `begin_rotation` lives in this process only (see the module docs).
    fn begin_rotation_is_exclusive(&self) -> bool {
        false
    }

    /// Versions never change once written: the values this store read or wrote
    /// (`store/views.rs`).
    fn remembered_value(&self, secret_id: &str, id: &str) -> Option<SecretValue> {
        self.views.value(secret_id, id)
    }

    async fn describe(&self, secret_id: &str) -> Result<SecretDescription, StoreError> {
        let mut d = self.describe_remote(secret_id).await?;
        if let Some(token) = self.begun_token(secret_id) {
            let pending_elsewhere = d.with_stage(Stage::Pending).is_some();
            if d.version(&token).is_none() && !pending_elsewhere {
                d.versions.push(VersionInfo {
                    id: token,
                    stages: vec![Stage::Pending],
                    created_at: None,
                });
            } else {
                self.set_begun(secret_id, None);
            }
        }
        Ok(d)
    }

    async fn get_value(
        &self,
        secret_id: &str,
        selector: &VersionSelector,
    ) -> Result<SecretValue, StoreError> {
        let mut req = self.client.get_secret_value().secret_id(secret_id);
        req = match selector {
            VersionSelector::Stage(stage) => req.version_stage(stage.aws_label()),
            VersionSelector::Version { id, stage } => {
                let r = req.version_id(id);
                match stage {
                    Some(s) => r.version_stage(s.aws_label()),
                    None => r,
                }
            }
        };
        let out =
            req.send()
                .await
                .map_err(|e| match map_sdk_error(secret_id, "GetSecretValue", e) {
                    StoreError::NotFound { secret, .. } => StoreError::NotFound {
                        secret,
                        what: selector.to_string(),
                    },
                    // LocalStack (and AWS) answer a version that does not carry the requested stage with
                    // InvalidRequestException "You provided a VersionStage that is not associated to the
                    // provided VersionId": for the trait that version is not found in that stage.
                    StoreError::Precondition { secret, message }
                        if message.contains("VersionStage") =>
                    {
                        StoreError::NotFound {
                            secret,
                            what: selector.to_string(),
                        }
                    }
                    other => other,
                })?;
        let Some(value) = out.secret_string() else {
            return Err(StoreError::precondition(
                secret_id,
                format!(
                    "{selector} holds a binary value; rotor stores its document as SecretString"
                ),
            ));
        };
        let mut stages: Vec<Stage> = out
            .version_stages()
            .iter()
            .filter_map(|l| Stage::from_aws_label(l))
            .collect();
        stages.sort();
        stages.dedup();
        let value = SecretValue {
            version_id: out.version_id().unwrap_or_default().to_owned(),
            stages,
            value: SecretString::from(value.to_owned()),
            created_at: out.created_date().and_then(to_chrono),
        };
        self.views.remember_value(secret_id, &value);
        Ok(value)
    }

    async fn create_secret(
        &self,
        secret_id: &str,
        token: &str,
        value: &SecretString,
    ) -> Result<(), StoreError> {
        if secret_id.starts_with("arn:") {
            return Err(StoreError::precondition(
                secret_id,
                "a new secret is created by name, not by ARN; pass the secret name",
            ));
        }
        let created = self
            .client
            .create_secret()
            .name(secret_id)
            .client_request_token(token)
            .secret_string(value.expose_secret())
            .description("OpenRouter API key rotated by rotor (https://github.com/rotor-dev/rotor)")
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(e) => match map_sdk_error(secret_id, "CreateSecret", e) {
                StoreError::Conflict { .. } => {
                    // Idempotent re-run: the same token already current with the same value.
                    let current = self
                        .get_value(secret_id, &VersionSelector::Stage(Stage::Current))
                        .await;
                    match current {
                        Ok(v)
                            if v.version_id == token
                                && v.value.expose_secret() == value.expose_secret() =>
                        {
                            Ok(())
                        }
                        _ => Err(StoreError::conflict(
                            secret_id,
                            "the secret already exists; use `rotor rotate` to rotate it, or choose another name",
                        )),
                    }
                }
                other => Err(other),
            },
        }
    }

    async fn begin_rotation(&self, secret_id: &str, token: &str) -> Result<(), StoreError> {
        let d = self.describe(secret_id).await?;
        let stages = d.stages_of(token);
        if stages.contains(&Stage::Pending) || stages.contains(&Stage::Current) {
            return Ok(());
        }
        if d.version(token).is_some() {
            return Err(StoreError::conflict(
                secret_id,
                format!(
                    "version {token} already exists and is neither pending nor current; use a fresh token"
                ),
            ));
        }
        if let Some(other) = d
            .versions
            .iter()
            .find(|v| v.has(Stage::Pending) && !v.has(Stage::Current))
        {
            return Err(StoreError::conflict(
                secret_id,
                format!(
                    "rotation {} is still pending (AWSPENDING); finish it with its own token or clear it before starting another",
                    other.id
                ),
            ));
        }
        // AWSPENDING left on the current version by a finished rotation (the service clears it
        // asynchronously; nobody does after a CLI rotation): clear it, as RotateSecret would.
        if let Some(lingering) = d.with_stage(Stage::Pending).map(|v| v.id.clone()) {
            self.clear_pending(secret_id, &lingering).await?;
        }
        self.set_begun(secret_id, Some(token));
        Ok(())
    }

    async fn put_pending(
        &self,
        secret_id: &str,
        token: &str,
        value: &SecretString,
    ) -> Result<(), StoreError> {
        if let Some(existing) = self.value_of_version(secret_id, token).await? {
            return if existing.value.expose_secret() == value.expose_secret() {
                Ok(())
            } else {
                Err(StoreError::conflict(
                    secret_id,
                    format!(
                        "version {token} already holds a different value (written by another attempt of this rotation)"
                    ),
                ))
            };
        }
        let mut req = self
            .client
            .put_secret_value()
            .secret_id(secret_id)
            .client_request_token(token)
            .secret_string(value.expose_secret())
            .version_stages(Stage::Pending.aws_label());
        if let Some(rt) = &self.rotation_token {
            req = req.rotation_token(rt.expose_secret());
        }
        req.send()
            .await
            .map_err(|e| map_sdk_error(secret_id, "PutSecretValue", e))?;
        self.views.forget_description(secret_id);
        self.views.remember_value(
            secret_id,
            &SecretValue {
                version_id: token.to_owned(),
                stages: vec![Stage::Pending],
                value: value.clone(),
                created_at: None,
            },
        );
        if self.begun_token(secret_id).as_deref() == Some(token) {
            self.set_begun(secret_id, None);
        }
        Ok(())
    }

    async fn promote(&self, secret_id: &str, token: &str, from: &str) -> Result<(), StoreError> {
        // The description this store just read starts the move only when it leads straight to
        // it; the move's RemoveFromVersionId is the check (store/views.rs).
        let remembered = self.views.take_description(secret_id).filter(|d| {
            d.with_stage(Stage::Current).map(|v| v.id.as_str()) == Some(from)
                && d.version(token).is_some_and(|v| !v.has(Stage::Current))
        });
        let d = match remembered {
            Some(d) => d,
            None => self.describe_remote(secret_id).await?,
        };
        let target_stages = d.stages_of(token).to_vec();
        if target_stages.contains(&Stage::Current) {
            return Ok(());
        }
        let current = d.with_stage(Stage::Current).map(|v| v.id.clone());
        if current.as_deref() != Some(from) {
            return Err(StoreError::conflict(
                secret_id,
                format!(
                    "AWSCURRENT is on version {} not on {from}: another promote won; re-read the secret",
                    current.as_deref().unwrap_or("(none)")
                ),
            ));
        }
        if d.version(token).is_none() {
            return Err(StoreError::not_found(secret_id, format!("version {token}")));
        }
        let moved = async {
            if !self.views.has_value(secret_id, token)
                && self.value_of_version(secret_id, token).await?.is_none()
            {
                return Err(StoreError::not_found(
                    secret_id,
                    format!("value of version {token}"),
                ));
            }
            self.client
                .update_secret_version_stage()
                .secret_id(secret_id)
                .version_stage(Stage::Current.aws_label())
                .move_to_version_id(token)
                .remove_from_version_id(from)
                .send()
                .await
                .map_err(|e| map_sdk_error(secret_id, "UpdateSecretVersionStage(AWSCURRENT)", e))?;
            Ok(())
        }
        .await;
        self.views.forget_description(secret_id);
        if let Err(err) = moved {
            // A concurrent promote may have moved AWSCURRENT (and unlabeled `token`, so that its
            // value is no longer found) after the check above: that is the race's Conflict. If
            // AWSCURRENT is on `token` now, the promote is done (by this call, whose response
            // was lost, or by another one of the same rotation).
            if let Ok(now) = self.describe_remote(secret_id).await {
                let holder = now.with_stage(Stage::Current).map(|v| v.id.clone());
                if holder.as_deref() == Some(token) {
                    return Ok(());
                }
                if holder.as_deref() != Some(from) {
                    return Err(StoreError::conflict(
                        secret_id,
                        format!(
                            "AWSCURRENT moved to version {} while promoting {token}: another promote won; re-read the secret",
                            holder.as_deref().unwrap_or("(none)")
                        ),
                    ));
                }
            }
            return Err(err);
        }
        if !self.service_clears_pending && target_stages.contains(&Stage::Pending) {
            self.clear_pending(secret_id, token).await?;
        }
        Ok(())
    }

    async fn clear_pending(&self, secret_id: &str, token: &str) -> Result<(), StoreError> {
        if self.begun_token(secret_id).as_deref() == Some(token) {
            self.set_begun(secret_id, None);
        }
        let d = self.describe_remote(secret_id).await?;
        if !d.stages_of(token).contains(&Stage::Pending) {
            return Ok(());
        }
        self.client
            .update_secret_version_stage()
            .secret_id(secret_id)
            .version_stage(Stage::Pending.aws_label())
            .remove_from_version_id(token)
            .send()
            .await
            .map_err(|e| map_sdk_error(secret_id, "UpdateSecretVersionStage(AWSPENDING)", e))?;
        self.views.forget_description(secret_id);
        Ok(())
    }

    /// The version labelled ROTORLEDGER (see `store/ledger.rs`).
    async fn read_ledger(&self, secret_id: &str) -> Result<Option<LedgerEntry>, StoreError> {
        self.read_ledger_labelled(secret_id).await
    }

    /// A check-and-set move of the ROTORLEDGER label (see `store/ledger.rs`).
    async fn write_ledger(
        &self,
        secret_id: &str,
        expected: Option<&str>,
        document: &str,
    ) -> Result<String, StoreError> {
        self.write_ledger_labelled(secret_id, expected, document)
            .await
    }
}
