//! Opening the AWS and Vault backends, and reading a management key from a store.

use std::sync::Arc;

use rotor_core::{SecretStore, Stage, VersionSelector, file::FileStore};
use rotor_openrouter::ApiKey;
use secrecy::ExposeSecret;

use crate::error::CliError;
use crate::target::Target;

/// Secrets Manager from the standard AWS environment (region, credentials, `AWS_ENDPOINT_URL`).
pub async fn open_aws() -> Result<Arc<dyn SecretStore>, CliError> {
    Ok(Arc::new(rotor_aws::SecretsManagerStore::from_env().await))
}

/// Vault/OpenBao from `VAULT_ADDR`, `VAULT_TOKEN` / AppRole / Kubernetes auth.
pub async fn open_vault() -> Result<Arc<dyn SecretStore>, CliError> {
    let store = rotor_vault::VaultStore::from_env()
        .await
        .map_err(vault_error)?;
    Ok(Arc::new(store))
}

pub fn vault_error(e: rotor_vault::VaultError) -> CliError {
    match e {
        rotor_vault::VaultError::Store(s) => CliError::from(s),
        rotor_vault::VaultError::Auth { .. } => CliError::precondition(e.to_string()),
        other => CliError::usage(other.to_string()),
    }
}

/// `--management-key-from`: `vault://MOUNT/PATH#field` (default field `management_key`),
/// `aws://SECRET_ID#field` (plain string, or JSON with the field) or `file://DIR#SECRET`.
pub async fn read_management_key(uri: &str) -> Result<ApiKey, CliError> {
    let context =
        |e: String| CliError::precondition(format!("reading the management key from {uri}: {e}"));
    if uri.starts_with("vault://") {
        let target = rotor_vault::VaultTarget::parse(uri).map_err(vault_error)?;
        let store = rotor_vault::VaultStore::from_env()
            .await
            .map_err(vault_error)?;
        store
            .read_management_key(&target)
            .await
            .map_err(|e| context(e.to_string()))
    } else if uri.starts_with("aws://") {
        let target =
            rotor_aws::AwsTarget::parse(uri).map_err(|e| CliError::usage(e.to_string()))?;
        let store = rotor_aws::SecretsManagerStore::from_env().await;
        rotor_aws::read_management_key(&store, &target.secret_id, target.field.as_deref())
            .await
            .map_err(|e| context(e.to_string()))
    } else if uri.starts_with("file://") {
        let target = Target::parse(uri)?;
        let store = target.open_store().await?;
        let value = store
            .get_value(&target.secret_id(), &VersionSelector::Stage(Stage::Current))
            .await
            .map_err(|e| context(e.to_string()))?;
        rotor_aws::parse_management_key(&target.secret_id(), value.value.expose_secret(), None)
            .map_err(|e| context(e.to_string()))
    } else {
        Err(CliError::usage(format!(
            "--management-key-from {uri:?}: expected vault://MOUNT/PATH#field, aws://SECRET_ID#field or file://DIR#SECRET"
        )))
    }
}

impl Target {
    /// Opens the store this target lives in.
    pub async fn open_store(&self) -> Result<Arc<dyn SecretStore>, CliError> {
        match self {
            Target::File { dir, .. } => {
                let store =
                    FileStore::open(dir).map_err(|e| CliError::precondition(e.to_string()))?;
                Ok(Arc::new(store))
            }
            Target::Aws { .. } => open_aws().await,
            Target::Vault { .. } => open_vault().await,
        }
    }
}

/// Parses a target URI and opens its store.
pub async fn open(target: &str) -> Result<(Target, Arc<dyn SecretStore>), CliError> {
    let target = Target::parse(target)?;
    let store = target.open_store().await?;
    Ok((target, store))
}
