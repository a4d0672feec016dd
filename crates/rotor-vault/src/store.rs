//! [`VaultStore`]: the [`SecretStore`](rotor_core::SecretStore) trait on KV v2. The mapping is
//! described in `docs/vault-mapping.md`; in short:
//!
//! * `MOUNT/PATH` (what applications read) only ever receives *promoted* values. Its latest
//!   version is Current; the version before it is Previous. Every write there is a check-and-set
//!   (`cas` = the version observed as Current), so of two racing promotes exactly one wins.
//! * Pending values live at `MOUNT/<staging prefix>/PATH` (default `rotor-staging`), a path the
//!   rotator's policy may write and applications' policies do not cover. Its latest version is a
//!   marker `{rotor_version, rotor_state: "begun"}`, a value `{...document, rotor_version}`, or a
//!   tombstone `{rotor_state: "cleared"}`; also written with check-and-set.
//! * Every version's id (the rotation token) is stored *inside* its data as `rotor_version`
//!   (a non-secret field), so a single write carries both the value and its identity: no
//!   metadata update can be lost between them, and the state is always derivable from data.
//!   Versions written by hand without it get the id `kv-v<N>`.
//! * custom_metadata is only read: `rotor-rotation-enabled = "false"` on `MOUNT/PATH` disables
//!   rotation. No key material is ever put in metadata.
//!
//! This file is the public API; the rest of the module, one idea per file: `store/kv.rs` (KV v2
//! requests: reads, check-and-set writes, one read of the secret as a `View`, emptying the
//! staging slot, `max_versions` checks, error mapping), `store/codec.rs` (a stored value as KV
//! data and back) and `store/secret_store.rs` (the `SecretStore` implementation).

mod codec;
mod kv;
mod secret_store;
mod views;

use std::{collections::HashMap, sync::Arc, time::Duration};

use rotor_core::StoreError;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::{VaultConfig, VaultError, VaultTarget, session::Session};
use kv::Read;

/// The data field carrying a version's id (its rotation token). Not secret.
pub const VERSION_FIELD: &str = "rotor_version";
/// The data field holding the exact text of a value whose canonical JSON rendering differs from
/// it (field order, whitespace, number spelling) or that is not a JSON object, so values come
/// back byte-exact. Applications read the ordinary fields and ignore it.
pub const DOCUMENT_FIELD: &str = "rotor_document";
/// The data field marking a staging entry without a value (`begun`) or an emptied slot (`cleared`).
pub const STATE_FIELD: &str = "rotor_state";
/// custom_metadata key on `MOUNT/PATH`: `"false"` disables rotation, `"true"` enables it.
pub const ROTATION_ENABLED_METADATA: &str = "rotor-rotation-enabled";

const STATE_BEGUN: &str = "begun";
const STATE_CLEARED: &str = "cleared";
/// The leaf under a secret's staging path that holds its rotation ledger.
const LEDGER_LEAF: &str = ".rotor-ledger";
/// The KV field of the ledger document.
const LEDGER_FIELD: &str = "ledger";

/// Each mount's `max_versions` (read once per mount; `None` when it could not be read).
type MountSettings = Arc<tokio::sync::Mutex<HashMap<String, Arc<OnceCell<Option<u64>>>>>>;

/// The Vault / OpenBao KV v2 implementation of [`SecretStore`](rotor_core::SecretStore). Cheap to clone.
/// A secret's own `max_versions` (`None`: no metadata yet), as read at a given moment.
type KeySettings = Arc<std::sync::Mutex<HashMap<String, (std::time::Instant, Option<u64>)>>>;

#[derive(Clone)]
pub struct VaultStore {
    session: Arc<Session>,
    requests: Arc<std::sync::atomic::AtomicU64>,
    mount_max_versions: MountSettings,
    /// Each secret's `max_versions`, re-read after a minute (checked at every promote).
    key_max_versions: KeySettings,
    /// The last view of each secret, for check-and-set writes to start from (views.rs).
    views: Arc<views::Views>,
}

impl std::fmt::Debug for VaultStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultStore")
            .field("address", &self.session.config().address)
            .field("auth", &self.session.config().auth.method())
            .finish()
    }
}

impl VaultStore {
    /// Connects and authenticates (fails early on a bad address, CA or credentials).
    pub async fn connect(config: VaultConfig) -> Result<Self, VaultError> {
        let session = Session::connect(config).await?;
        Ok(VaultStore {
            session: Arc::new(session),
            requests: Default::default(),
            mount_max_versions: Default::default(),
            key_max_versions: Default::default(),
            views: Default::default(),
        })
    }

    /// [`VaultConfig::from_env`] then [`connect`](Self::connect).
    pub async fn from_env() -> Result<Self, VaultError> {
        Self::connect(VaultConfig::from_env()?).await
    }

