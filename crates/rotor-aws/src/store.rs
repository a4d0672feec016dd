//! [`SecretsManagerStore`]: the [`SecretStore`] trait on AWS Secrets Manager, 1:1.
//!
//! | trait method      | Secrets Manager calls                                                          |
//! |-------------------|--------------------------------------------------------------------------------|
//! | `describe`        | `DescribeSecret` (`VersionIdsToStages`, `RotationEnabled`, `LastRotatedDate`)   |
//! | `get_value`       | `GetSecretValue`, always with an explicit `VersionStage` when a stage is asked  |
//! | `create_secret`   | `CreateSecret(Name, ClientRequestToken=token, SecretString)`                    |
//! | `begin_rotation`  | `DescribeSecret` only (see below)                                               |
//! | `put_pending`     | `GetSecretValue(VersionId)` check, then `PutSecretValue(ClientRequestToken, VersionStages=[AWSPENDING], RotationToken?)` |
//! | `promote`         | `DescribeSecret` check (unless this store just described the secret, see below), then `UpdateSecretVersionStage(AWSCURRENT, MoveToVersionId, RemoveFromVersionId)` |
//! | `clear_pending`   | `UpdateSecretVersionStage(AWSPENDING, RemoveFromVersionId=token)`               |
//! | `read_ledger`     | `GetSecretValue(VersionStage=ROTORLEDGER)` (+ `DescribeSecret` when there is none) |
//! | `write_ledger`    | `PutSecretValue(VersionStages=[ROTORLEDGERNEXT])`, then `UpdateSecretVersionStage(ROTORLEDGER, MoveToVersionId, RemoveFromVersionId=expected)` (the check-and-set) |
//!
//! **`begin_rotation`.** Secrets Manager has no API that creates an empty version except
//! `RotateSecret`, which also invokes the rotation Lambda. So `begin_rotation` checks and records:
//! token already Pending or Current → `Ok`; another version Pending and not Current → `Conflict`;
//! otherwise the token is remembered *in this process* as a begun rotation, and `describe` reports
//! it as a version carrying Pending (with no value, so `get_value` on it is `NotFound`) until
//! `put_pending` creates the real version, `clear_pending` abandons it, or another version takes
//! Pending. That is exactly what the engine needs for a rotation run from the CLI (`--local`); in
//! the Lambda, `RotateSecret` has created the real empty version before the first step, and the
//! in-process record is never used. A crash between `begin_rotation` and `put_pending` leaves
//! nothing in Secrets Manager (a key created at OpenRouter in that window carries the rotation's
//! name tag and is found by the orphan sweep).
//!
//! **`promote`.** Secrets Manager moves AWSPREVIOUS to the old version by itself. AWS rejects an
//! `UpdateSecretVersionStage` whose `RemoveFromVersionId` does not carry the label; the store also
//! checks it first (DescribeSecret) so a stale `from` is a `Conflict` on every emulator. The
//! remaining window between that check and the update is closed by the service's own check on
//! real AWS and LocalStack (the conformance race test shows it). Because the move is itself
//! that check, a description this store read in the last seconds (the step's own describe) may
//! start it instead of a new `DescribeSecret`, and a version whose value this store has read
//! needs no second read (`store/views.rs`); a refused move decides again from a fresh describe. After the move the store removes
//! AWSPENDING from the promoted version itself, unless it runs inside a rotation Lambda
//! ([`SecretsManagerStore::for_rotation_event`]), where the service clears it asynchronously.
//!
//! **Errors.** `ResourceNotFoundException` (and moto's `SecretHasNoValueException`) → `NotFound`;
//! `ResourceExistsException` → `Conflict`; `AccessDenied*`/`UnrecognizedClient`/`InvalidSignature`/
//! KMS access errors → `Denied`; throttling, 5xx, timeouts and connection errors → `Transient`
//! (after the SDK's own standard retries); `InvalidRequestException` (e.g. "a previous rotation isn't
//! complete", secret scheduled for deletion) → `Precondition`; everything else → `Backend`.
//! Messages carry the AWS error code and message, never a secret value.
//!
//! This file holds the store itself; `store/secret_store.rs` is the `SecretStore`
//! implementation and `store/ledger.rs` the rotation ledger (its staging labels and the
//! check-and-set write). SDK errors are mapped to `StoreError` in `sdk_error.rs`.

mod ledger;
mod secret_store;
mod views;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use aws_sdk_secretsmanager::{Client, primitives::DateTime as AwsDateTime};
use chrono::{DateTime, Utc};
use rotor_core::store::{
    SecretDescription, SecretStore, SecretValue, Stage, StoreError, VersionInfo, VersionSelector,
};
use secrecy::SecretString;

