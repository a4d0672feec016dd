//! [`VaultStore`]: the [`SecretStore`] trait on KV v2. The mapping is described in
//! `docs/vault-mapping.md`; in short:
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

use std::{collections::HashMap, sync::Arc, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rotor_core::{
    LedgerEntry, SecretDescription, SecretStore, SecretValue, Snapshot, Stage, StoreError,
    VersionInfo, VersionSelector,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use tokio::sync::OnceCell;
use vaultrs::{
    api::kv2::{
        requests::{ReadSecretRequest, SetSecretRequestOptions},
        responses::SecretVersionMetadata,
    },
    client::VaultClient,
    error::ClientError,
};

use crate::{
    VaultConfig, VaultError, VaultTarget,
    error::{is_cas_mismatch, status_of, store_error},
    session::Session,
};

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

/// One KV version as rotor sees it. No `Debug`: it holds the value.
#[derive(Clone)]
struct Slot {
    kv_version: u64,
    id: String,
    created_at: Option<DateTime<Utc>>,
    /// The stored value, exactly as written; `None` for a `begun` marker.
    doc: Option<SecretString>,
}

impl Slot {
    /// Whether the slot holds `value`: the same text, or (for documents kept as fields, whose
    /// numbers Vault may re-render, `25.0` as `25`) the same JSON object.
    fn holds(&self, value: &SecretString) -> bool {
        self.doc.as_ref().is_some_and(|d| {
            let (a, b) = (d.expose_secret(), value.expose_secret());
            a == b
                || matches!(
                    (serde_json::from_str::<Value>(a), serde_json::from_str::<Value>(b)),
                    (Ok(x @ Value::Object(_)), Ok(y @ Value::Object(_))) if same_json(&x, &y)
                )
        })
    }
}

/// What one read of the secret found.
#[derive(Default)]
struct View {
    /// `MOUNT/PATH` has at least one version (possibly deleted).
    exists: bool,
    current: Option<Slot>,
    previous: Option<Slot>,
    /// The pending slot (never the same id as Current).
    pending: Option<Slot>,
    /// The latest staging version number (0: none), for check-and-set.
    staging_version: u64,
    /// The id at the latest staging version, even if it equals Current (a stale entry).
    staging_id: Option<String>,
    custom_metadata: HashMap<String, String>,
}

/// A raw read of one KV version.
enum Read {
    Missing,
    /// Soft-deleted or destroyed: no data.
    Gone {
        version: u64,
    },
    Found {
        data: Value,
        meta: SecretVersionMetadata,
    },
}

/// Each mount's `max_versions` (read once per mount; `None` when it could not be read).
type MountSettings = Arc<tokio::sync::Mutex<HashMap<String, Arc<OnceCell<Option<u64>>>>>>;

/// The Vault / OpenBao KV v2 implementation of [`SecretStore`]. Cheap to clone.
#[derive(Clone)]
pub struct VaultStore {
    session: Arc<Session>,
    requests: Arc<std::sync::atomic::AtomicU64>,
    mount_max_versions: MountSettings,
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

    /// `NotFound` unless the applications' path of `secret_id` exists.
    async fn require_secret(&self, secret_id: &str) -> Result<(), StoreError> {
        if self.load_with(secret_id, false, false).await?.exists {
            Ok(())
        } else {
            Err(StoreError::not_found(secret_id, "the secret"))
        }
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

    // ----- plumbing -----

    /// Runs one vaultrs call with a fresh client; on 403 with a login-based method, logs in again
    /// and retries once (the token may have been revoked or expired early).
    async fn call<T, F, Fut>(&self, secret: &str, op: &str, f: F) -> Result<T, StoreError>
    where
        F: Fn(Arc<VaultClient>) -> Fut,
        Fut: std::future::Future<Output = Result<T, ClientError>>,
    {
        self.call_raw(secret, op, f).await.map_err(|e| match e {
            CallError::Client(e) => store_error(secret, op, &e),
            CallError::Session(e) => session_error(secret, e),
        })
    }

    async fn call_raw<T, F, Fut>(&self, secret: &str, op: &str, f: F) -> Result<T, CallError>
    where
        F: Fn(Arc<VaultClient>) -> Fut,
        Fut: std::future::Future<Output = Result<T, ClientError>>,
    {
        let client = self.session.client().await.map_err(CallError::Session)?;
        self.requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match f(client).await {
            Err(e) if status_of(&e) == Some(403) && self.session.can_relogin() => {
                tracing::info!(
                    secret,
                    op,
                    "Vault answered 403; logging in again and retrying once"
                );
                let client = self
                    .session
                    .refresh(true)
                    .await
                    .map_err(CallError::Session)?;
                f(client).await.map_err(CallError::Client)
            }
            other => other.map_err(CallError::Client),
        }
    }

    /// Reads the latest (or a given) version of `mount/path` with its version metadata.
    async fn read(
        &self,
        secret: &str,
        mount: &str,
        path: &str,
        version: Option<u64>,
    ) -> Result<Read, StoreError> {
        let op = format!("read {mount}/data/{path}");
        let result = self
            .call_raw(secret, &op, |c| {
                let (m, p) = (mount.to_owned(), path.to_owned());
                async move {
                    let endpoint = ReadSecretRequest::builder()
                        .mount(m)
                        .path(p)
                        .version(version)
                        .build()
                        .map_err(|_| ClientError::ResponseEmptyError)?;
                    vaultrs::api::exec_with_result(&*c, endpoint).await
                }
            })
            .await;
        match result {
            Ok(resp) if resp.data.is_object() => Ok(Read::Found {
                data: resp.data,
                meta: resp.metadata,
            }),
            Ok(resp) => Ok(Read::Gone {
                version: resp.metadata.version,
            }),
            Err(CallError::Client(e)) => match &e {
                ClientError::APIError { code: 404, .. } => Ok(Read::Missing),
                ClientError::RestClientError {
                    source: rustify::errors::ClientError::ServerResponseError { code: 404, content },
                } => Ok(deleted_version(content.as_deref())
                    .map_or(Read::Missing, |version| Read::Gone { version })),
                _ => Err(store_error(secret, &op, &e)),
            },
            Err(CallError::Session(e)) => Err(session_error(secret, e)),
        }
    }

    /// Check-and-set write of `data` to `mount/path`. `Ok(None)`: the CAS did not match.
    async fn write_cas(
        &self,
        secret: &str,
        mount: &str,
        path: &str,
        data: &Map<String, Value>,
        cas: u64,
    ) -> Result<Option<u64>, StoreError> {
        let op = format!("write {mount}/data/{path} (cas {cas})");
        let cas32 = u32::try_from(cas).map_err(|_| {
            StoreError::precondition(secret, format!("{op}: version number too large"))
        })?;
        let result = self
            .call_raw(secret, &op, |c| {
                let (m, p, d) = (mount.to_owned(), path.to_owned(), data.clone());
                async move {
                    vaultrs::kv2::set_with_options(
                        &*c,
                        &m,
                        &p,
                        &d,
                        SetSecretRequestOptions { cas: cas32 },
                    )
                    .await
                }
            })
            .await;
        match result {
            Ok(meta) => Ok(Some(meta.version)),
            Err(CallError::Client(e)) if is_cas_mismatch(&e) => Ok(None),
            Err(CallError::Client(e)) => Err(store_error(secret, &op, &e)),
            Err(CallError::Session(e)) => Err(session_error(secret, e)),
        }
    }

    /// Reads Current, Pending and (if `with_previous`) Previous.
    async fn load(&self, secret: &str, with_previous: bool) -> Result<View, StoreError> {
        self.load_with(secret, with_previous, true).await
    }

    /// Like [`load`](Self::load); without `with_staging` the staging path is not read (for
    /// callers that need Current only), so `pending` is `None` and `staging_version` 0.
    async fn load_with(
        &self,
        secret: &str,
        with_previous: bool,
        with_staging: bool,
    ) -> Result<View, StoreError> {
        let t = target(secret)?;
        let staging = self
            .staging_target(secret)
            .map_err(|e| StoreError::precondition(secret, e.to_string()))?;
        let read_staging = async {
            if with_staging {
                self.read(secret, &staging.mount, &staging.path, None).await
            } else {
                Ok(Read::Missing)
            }
        };
        let (main, stage) = tokio::join!(self.read(secret, &t.mount, &t.path, None), read_staging);
        let mut view = View::default();
        match main? {
            Read::Missing => return Ok(view),
            Read::Gone { .. } => view.exists = true,
            Read::Found { data, meta } => {
                view.exists = true;
                view.custom_metadata = meta.custom_metadata.clone().unwrap_or_default();
                view.current = Some(slot(secret, data, &meta)?);
            }
        }
        match stage? {
            Read::Found { data, meta } => {
                view.staging_version = meta.version;
                let state = data
                    .get(STATE_FIELD)
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                if state.as_deref() != Some(STATE_CLEARED) {
                    let s = slot(secret, data, &meta)?;
                    view.staging_id = Some(s.id.clone());
                    let stale = view.current.as_ref().is_some_and(|c| c.id == s.id);
                    if !stale && !s.id.starts_with("kv-v") {
                        view.pending = Some(s);
                    }
                }
            }
            Read::Gone { version } => view.staging_version = version,
            Read::Missing => {}
        }
        if with_previous {
            if let Some(cur) = &view.current {
                if cur.kv_version > 1 {
                    view.previous = match self
                        .read(secret, &t.mount, &t.path, Some(cur.kv_version - 1))
                        .await?
                    {
                        Read::Found { data, meta } => Some(slot(secret, data, &meta)?),
                        Read::Missing | Read::Gone { .. } => None,
                    };
                }
            }
        }
        Ok(view)
    }

    /// Empties the staging slot (tombstone written with CAS) and destroys the versions before it,
    /// so no pending key material lingers in the staging history. `Ok(false)`: lost a race.
    async fn clear_staging(&self, secret: &str, observed: u64) -> Result<bool, StoreError> {
        let staging = self
            .staging_target(secret)
            .map_err(|e| StoreError::precondition(secret, e.to_string()))?;
        let mut tomb = Map::new();
        tomb.insert(
            STATE_FIELD.to_owned(),
            Value::String(STATE_CLEARED.to_owned()),
        );
        let Some(_) = self
            .write_cas(secret, &staging.mount, &staging.path, &tomb, observed)
            .await?
        else {
            return Ok(false);
        };
        let versions: Vec<u64> = (observed.saturating_sub(15).max(1)..=observed).collect();
        if !versions.is_empty() {
            let result = self
                .call(secret, "destroy old staging versions", |c| {
                    let (m, p, v) = (
                        staging.mount.clone(),
                        staging.path.clone(),
                        versions.clone(),
                    );
                    async move { vaultrs::kv2::destroy_versions(&*c, &m, &p, v).await }
                })
                .await;
            if let Err(e) = result {
                tracing::warn!(secret, error = %e, "could not destroy old staging versions (they hold no current secret); continuing");
            }
        }
        Ok(true)
    }

    /// Refuses a `max_versions` of 1 (key or mount), which would prune Previous at promote.
    async fn check_max_versions(
        &self,
        secret: &str,
        key_max_versions: Option<u64>,
    ) -> Result<(), StoreError> {
        let t = target(secret)?;
        let refuse = |what: String| {
            StoreError::precondition(
                secret,
                format!(
                    "{what} is 1, so promoting would prune the Previous version that still serves \
                     applications during the grace period; set max_versions to at least 2 \
                     (`bao kv metadata put -max-versions=10 {}/{}`)",
                    t.mount, t.path
                ),
            )
        };
        if key_max_versions == Some(1) {
            return Err(refuse("the secret's max_versions".into()));
        }
        if key_max_versions.unwrap_or(0) == 0 {
            let cell = {
                let mut map = self.mount_max_versions.lock().await;
                map.entry(t.mount.clone()).or_default().clone()
            };
            let mount_max = cell
                .get_or_init(|| async {
                    match self
                        .call(secret, "read mount config", |c| {
                            let m = t.mount.clone();
                            async move { vaultrs::kv2::config::read(&*c, &m).await }
                        })
                        .await
                    {
                        Ok(cfg) => Some(cfg.max_versions),
                        Err(e) => {
                            tracing::warn!(mount = %t.mount, error = %e, "cannot read the KV mount's max_versions; assuming it keeps at least 2 versions");
                            None
                        }
                    }
                })
                .await;
            if *mount_max == Some(1) {
                return Err(refuse(format!("mount {}'s max_versions", t.mount)));
            }
        }
        Ok(())
    }

    async fn key_max_versions(&self, secret: &str) -> Result<Option<u64>, StoreError> {
        let t = target(secret)?;
        let result = self
            .call_raw(secret, "read metadata", |c| {
                let (m, p) = (t.mount.clone(), t.path.clone());
                async move { vaultrs::kv2::read_metadata(&*c, &m, &p).await }
            })
            .await;
        match result {
            Ok(meta) => Ok(Some(meta.max_versions)),
            Err(CallError::Client(e)) if status_of(&e) == Some(404) => Ok(None),
            Err(CallError::Client(e)) => Err(store_error(secret, "read metadata", &e)),
            Err(CallError::Session(e)) => Err(session_error(secret, e)),
        }
    }
}

enum CallError {
    Client(ClientError),
    Session(VaultError),
}

fn session_error(secret: &str, e: VaultError) -> StoreError {
    match e {
        VaultError::Store(e) => e,
        VaultError::Auth { .. } => StoreError::Denied {
            secret: secret.to_owned(),
            message: e.to_string(),
        },
        other => StoreError::Backend {
            secret: secret.to_owned(),
            message: other.to_string(),
        },
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

/// The version number in the body of a 404 for a deleted or destroyed version.
fn deleted_version(content: Option<&str>) -> Option<u64> {
    let body: Value = serde_json::from_str(content?).ok()?;
    body.pointer("/data/metadata/version")
        .and_then(Value::as_u64)
}

fn slot(secret: &str, data: Value, meta: &SecretVersionMetadata) -> Result<Slot, StoreError> {
    let Value::Object(mut map) = data else {
        return Err(StoreError::Backend {
            secret: secret.to_owned(),
            message: "KV data is not an object".into(),
        });
    };
    let id = match map.remove(VERSION_FIELD) {
        Some(Value::String(id)) if !id.is_empty() => id,
        _ => format!("kv-v{}", meta.version),
    };
    let state = map.remove(STATE_FIELD);
    let doc = match state.as_ref().and_then(Value::as_str) {
        Some(STATE_BEGUN) => None,
        _ => Some(decode(secret, map)?),
    };
    Ok(Slot {
        kv_version: meta.version,
        id,
        created_at: DateTime::parse_from_rfc3339(&meta.created_time)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        doc,
    })
}

/// The KV data map for a value: a JSON object's own fields (what applications read), plus the
/// exact text in [`DOCUMENT_FIELD`] when the canonical rendering would differ from it. A value
/// that is not a JSON object is kept only in [`DOCUMENT_FIELD`]. Errors never echo the value.
fn encode(secret: &str, value: &SecretString) -> Result<Map<String, Value>, StoreError> {
    let text = value.expose_secret();
    let mut data = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    for reserved in [VERSION_FIELD, STATE_FIELD, DOCUMENT_FIELD] {
        if data.contains_key(reserved) {
            return Err(StoreError::precondition(
                secret,
                format!("the document uses the field {reserved:?}, which the Vault store reserves"),
            ));
        }
    }
    if data.is_empty() || render(secret, &data)?.expose_secret() != text {
        data.insert(DOCUMENT_FIELD.to_owned(), Value::String(text.to_owned()));
    }
    Ok(data)
}

/// The value of a KV data map (rotor's version/state fields already removed): the exact text
/// when it is recorded and still agrees with the fields, else the fields' canonical rendering.
fn decode(secret: &str, mut data: Map<String, Value>) -> Result<SecretString, StoreError> {
    match data.remove(DOCUMENT_FIELD) {
        Some(Value::String(text)) => {
            let agrees = data.is_empty()
                || matches!(serde_json::from_str::<Value>(&text), Ok(Value::Object(m)) if same_json_map(&m, &data));
            if agrees {
                return Ok(SecretString::from(text));
            }
            tracing::warn!(
                secret,
                "the KV fields were edited outside rotor (they no longer match {DOCUMENT_FIELD}); using the fields"
            );
            render(secret, &data)
        }
        _ => render(secret, &data),
    }
}

/// JSON equality where numbers compare by value (Vault returns `1000.0` as `1000`).
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y || matches!((x.as_f64(), y.as_f64()), (Some(p), Some(q)) if p == q)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_json(p, q))
        }
        (Value::Object(x), Value::Object(y)) => same_json_map(x, y),
        _ => a == b,
    }
}

fn same_json_map(a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    a.len() == b.len()
        && a.iter()
            .all(|(k, v)| b.get(k).is_some_and(|w| same_json(v, w)))
}

fn with_field(doc: &Map<String, Value>, field: &str, value: &str) -> Map<String, Value> {
    let mut data = doc.clone();
    data.insert(field.to_owned(), Value::String(value.to_owned()));
    data
}

fn render(secret: &str, doc: &Map<String, Value>) -> Result<SecretString, StoreError> {
    serde_json::to_string(doc)
        .map(SecretString::from)
        .map_err(|_| StoreError::Backend {
            secret: secret.to_owned(),
            message: "could not serialize the stored document".into(),
        })
}

fn value_of(secret: &str, slot: &Slot, stages: Vec<Stage>) -> Result<SecretValue, StoreError> {
    let doc = slot.doc.as_ref().ok_or_else(|| {
        StoreError::not_found(
            secret,
            format!(
                "value of version {} (rotation begun, no value yet)",
                slot.id
            ),
        )
    })?;
    Ok(SecretValue {
        version_id: slot.id.clone(),
        stages,
        value: doc.clone(),
        created_at: slot.created_at,
    })
}

impl View {
    fn versions(&self) -> Vec<(Slot, Vec<Stage>)> {
        let mut out: Vec<(Slot, Vec<Stage>)> = Vec::new();
        for (slot, stage) in [
            (&self.pending, Stage::Pending),
            (&self.current, Stage::Current),
            (&self.previous, Stage::Previous),
        ] {
            let Some(slot) = slot else { continue };
            match out.iter_mut().find(|(s, _)| s.id == slot.id) {
                Some((_, stages)) => stages.push(stage),
                None => out.push((slot.clone(), vec![stage])),
            }
        }
        for (_, stages) in &mut out {
            stages.sort();
        }
        out
    }
}

/// The leaf under a secret's staging path that holds its rotation ledger.
const LEDGER_LEAF: &str = ".rotor-ledger";
/// The KV field of the ledger document.
const LEDGER_FIELD: &str = "ledger";

#[async_trait]
impl SecretStore for VaultStore {
    fn backend(&self) -> &'static str {
        "vault"
    }

    async fn describe(&self, secret_id: &str) -> Result<SecretDescription, StoreError> {
        self.snapshot(secret_id).await.map(|s| s.description)
    }

    /// One `describe` reads the application path, the staging path and the previous KV
    /// version, which hold every staged value: they all come back with the description.
    async fn snapshot(&self, secret_id: &str) -> Result<Snapshot, StoreError> {
        let view = self.load(secret_id, true).await?;
        if !view.exists {
            return Err(StoreError::not_found(secret_id, "the secret"));
        }
        let rotation_enabled = view
            .custom_metadata
            .get(ROTATION_ENABLED_METADATA)
            .and_then(|v| match v.trim().to_ascii_lowercase().as_str() {
                "false" | "0" | "no" => Some(false),
                "true" | "1" | "yes" => Some(true),
                _ => None,
            });
        let last_rotated = view
            .current
            .as_ref()
            .filter(|c| c.kv_version > 1)
            .and_then(|c| c.created_at);
        let staged = view.versions();
        let values = staged
            .iter()
            .filter(|(slot, _)| slot.doc.is_some())
            .map(|(slot, stages)| value_of(secret_id, slot, stages.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        let versions = staged
            .into_iter()
            .map(|(s, stages)| VersionInfo {
                id: s.id,
                stages,
                created_at: s.created_at,
            })
            .collect();
        Ok(Snapshot {
            description: SecretDescription {
                secret_id: target(secret_id)?.secret_id(),
                rotation_enabled,
                last_rotated,
                versions,
            },
            values: Some(values),
        })
    }

    async fn get_value(
        &self,
        secret_id: &str,
        selector: &VersionSelector,
    ) -> Result<SecretValue, StoreError> {
        let with_previous = match selector {
            VersionSelector::Stage(s) => *s == Stage::Previous,
            VersionSelector::Version { stage, .. } => {
                *stage != Some(Stage::Current) && *stage != Some(Stage::Pending)
            }
        };
        let current_only = matches!(
            selector,
            VersionSelector::Stage(Stage::Current)
                | VersionSelector::Version {
                    stage: Some(Stage::Current),
                    ..
                }
        );
        let view = self
            .load_with(secret_id, with_previous, !current_only)
            .await?;
        if !view.exists {
            return Err(StoreError::not_found(secret_id, "the secret"));
        }
        let found = match selector {
            VersionSelector::Stage(stage) => view
                .versions()
                .into_iter()
                .find(|(_, st)| st.contains(stage)),
            VersionSelector::Version { id, stage } => view
                .versions()
                .into_iter()
                .find(|(s, st)| &s.id == id && stage.is_none_or(|want| st.contains(&want))),
        };
        match found {
            Some((slot, stages)) => value_of(secret_id, &slot, stages),
            None => Err(StoreError::not_found(secret_id, selector.to_string())),
        }
    }

    async fn create_secret(
        &self,
        secret_id: &str,
        token: &str,
        value: &SecretString,
    ) -> Result<(), StoreError> {
        let doc = encode(secret_id, value)?;
        let t = target(secret_id)?;
        let view = self.load_with(secret_id, false, false).await?;
        let idempotent = |view: &View| {
            view.current
                .as_ref()
                .is_some_and(|c| c.id == token && c.holds(value))
        };
        if view.exists {
            if idempotent(&view) {
                return Ok(());
            }
            return Err(StoreError::conflict(
                secret_id,
                format!(
                    "{}/{} already exists; `init` only creates new secrets (use rotate)",
                    t.mount, t.path
                ),
            ));
        }
        self.check_max_versions(secret_id, None).await?;
        let data = with_field(&doc, VERSION_FIELD, token);
        match self
            .write_cas(secret_id, &t.mount, &t.path, &data, 0)
            .await?
        {
            Some(version) => {
                tracing::info!(
                    secret = secret_id,
                    version_id = token,
                    kv_version = version,
                    "created the secret"
                );
                Ok(())
            }
            None => {
                let view = self.load_with(secret_id, false, false).await?;
                if idempotent(&view) {
                    return Ok(());
                }
                Err(StoreError::conflict(
                    secret_id,
                    "another writer created the secret at the same time",
                ))
            }
        }
    }

    async fn begin_rotation(&self, secret_id: &str, token: &str) -> Result<(), StoreError> {
        let view = self.load(secret_id, true).await?;
        if !view.exists {
            return Err(StoreError::not_found(secret_id, "the secret"));
        }
        if view.current.as_ref().is_some_and(|c| c.id == token) {
            return Ok(());
        }
        match &view.pending {
            Some(p) if p.id == token => return Ok(()),
            Some(p) => {
                return Err(StoreError::conflict(
                    secret_id,
                    format!(
                        "another rotation is in progress (pending version {}); finish or abandon it first",
                        p.id
                    ),
                ));
            }
            None => {}
        }
        if view.previous.as_ref().is_some_and(|p| p.id == token) {
            return Err(StoreError::conflict(
                secret_id,
                format!(
                    "version {token} already exists (it is the Previous version); use a new rotation token"
                ),
            ));
        }
        let staging = self
            .staging_target(secret_id)
            .map_err(|e| StoreError::precondition(secret_id, e.to_string()))?;
        let mut marker = Map::new();
        marker.insert(VERSION_FIELD.to_owned(), Value::String(token.to_owned()));
        marker.insert(
            STATE_FIELD.to_owned(),
            Value::String(STATE_BEGUN.to_owned()),
        );
        if self
            .write_cas(
                secret_id,
                &staging.mount,
                &staging.path,
                &marker,
                view.staging_version,
            )
            .await?
            .is_some()
        {
            tracing::info!(
                secret = secret_id,
                version_id = token,
                "began a rotation (pending marker staged)"
            );
            return Ok(());
        }
        let view = self.load(secret_id, false).await?;
        match &view.pending {
            Some(p) if p.id == token => Ok(()),
            Some(p) => Err(StoreError::conflict(
                secret_id,
                format!(
                    "another rotation began at the same time (pending version {}); finish or abandon it first",
                    p.id
                ),
            )),
            None => Err(StoreError::conflict(
                secret_id,
                "the pending slot changed concurrently; retry",
            )),
        }
    }

    async fn put_pending(
        &self,
        secret_id: &str,
        token: &str,
        value: &SecretString,
    ) -> Result<(), StoreError> {
        let doc = encode(secret_id, value)?;
        let view = self.load(secret_id, false).await?;
        if !view.exists {
            return Err(StoreError::not_found(secret_id, "the secret"));
        }
        let same_or_conflict = |slot: &Slot| -> Result<(), StoreError> {
            if slot.holds(value) {
                Ok(())
            } else {
                Err(StoreError::conflict(
                    secret_id,
                    format!(
                        "version {token} already holds a different value; use a new rotation token"
                    ),
                ))
            }
        };
        if let Some(c) = view.current.as_ref().filter(|c| c.id == token) {
            return same_or_conflict(c);
        }
        if let Some(p) = view
            .pending
            .as_ref()
            .filter(|p| p.id == token && p.doc.is_some())
        {
            return same_or_conflict(p);
        }
        let staging = self
            .staging_target(secret_id)
            .map_err(|e| StoreError::precondition(secret_id, e.to_string()))?;
        let data = with_field(&doc, VERSION_FIELD, token);
        if let Some(v) = self
            .write_cas(
                secret_id,
                &staging.mount,
                &staging.path,
                &data,
                view.staging_version,
            )
            .await?
        {
            tracing::info!(
                secret = secret_id,
                version_id = token,
                kv_version = v,
                "stored the pending value"
            );
            return Ok(());
        }
        let view = self.load(secret_id, false).await?;
        match view
            .pending
            .as_ref()
            .filter(|p| p.id == token && p.doc.is_some())
        {
            Some(p) => same_or_conflict(p),
            None => Err(StoreError::conflict(
                secret_id,
                format!(
                    "another rotation wrote the pending slot while version {token} was being stored"
                ),
            )),
        }
    }

    async fn promote(&self, secret_id: &str, token: &str, from: &str) -> Result<(), StoreError> {
        let t = target(secret_id)?;
        let view = self.load(secret_id, true).await?;
        if !view.exists {
            return Err(StoreError::not_found(secret_id, "the secret"));
        }
        let Some(current) = &view.current else {
            return Err(StoreError::precondition(
                secret_id,
                format!(
                    "the latest version of {}/{} is deleted; undelete it before rotating",
                    t.mount, t.path
                ),
            ));
        };
        if current.id == token {
            return Ok(());
        }
        if current.id != from {
            return Err(StoreError::conflict(
                secret_id,
                format!(
                    "Current is version {}, not {from}: another promote won",
                    current.id
                ),
            ));
        }
        let source = [&view.pending, &view.previous]
            .into_iter()
            .flatten()
            .find(|s| s.id == token)
            .ok_or_else(|| StoreError::not_found(secret_id, format!("version {token}")))?;
        let doc = source.doc.as_ref().ok_or_else(|| {
            StoreError::not_found(
                secret_id,
                format!("value of version {token} (no value stored yet)"),
            )
        })?;
        self.check_max_versions(secret_id, self.key_max_versions(secret_id).await?)
            .await?;
        let data = with_field(&encode(secret_id, doc)?, VERSION_FIELD, token);
        match self
            .write_cas(secret_id, &t.mount, &t.path, &data, current.kv_version)
            .await?
        {
            Some(v) => tracing::info!(
                secret = secret_id,
                version_id = token,
                previous = from,
                kv_version = v,
                "promoted"
            ),
            None => {
                let now = self.load_with(secret_id, false, false).await?;
                if now.current.as_ref().is_some_and(|c| c.id == token) {
                    return Ok(());
                }
                return Err(StoreError::conflict(
                    secret_id,
                    format!(
                        "Current moved away from {from} during the promote: another promote won"
                    ),
                ));
            }
        }
        if view.staging_id.as_deref() == Some(token) {
            match self.clear_staging(secret_id, view.staging_version).await {
                Ok(_) => {}
                Err(e) => tracing::warn!(secret = secret_id, error = %e,
                    "promoted, but could not empty the staging slot; the next rotation overwrites it"),
            }
        }
        Ok(())
    }

    async fn clear_pending(&self, secret_id: &str, token: &str) -> Result<(), StoreError> {
        let view = self.load(secret_id, false).await?;
        if !view.exists {
            return Err(StoreError::not_found(secret_id, "the secret"));
        }
        if view.staging_id.as_deref() != Some(token) {
            return Ok(());
        }
        if self.clear_staging(secret_id, view.staging_version).await? {
            tracing::info!(
                secret = secret_id,
                version_id = token,
                "cleared the pending slot"
            );
            return Ok(());
        }
        let view = self.load(secret_id, false).await?;
        if view.staging_id.as_deref() == Some(token) {
            return Err(StoreError::conflict(
                secret_id,
                "the pending slot changed concurrently; retry",
            ));
        }
        Ok(())
    }

    /// One read of `MOUNT/<prefix>/PATH/.rotor-ledger` (plus one of the applications' path
    /// when no ledger exists yet, to tell a missing secret apart). The revision is the KV version.
    async fn read_ledger(&self, secret_id: &str) -> Result<Option<LedgerEntry>, StoreError> {
        let t = self
            .ledger_target(secret_id)
            .map_err(|e| session_error(secret_id, e))?;
        match self.read(secret_id, &t.mount, &t.path, None).await? {
            Read::Found { data, meta } => Ok(Some(LedgerEntry {
                revision: meta.version.to_string(),
                document: data
                    .get(LEDGER_FIELD)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            })),
            // A deleted latest version: an empty ledger at that revision.
            Read::Gone { version } => Ok(Some(LedgerEntry {
                revision: version.to_string(),
                document: String::new(),
            })),
            Read::Missing => {
                self.require_secret(secret_id).await?;
                Ok(None)
            }
        }
    }

    /// A KV check-and-set write (`cas` = the expected revision, 0 for none).
    async fn write_ledger(
        &self,
        secret_id: &str,
        expected: Option<&str>,
        document: &str,
    ) -> Result<String, StoreError> {
        let cas = match expected {
            None => {
                self.require_secret(secret_id).await?;
                0
            }
            Some(rev) => rev.parse::<u64>().map_err(|_| {
                StoreError::conflict(
                    secret_id,
                    format!("ledger revision {rev:?} is not a KV version number"),
                )
            })?,
        };
        let t = self
            .ledger_target(secret_id)
            .map_err(|e| session_error(secret_id, e))?;
        let mut data = Map::new();
        data.insert(LEDGER_FIELD.to_owned(), Value::String(document.to_owned()));
        match self
            .write_cas(secret_id, &t.mount, &t.path, &data, cas)
            .await?
        {
            Some(version) => Ok(version.to_string()),
            None => Err(StoreError::conflict(
                secret_id,
                format!(
                    "the ledger moved past revision {} (another worker wrote it first); nothing was changed",
                    expected.unwrap_or("none")
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_must_be_objects_without_reserved_fields_and_errors_never_echo() {
        let secret_value =
            "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";
        for bad in [
            format!("\"{secret_value}\""),
            format!("{{\"api_key\": \"{secret_value}\""),
            format!("{{\"api_key\": \"{secret_value}\", \"rotor_version\": \"x\"}}"),
        ] {
            let Err(err) = encode("secret/app", &SecretString::from(bad)) else {
                continue;
            };
            let err = err.to_string();
            assert!(!err.contains(&secret_value[12..]), "{err}");
            assert!(err.contains("secret/app"), "{err}");
        }
        // Canonical JSON: just the fields. Anything else also keeps the exact text.
        let canonical = format!("{{\"api_key\":\"{secret_value}\",\"b\":1}}");
        let data = encode("s/a", &SecretString::from(canonical.clone())).unwrap();
        assert_eq!(data.len(), 2);
        assert_eq!(decode("s/a", data).unwrap().expose_secret(), canonical);
        let spaced = format!("{{ \"b\": 1.50, \"api_key\":\"{secret_value}\" }}\n");
        let data = encode("s/a", &SecretString::from(spaced.clone())).unwrap();
        assert_eq!(data["api_key"], Value::String(secret_value.into()));
        assert_eq!(decode("s/a", data.clone()).unwrap().expose_secret(), spaced);
        // Fields edited by hand win over a stale exact copy.
        let mut edited = data;
        edited.insert("api_key".into(), Value::String("sk-or-v1-new".into()));
        assert!(
            decode("s/a", edited)
                .unwrap()
                .expose_secret()
                .contains("sk-or-v1-new")
        );
        let text = "not json \r\n";
        let data = encode("s/a", &SecretString::from(text)).unwrap();
        assert_eq!(decode("s/a", data).unwrap().expose_secret(), text);
    }

    #[test]
    fn deleted_version_is_read_from_the_404_body() {
        let body = r#"{"data":{"data":null,"metadata":{"version":7,"destroyed":false,"deletion_time":"2025-01-01T00:00:00Z"}}}"#;
        assert_eq!(deleted_version(Some(body)), Some(7));
        assert_eq!(deleted_version(Some(r#"{"errors":[]}"#)), None);
        assert_eq!(deleted_version(None), None);
    }
}
