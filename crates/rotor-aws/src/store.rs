//! [`SecretsManagerStore`]: the [`SecretStore`] trait on AWS Secrets Manager, 1:1.
//!
//! | trait method      | Secrets Manager calls                                                          |
//! |-------------------|--------------------------------------------------------------------------------|
//! | `describe`        | `DescribeSecret` (`VersionIdsToStages`, `RotationEnabled`, `LastRotatedDate`)   |
//! | `get_value`       | `GetSecretValue`, always with an explicit `VersionStage` when a stage is asked  |
//! | `create_secret`   | `CreateSecret(Name, ClientRequestToken=token, SecretString)`                    |
//! | `begin_rotation`  | `DescribeSecret` only (see below)                                               |
//! | `put_pending`     | `GetSecretValue(VersionId)` check, then `PutSecretValue(ClientRequestToken, VersionStages=[AWSPENDING], RotationToken?)` |
//! | `promote`         | `DescribeSecret` check, then `UpdateSecretVersionStage(AWSCURRENT, MoveToVersionId, RemoveFromVersionId)` |
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
//! real AWS and LocalStack (the conformance race test shows it). After the move the store removes
//! AWSPENDING from the promoted version itself, unless it runs inside a rotation Lambda
//! ([`SecretsManagerStore::for_rotation_event`]), where the service clears it asynchronously.
//!
//! **Errors.** `ResourceNotFoundException` (and moto's `SecretHasNoValueException`) → `NotFound`;
//! `ResourceExistsException` → `Conflict`; `AccessDenied*`/`UnrecognizedClient`/`InvalidSignature`/
//! KMS access errors → `Denied`; throttling, 5xx, timeouts and connection errors → `Transient`
//! (after the SDK's own standard retries); `InvalidRequestException` (e.g. "a previous rotation isn't
//! complete", secret scheduled for deletion) → `Precondition`; everything else → `Backend`.
//! Messages carry the AWS error code and message, never a secret value.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use aws_sdk_secretsmanager::{
    Client,
    config::http::HttpResponse,
    error::{ProvideErrorMetadata, SdkError},
    primitives::DateTime as AwsDateTime,
};
use chrono::{DateTime, Utc};
use rotor_core::store::{
    LedgerEntry, SecretDescription, SecretStore, SecretValue, Stage, StoreError, VersionInfo,
    VersionSelector,
};
use secrecy::{ExposeSecret, SecretString};

