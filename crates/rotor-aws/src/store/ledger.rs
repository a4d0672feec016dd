//! The rotation ledger on Secrets Manager: a version of the secret labelled ROTORLEDGER, replaced
//! by a check-and-set move of that label.

use rotor_core::store::{LedgerEntry, StoreError};

use super::SecretsManagerStore;
use crate::sdk_error::map_sdk_error;

/// The custom staging label on the version that holds the secret's rotation ledger.
pub const LEDGER_LABEL: &str = "ROTORLEDGER";
/// The custom staging label of a ledger version just written, before the check-and-set move of
/// [`LEDGER_LABEL`] makes it the ledger (a version needs a label, or `PutSecretValue` would move
/// AWSCURRENT to it).
pub const LEDGER_NEXT_LABEL: &str = "ROTORLEDGERNEXT";

pub(super) fn is_ledger_label(label: &str) -> bool {
    label == LEDGER_LABEL || label == LEDGER_NEXT_LABEL
}

impl SecretsManagerStore {
    /// `GetSecretValue(VersionStage=ROTORLEDGER)`; when there is none, `DescribeSecret` tells a
    /// missing secret apart. The revision is the ledger version's id.
    pub(super) async fn read_ledger_labelled(
        &self,
        secret_id: &str,
    ) -> Result<Option<LedgerEntry>, StoreError> {
        let read = self
            .client
            .get_secret_value()
            .secret_id(secret_id)
            .version_stage(LEDGER_LABEL)
            .send()
            .await
            .map_err(|e| map_sdk_error(secret_id, "GetSecretValue(ROTORLEDGER)", e));
        match read {
            Ok(out) => Ok(Some(LedgerEntry {
                revision: out.version_id().unwrap_or_default().to_owned(),
                document: out.secret_string().unwrap_or_default().to_owned(),
            })),
            Err(StoreError::NotFound { .. }) => {
                self.describe_remote(secret_id).await?;
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// `PutSecretValue` of a new version labelled ROTORLEDGERNEXT, then
    /// `UpdateSecretVersionStage(ROTORLEDGER, MoveToVersionId=new, RemoveFromVersionId=expected)`:
    /// Secrets Manager refuses the move when the label is not on `expected` (or, with no
    /// `expected`, when it is on any version), which is the check-and-set. A lost race leaves the
    /// new version without the ledger label; Secrets Manager forgets unlabelled versions.
    pub(super) async fn write_ledger_labelled(
        &self,
        secret_id: &str,
        expected: Option<&str>,
        document: &str,
    ) -> Result<String, StoreError> {
        let lost = |holder: Option<&str>| {
            StoreError::conflict(
                secret_id,
                format!(
                    "the ledger is at revision {}, not {} (another worker wrote it first); nothing was changed",
                    holder.unwrap_or("none"),
                    expected.unwrap_or("none")
                ),
            )
        };
        let ledger_holder =
            |d: &aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput| {
                d.version_ids_to_stages().and_then(|m| {
                    m.iter()
                        .find(|(_, labels)| labels.iter().any(|l| l == LEDGER_LABEL))
                        .map(|(id, _)| id.clone())
                })
            };
        let describe = || async {
            self.client
                .describe_secret()
                .secret_id(secret_id)
                .send()
                .await
                .map_err(|e| map_sdk_error(secret_id, "DescribeSecret", e))
        };
        if expected.is_none() {
            // The first write: the service refuses to attach a label that is on another version
            // without RemoveFromVersionId; checking first also covers emulators that do not.
            let holder = ledger_holder(&describe().await?);
            if holder.is_some() {
                return Err(lost(holder.as_deref()));
            }
        }
        let new_id = uuid::Uuid::new_v4().to_string();
        self.client
            .put_secret_value()
            .secret_id(secret_id)
            .client_request_token(&new_id)
            .secret_string(document)
            .version_stages(LEDGER_NEXT_LABEL)
            .send()
            .await
            .map_err(|e| map_sdk_error(secret_id, "PutSecretValue(ROTORLEDGERNEXT)", e))?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut update = self
                .client
                .update_secret_version_stage()
                .secret_id(secret_id)
                .version_stage(LEDGER_LABEL)
                .move_to_version_id(&new_id);
            if let Some(expected) = expected {
                update = update.remove_from_version_id(expected);
            }
            let err = match update.send().await {
                Ok(_) => return Ok(new_id),
                Err(e) => map_sdk_error(secret_id, "UpdateSecretVersionStage(ROTORLEDGER)", e),
            };
            match describe().await.map(|d| ledger_holder(&d)) {
                Ok(Some(holder)) if holder == new_id => return Ok(new_id),
                Ok(holder) if holder.as_deref() != expected => {
                    return Err(lost(holder.as_deref()));
                }
                // The label is still where this write expected it: nobody won, so the
                // check-and-set still holds; try the move again (emulators under concurrent
                // load sometimes fail it spuriously).
                Ok(_) if attempt < 4 => {
                    tokio::time::sleep(std::time::Duration::from_millis(50 * attempt)).await;
                }
                _ => return Err(err),
            }
        }
    }
}
