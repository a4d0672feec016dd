//! KV v2 requests for [`VaultStore`]: one vaultrs call with a re-login on 403, reads and
//! check-and-set writes of one path, one read of the whole secret (a [`View`]), emptying the
//! staging slot, the `max_versions` checks, and mapping failures to [`StoreError`].

use std::{collections::HashMap, sync::Arc};

use rotor_core::{Stage, StoreError};
use serde_json::{Map, Value};
use vaultrs::{
    api::kv2::{
        requests::{ReadSecretRequest, SetSecretRequestOptions},
        responses::SecretVersionMetadata,
    },
    client::VaultClient,
    error::ClientError,
};

use super::{
    STATE_CLEARED, STATE_FIELD, VaultStore,
    codec::{Slot, slot},
    target,
};
use crate::{
    VaultError,
    error::{is_cas_mismatch, status_of, store_error},
};

/// What one read of the secret found.
#[derive(Default, Clone)]
pub(super) struct View {
    /// `MOUNT/PATH` has at least one version (possibly deleted).
    pub(super) exists: bool,
    pub(super) current: Option<Slot>,
    pub(super) previous: Option<Slot>,
    /// The pending slot (never the same id as Current).
    pub(super) pending: Option<Slot>,
    /// The latest staging version number (0: none), for check-and-set.
    pub(super) staging_version: u64,
    /// The id at the latest staging version, even if it equals Current (a stale entry).
    pub(super) staging_id: Option<String>,
    pub(super) custom_metadata: HashMap<String, String>,
}

/// A raw read of one KV version.
pub(super) enum Read {
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

impl VaultStore {
    /// `NotFound` unless the applications' path of `secret_id` exists.
    pub(super) async fn require_secret(&self, secret_id: &str) -> Result<(), StoreError> {
        if self.load_with(secret_id, false, false).await?.exists {
            Ok(())
        } else {
            Err(StoreError::not_found(secret_id, "the secret"))
        }
    }

    /// Runs one vaultrs call with a fresh client; on 403 with a login-based method, logs in again
    /// and retries once (the token may have been revoked or expired early).
    pub(super) async fn call<T, F, Fut>(
        &self,
        secret: &str,
        op: &str,
        f: F,
    ) -> Result<T, StoreError>
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
    pub(super) async fn read(
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
    pub(super) async fn write_cas(
        &self,
        secret: &str,
        mount: &str,
        path: &str,
        data: &Map<String, Value>,
        cas: u64,
    ) -> Result<Option<u64>, StoreError> {
        Ok(self
            .write_cas_meta(secret, mount, path, data, cas)
            .await?
            .map(|meta| meta.version))
    }

    /// [`write_cas`](Self::write_cas), returning the written version's metadata.
    pub(super) async fn write_cas_meta(
        &self,
        secret: &str,
        mount: &str,
        path: &str,
        data: &Map<String, Value>,
        cas: u64,
    ) -> Result<Option<SecretVersionMetadata>, StoreError> {
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
            Ok(meta) => Ok(Some(meta)),
            Err(CallError::Client(e)) if is_cas_mismatch(&e) => Ok(None),
            Err(CallError::Client(e)) => Err(store_error(secret, &op, &e)),
            Err(CallError::Session(e)) => Err(session_error(secret, e)),
        }
    }

    /// Reads Current, Pending and (if `with_previous`) Previous.
    pub(super) async fn load(&self, secret: &str, with_previous: bool) -> Result<View, StoreError> {
        self.load_with(secret, with_previous, true).await
    }

    /// Like [`load`](Self::load); without `with_staging` the staging path is not read (for
    /// callers that need Current only), so `pending` is `None` and `staging_version` 0.
    pub(super) async fn load_with(
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
    pub(super) async fn clear_staging(
        &self,
        secret: &str,
        observed: u64,
    ) -> Result<bool, StoreError> {
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
    pub(super) async fn check_max_versions(
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

    /// The secret's own `max_versions`, remembered for a minute: a promote checks it every
    /// time, and an operator lowering it to 1 is caught within the minute.
    pub(super) async fn key_max_versions(&self, secret: &str) -> Result<Option<u64>, StoreError> {
        const FRESH: std::time::Duration = std::time::Duration::from_secs(60);
        if let Some((at, known)) = self
            .key_max_versions
            .lock()
            .ok()
            .and_then(|m| m.get(secret).copied())
            && at.elapsed() < FRESH
        {
            return Ok(known);
        }
        let read = self.read_key_max_versions(secret).await?;
        // A refusal (1) is never remembered: once it is raised, the next promote goes through.
        if read != Some(1)
            && let Ok(mut m) = self.key_max_versions.lock()
        {
            m.insert(secret.to_owned(), (std::time::Instant::now(), read));
        }
        Ok(read)
    }

    async fn read_key_max_versions(&self, secret: &str) -> Result<Option<u64>, StoreError> {
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

pub(super) fn session_error(secret: &str, e: VaultError) -> StoreError {
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

/// The version number in the body of a 404 for a deleted or destroyed version.
fn deleted_version(content: Option<&str>) -> Option<u64> {
    let body: Value = serde_json::from_str(content?).ok()?;
    body.pointer("/data/metadata/version")
        .and_then(Value::as_u64)
}

impl View {
    pub(super) fn versions(&self) -> Vec<(Slot, Vec<Stage>)> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deleted_version_is_read_from_the_404_body() {
        let body = r#"{"data":{"data":null,"metadata":{"version":7,"destroyed":false,"deletion_time":"2025-01-01T00:00:00Z"}}}"#;
        assert_eq!(deleted_version(Some(body)), Some(7));
        assert_eq!(deleted_version(Some(r#"{"errors":[]}"#)), None);
        assert_eq!(deleted_version(None), None);
    }
}