    /// How many Vault API requests this store (and its clones) has sent for secret operations
    /// (logins and renewals not included): for metrics and benchmarks.
    pub fn request_count(&self) -> u64 {
        self.requests.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The configuration in use.
    pub fn config(&self) -> &VaultConfig {
        self.session.config()
    }

    /// Where pending values of `secret_id` (`MOUNT/PATH`) live: `MOUNT/<prefix>/PATH`.
    pub fn staging_target(&self, secret_id: &str) -> Result<VaultTarget, VaultError> {
        let t = VaultTarget::parse(secret_id)?;
        Ok(VaultTarget {
            path: format!("{}/{}", self.config().staging_prefix, t.path),
            ..t
        })
    }

    /// Where the rotation ledger of `secret_id` (`MOUNT/PATH`) lives:
    /// `MOUNT/<prefix>/PATH/.rotor-ledger`, under the staging subtree that the rotator's policy
    /// covers and applications' policies do not.
    pub fn ledger_target(&self, secret_id: &str) -> Result<VaultTarget, VaultError> {
        let t = self.staging_target(secret_id)?;
        Ok(VaultTarget {
            path: format!("{}/{LEDGER_LEAF}", t.path),
            ..t
        })
    }

    /// Keeps the token valid in the background (renewal or re-login shortly before it expires),
    /// for long-running processes that may be idle longer than the token's TTL. The task ends
    /// when the token never expires; abort the handle to stop it.
    pub fn spawn_token_renewal(&self) -> tokio::task::JoinHandle<()> {
        let session = self.session.clone();
        tokio::spawn(async move {
            loop {
                let Some(at) = session.next_refresh().await else {
                    return;
                };
                tokio::time::sleep_until(at.into()).await;
                if let Err(e) = session.refresh(false).await {
                    tracing::warn!(error = %e, "background Vault token refresh failed; retrying in 10s");
                    tokio::time::sleep(Duration::from_secs(10)).await;
                }
            }
        })
    }

    /// Reads one string field of the latest version at `target` (`vault://MOUNT/PATH#field`;
    /// `default_field` when the target names none), e.g. a management key.
    pub async fn read_field(
        &self,
        target: &VaultTarget,
        default_field: &str,
    ) -> Result<SecretString, VaultError> {
        let field = target.field.as_deref().unwrap_or(default_field);
        let secret = target.secret_id();
        let data = match self
            .read(&secret, &target.mount, &target.path, None)
            .await?
        {
            Read::Found { data, .. } => data,
            Read::Missing => return Err(StoreError::not_found(secret, "the secret").into()),
            Read::Gone { version } => {
                return Err(StoreError::not_found(
                    secret,
                    format!("latest version {version} (deleted)"),
                )
                .into());
            }
        };
        match data.get(field) {
            Some(Value::String(s)) if !s.trim().is_empty() => {
                Ok(SecretString::from(s.trim().to_owned()))
            }
            Some(_) => Err(StoreError::precondition(
                secret,
                format!("field {field:?} is not a non-empty string"),
            )
            .into()),
            None => Err(StoreError::not_found(
                secret,
                format!("field {field:?} in the latest version"),
            )
            .into()),
        }
    }

    /// Reads a management key from `vault://MOUNT/PATH#field` (default field `management_key`).
    pub async fn read_management_key(
        &self,
        target: &VaultTarget,
    ) -> Result<rotor_openrouter::ApiKey, VaultError> {
        let value = self.read_field(target, "management_key").await?;
        Ok(rotor_openrouter::ApiKey::new(value.expose_secret()))
    }

    /// Sets (`Some`) or removes (`None`) the `rotor-rotation-enabled` custom_metadata flag on
    /// `MOUNT/PATH`, keeping the other custom_metadata entries.
    pub async fn set_rotation_enabled(
        &self,
        secret_id: &str,
        enabled: Option<bool>,
    ) -> Result<(), StoreError> {
        let t = target(secret_id)?;
        let mut meta = self
            .call(secret_id, "read metadata", |c| {
                let (m, p) = (t.mount.clone(), t.path.clone());
                async move { vaultrs::kv2::read_metadata(&*c, &m, &p).await }
            })
            .await?
            .custom_metadata
            .unwrap_or_default();
        match enabled {
            Some(b) => meta.insert(ROTATION_ENABLED_METADATA.to_owned(), b.to_string()),
            None => meta.remove(ROTATION_ENABLED_METADATA),
        };
        self.call(secret_id, "write metadata", |c| {
            let (m, p, meta) = (t.mount.clone(), t.path.clone(), meta.clone());
            async move {
                let mut req = vaultrs::api::kv2::requests::SetSecretMetadataRequest::builder();
                req.custom_metadata(meta);
                vaultrs::kv2::set_metadata(&*c, &m, &p, Some(&mut req)).await
            }
        })
        .await
    }
}

fn target(secret: &str) -> Result<VaultTarget, StoreError> {
    let t =
        VaultTarget::parse(secret).map_err(|e| StoreError::precondition(secret, e.to_string()))?;
    if t.field.is_some() {
        return Err(StoreError::precondition(
            secret,
            "a secret id names no #field",
        ));
    }
    Ok(t)
}