use crate::sdk_error::map_sdk_error;
use ledger::is_ledger_label;
pub use ledger::{LEDGER_LABEL, LEDGER_NEXT_LABEL};

/// [`SecretStore`] on AWS Secrets Manager (or LocalStack / moto through `AWS_ENDPOINT_URL`).
///
/// Cheap to clone: clones share the SDK client and the record of begun rotations.
#[derive(Clone)]
pub struct SecretsManagerStore {
    client: Client,
    rotation_token: Option<Arc<SecretString>>,
    service_clears_pending: bool,
    begun: Arc<Mutex<HashMap<String, String>>>,
    /// What this store last read of each secret (`store/views.rs`).
    views: Arc<views::Views>,
}

impl std::fmt::Debug for SecretsManagerStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsManagerStore")
            .field(
                "rotation_token",
                &self.rotation_token.as_ref().map(|_| "[redacted]"),
            )
            .field("service_clears_pending", &self.service_clears_pending)
            .finish_non_exhaustive()
    }
}

impl SecretsManagerStore {
    /// A store on the given SDK configuration (region, credentials, endpoint).
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self::from_client(Client::new(config))
    }

    /// A store on an existing Secrets Manager client.
    pub fn from_client(client: Client) -> Self {
        SecretsManagerStore {
            client,
            rotation_token: None,
            service_clears_pending: false,
            begun: Arc::new(Mutex::new(HashMap::new())),
            views: Arc::default(),
        }
    }

    /// A store configured from the environment the standard way (`AWS_REGION`, credentials chain,
    /// `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_SECRETS_MANAGER`).
    pub async fn from_env() -> Self {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Self::new(&config)
    }

    /// The store for one invocation of a rotation Lambda: `PutSecretValue` carries the event's
    /// `RotationToken` (when it has one), and `promote` leaves AWSPENDING for the service to clear.
    pub fn for_rotation_event(&self, rotation_token: Option<SecretString>) -> Self {
        SecretsManagerStore {
            client: self.client.clone(),
            rotation_token: rotation_token.map(Arc::new),
            service_clears_pending: true,
            begun: self.begun.clone(),
            views: self.views.clone(),
        }
    }

    /// The underlying SDK client (for `RotateSecret` and other calls outside the trait).
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn begun_token(&self, secret_id: &str) -> Option<String> {
        self.begun
            .lock()
            .map(|m| m.get(secret_id).cloned())
            .unwrap_or_default()
    }

    fn set_begun(&self, secret_id: &str, token: Option<&str>) {
        if let Ok(mut m) = self.begun.lock() {
            match token {
                Some(t) => {
                    m.insert(secret_id.to_owned(), t.to_owned());
                }
                None => {
                    m.remove(secret_id);
                }
            }
        }
    }

    /// `DescribeSecret` without the in-process begun-rotation record.
    async fn describe_remote(&self, secret_id: &str) -> Result<SecretDescription, StoreError> {
        let out = self
            .client
            .describe_secret()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| map_sdk_error(secret_id, "DescribeSecret", e))?;
        let mut versions: Vec<VersionInfo> = out
            .version_ids_to_stages()
            .map(|m| {
                m.iter()
                    // Versions holding rotor's ledger are not versions of the secret's value.
                    .filter(|(_, labels)| !labels.iter().any(|l| is_ledger_label(l)))
                    .map(|(id, labels)| {
                        let mut stages: Vec<Stage> = labels
                            .iter()
                            .filter_map(|l| Stage::from_aws_label(l))
                            .collect();
                        stages.sort();
                        stages.dedup();
                        VersionInfo {
                            id: id.clone(),
                            stages,
                            created_at: None,
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        versions.sort_by(|a, b| a.id.cmp(&b.id));
        let description = SecretDescription {
            secret_id: out.arn().unwrap_or(secret_id).to_owned(),
            rotation_enabled: out.rotation_enabled(),
            last_rotated: out.last_rotated_date().and_then(to_chrono),
            versions,
        };
        self.views.remember_description(secret_id, &description);
        Ok(description)
    }

    /// Reads the value of version `token` by id (any stages). `Ok(None)` when it has none.
    async fn value_of_version(
        &self,
        secret_id: &str,
        token: &str,
    ) -> Result<Option<SecretValue>, StoreError> {
        let selector = VersionSelector::Version {
            id: token.to_owned(),
            stage: None,
        };
        match self.get_value(secret_id, &selector).await {
            Ok(v) => Ok(Some(v)),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

fn to_chrono(t: &AwsDateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}