/// [`SecretStore`] on AWS Secrets Manager (or LocalStack / moto through `AWS_ENDPOINT_URL`).
///
/// Cheap to clone: clones share the SDK client and the record of begun rotations.
#[derive(Clone)]
pub struct SecretsManagerStore {
    client: Client,
    rotation_token: Option<Arc<SecretString>>,
    service_clears_pending: bool,
    begun: Arc<Mutex<HashMap<String, String>>>,
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
        Ok(SecretDescription {
            secret_id: out.arn().unwrap_or(secret_id).to_owned(),
            rotation_enabled: out.rotation_enabled(),
            last_rotated: out.last_rotated_date().and_then(to_chrono),
            versions,
        })
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
        Ok(SecretValue {
            version_id: out.version_id().unwrap_or_default().to_owned(),
            stages,
            value: SecretString::from(value.to_owned()),
            created_at: out.created_date().and_then(to_chrono),
        })
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
        if self.begun_token(secret_id).as_deref() == Some(token) {
            self.set_begun(secret_id, None);
        }
        Ok(())
    }

    async fn promote(&self, secret_id: &str, token: &str, from: &str) -> Result<(), StoreError> {
        let d = self.describe_remote(secret_id).await?;
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
            if self.value_of_version(secret_id, token).await?.is_none() {
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
        if let Err(err) = moved {
            // A concurrent promote may have moved AWSCURRENT (and unlabeled `token`, so that its
            // value is no longer found) after the check above: that is the race's Conflict.
            if let Ok(now) = self.describe_remote(secret_id).await {
                let holder = now.with_stage(Stage::Current).map(|v| v.id.clone());
                if holder.as_deref() != Some(from) && holder.as_deref() != Some(token) {
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
        Ok(())
    }

    /// `GetSecretValue(VersionStage=ROTORLEDGER)`; when there is none, `DescribeSecret` tells a
    /// missing secret apart. The revision is the ledger version's id.
    async fn read_ledger(&self, secret_id: &str) -> Result<Option<LedgerEntry>, StoreError> {
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
    async fn write_ledger(
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

/// The custom staging label on the version that holds the secret's rotation ledger.
pub const LEDGER_LABEL: &str = "ROTORLEDGER";
/// The custom staging label of a ledger version just written, before the check-and-set move of
/// [`LEDGER_LABEL`] makes it the ledger (a version needs a label, or `PutSecretValue` would move
/// AWSCURRENT to it).
pub const LEDGER_NEXT_LABEL: &str = "ROTORLEDGERNEXT";

fn is_ledger_label(label: &str) -> bool {
    label == LEDGER_LABEL || label == LEDGER_NEXT_LABEL
}

fn to_chrono(t: &AwsDateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

/// Maps an SDK error to a [`StoreError`] naming the operation, the AWS error code and message.
pub(crate) fn map_sdk_error<E>(
    secret_id: &str,
    operation: &str,
    err: SdkError<E, HttpResponse>,
) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let secret = secret_id.to_owned();
    match &err {
        SdkError::TimeoutError(_) => StoreError::Transient {
            secret,
            message: format!("{operation} timed out; retry later"),
        },
        SdkError::DispatchFailure(f) => StoreError::Transient {
            secret,
            message: format!(
                "{operation}: could not reach Secrets Manager ({}); check the endpoint and network",
                if f.is_timeout() {
                    "timeout"
                } else if f.is_io() {
                    "connection error"
                } else {
                    "dispatch failure"
                }
            ),
        },
        SdkError::ResponseError(_) => StoreError::Transient {
            secret,
            message: format!("{operation}: the response from Secrets Manager could not be read"),
        },
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or("Unknown").to_owned();
            let msg = se.err().message().unwrap_or("").to_owned();
            let status = se.raw().status().as_u16();
            match classify(secret, operation, &code, &msg) {
                StoreError::Backend { secret, message } if status >= 500 => StoreError::Transient {
                    secret,
                    message: format!("{message} (HTTP {status}); retry later"),
                },
                other => other,
            }
        }
        _ => StoreError::Backend {
            secret,
            message: format!("{operation}: {}", describe_other(&err)),
        },
    }
}

fn describe_other<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> String {
    match err.code() {
        Some(code) => format!("{code}: {}", err.message().unwrap_or("")),
        None => "could not build the request".to_owned(),
    }
}

pub(crate) fn classify(secret: String, operation: &str, code: &str, msg: &str) -> StoreError {
    let message = format!("{operation} failed with {code}: {msg}");
    match code {
        "ResourceNotFoundException" | "SecretHasNoValueException" => StoreError::NotFound {
            secret,
            what: format!("{operation}: {msg}"),
        },
        "ResourceExistsException" => StoreError::Conflict { secret, message },
        "AccessDeniedException"
        | "AccessDenied"
        | "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "ExpiredTokenException"
        | "KMSAccessDeniedException"
        | "DecryptionFailure"
        | "EncryptionFailure" => StoreError::Denied {
            secret,
            message: format!("{message}; check the IAM policy (and KMS key policy) of the caller"),
        },
        "ThrottlingException"
        | "Throttling"
        | "TooManyRequestsException"
        | "RequestLimitExceeded"
        | "InternalServiceError"
        | "InternalServiceErrorException"
        | "InternalFailure"
        | "ServiceUnavailable"
        | "RequestTimeout"
        | "RequestTimeoutException" => StoreError::Transient {
            secret,
            message: format!("{message}; retry later"),
        },
        "InvalidRequestException" => StoreError::Precondition { secret, message },
        _ => StoreError::Backend { secret, message },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_map_to_store_errors() {
        let c = |code| classify("s".into(), "Op", code, "m");
        assert!(matches!(
            c("ResourceNotFoundException"),
            StoreError::NotFound { .. }
        ));
        assert!(matches!(
            c("SecretHasNoValueException"),
            StoreError::NotFound { .. }
        ));
        assert!(matches!(
            c("ResourceExistsException"),
            StoreError::Conflict { .. }
        ));
        assert!(matches!(
            c("AccessDeniedException"),
            StoreError::Denied { .. }
        ));
        assert!(c("ThrottlingException").is_retryable());
        assert!(c("InternalServiceError").is_retryable());
        assert!(matches!(
            c("InvalidRequestException"),
            StoreError::Precondition { .. }
        ));
        assert!(matches!(c("Whatever"), StoreError::Backend { .. }));
    }
}
