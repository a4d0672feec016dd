//! The [`SecretStore`] implementation of [`VaultStore`]: the staged lifecycle and the ledger
//! on top of the KV requests in [`kv`](super::kv).

use async_trait::async_trait;
use rotor_core::{
    LedgerEntry, SecretDescription, SecretStore, SecretValue, Snapshot, Stage, StoreError,
    VersionInfo, VersionSelector,
};
use secrecy::SecretString;
use serde_json::{Map, Value};

use super::{
    LEDGER_FIELD, ROTATION_ENABLED_METADATA, STATE_BEGUN, STATE_FIELD, VERSION_FIELD, VaultStore,
    codec::{Slot, encode, slot, value_of, with_field},
    kv::{Read, View, session_error},
    target,
};

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
            self.views.forget(secret_id);
            return Err(StoreError::not_found(secret_id, "the secret"));
        }
        let snapshot = snapshot_of(secret_id, &view)?;
        self.views.remember(secret_id, view, false);
        Ok(snapshot)
    }

    /// The view this store's own `begin_rotation` or `put_pending` left (views.rs).
    fn snapshot_after_write(&self, secret_id: &str) -> Option<Snapshot> {
        let view = self.views.after_write(secret_id)?;
        snapshot_of(secret_id, &view).ok()
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
        self.views.forget(secret_id);
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
        // From the view just read, when it says "write the marker": the check-and-set on the
        // staging slot proves nothing wrote it since (views.rs). Anything else: read again.
        if let Some(view) = self.views.take(secret_id)
            && view.exists
            && view.pending.is_none()
            && view.current.as_ref().is_some_and(|c| c.id != token)
            && view.previous.as_ref().is_none_or(|p| p.id != token)
            && self.write_begun(secret_id, token, view).await?
        {
            return Ok(());
        }
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
        if self.write_begun(secret_id, token, view).await? {
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
        // From the view just read (or just written by begin_rotation), when it holds this
        // token's empty marker: the check-and-set on the staging slot proves nothing wrote it
        // since (views.rs). Anything else: read again.
        if let Some(view) = self.views.take(secret_id)
            && view.exists
            && view.current.as_ref().is_none_or(|c| c.id != token)
            && view
                .pending
                .as_ref()
                .is_some_and(|p| p.id == token && p.doc.is_none())
            && self
                .write_pending_value(secret_id, token, &doc, view)
                .await?
        {
            return Ok(());
        }
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
        if self
            .write_pending_value(secret_id, token, &doc, view)
            .await?
        {
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
        // From the view just read, when it says "write": the check-and-set on the application
        // path proves nothing wrote it since (views.rs). Anything else: read again.
        if let Some(view) = self.views.take(secret_id)
            && view.exists
            && view
                .current
                .as_ref()
                .is_some_and(|c| c.id == from && c.id != token)
            && [&view.pending, &view.previous]
                .into_iter()
                .flatten()
                .any(|s| s.id == token && s.doc.is_some())
            && self.promote_from(secret_id, token, from, &view).await?
        {
            return Ok(());
        }
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
        if source.doc.is_none() {
            return Err(StoreError::not_found(
                secret_id,
                format!("value of version {token} (no value stored yet)"),
            ));
        }
        if self.promote_from(secret_id, token, from, &view).await? {
            return Ok(());
        }
        let now = self.load_with(secret_id, false, false).await?;
        if now.current.as_ref().is_some_and(|c| c.id == token) {
            return Ok(());
        }
        Err(StoreError::conflict(
            secret_id,
            format!("Current moved away from {from} during the promote: another promote won"),
        ))
    }

    async fn clear_pending(&self, secret_id: &str, token: &str) -> Result<(), StoreError> {
        self.views.forget(secret_id);
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

/// The description (and every staged value) of a full view.
fn snapshot_of(secret_id: &str, view: &View) -> Result<Snapshot, StoreError> {
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

/// The check-and-set writes of the staged lifecycle, each starting from a view (read just now,
/// or remembered: views.rs) and, on success, remembering the view it leaves.
impl VaultStore {
    /// Writes `token`'s empty marker to the staging slot over `view`'s staging version.
    /// `Ok(false)`: the check-and-set did not match.
    async fn write_begun(
        &self,
        secret_id: &str,
        token: &str,
        view: View,
    ) -> Result<bool, StoreError> {
        let mut marker = Map::new();
        marker.insert(VERSION_FIELD.to_owned(), Value::String(token.to_owned()));
        marker.insert(
            STATE_FIELD.to_owned(),
            Value::String(STATE_BEGUN.to_owned()),
        );
        let written = self.write_staging(secret_id, marker, view).await?;
        if written.is_some() {
            tracing::info!(
                secret = secret_id,
                version_id = token,
                "began a rotation (pending marker staged)"
            );
        }
        Ok(written.is_some())
    }

    /// Writes `token`'s value to the staging slot over `view`'s staging version.
    /// `Ok(false)`: the check-and-set did not match.
    async fn write_pending_value(
        &self,
        secret_id: &str,
        token: &str,
        doc: &Map<String, Value>,
        view: View,
    ) -> Result<bool, StoreError> {
        let data = with_field(doc, VERSION_FIELD, token);
        let written = self.write_staging(secret_id, data, view).await?;
        if let Some(kv_version) = written {
            tracing::info!(
                secret = secret_id,
                version_id = token,
                kv_version,
                "stored the pending value"
            );
        }
        Ok(written.is_some())
    }

    /// Check-and-set write of `data` to the staging slot over `view`'s staging version; on
    /// success remembers the view it leaves (`remember_staged`) and returns the KV version.
    /// `Ok(None)`: the check-and-set did not match.
    async fn write_staging(
        &self,
        secret_id: &str,
        data: Map<String, Value>,
        view: View,
    ) -> Result<Option<u64>, StoreError> {
        let staging = self
            .staging_target(secret_id)
            .map_err(|e| StoreError::precondition(secret_id, e.to_string()))?;
        let written = self
            .write_cas_meta(
                secret_id,
                &staging.mount,
                &staging.path,
                &data,
                view.staging_version,
            )
            .await?;
        Ok(written.map(|meta| {
            self.remember_staged(secret_id, view, Value::Object(data), &meta);
            meta.version
        }))
    }

    /// After a successful staging write: `view` with the staging slot as written (decoded
    /// exactly as a read would), remembered for the next write and the engine's read cache.
    fn remember_staged(
        &self,
        secret_id: &str,
        mut view: View,
        written: Value,
        meta: &vaultrs::api::kv2::responses::SecretVersionMetadata,
    ) {
        match slot(secret_id, written, meta) {
            Ok(s) => {
                view.staging_version = meta.version;
                view.staging_id = Some(s.id.clone());
                view.pending = Some(s);
                self.views.remember(secret_id, view, true);
            }
            Err(_) => self.views.forget(secret_id),
        }
    }

    /// Writes `token`'s value as the application path's new latest version over Current's KV
    /// version in `view` (Current is `from`), then empties the staging slot. `Ok(false)`: the
    /// check-and-set did not match. The caller has checked `token` has a value in `view`.
    async fn promote_from(
        &self,
        secret_id: &str,
        token: &str,
        from: &str,
        view: &View,
    ) -> Result<bool, StoreError> {
        self.views.forget(secret_id);
        let t = target(secret_id)?;
        let (Some(current), Some(doc)) = (
            view.current.as_ref(),
            [&view.pending, &view.previous]
                .into_iter()
                .flatten()
                .find(|s| s.id == token)
                .and_then(|s| s.doc.as_ref()),
        ) else {
            return Ok(false);
        };
        self.check_max_versions(secret_id, self.key_max_versions(secret_id).await?)
            .await?;
        let data = with_field(&encode(secret_id, doc)?, VERSION_FIELD, token);
        let Some(v) = self
            .write_cas(secret_id, &t.mount, &t.path, &data, current.kv_version)
            .await?
        else {
            return Ok(false);
        };
        tracing::info!(
            secret = secret_id,
            version_id = token,
            previous = from,
            kv_version = v,
            "promoted"
        );
        if view.staging_id.as_deref() == Some(token) {
            match self.clear_staging(secret_id, view.staging_version).await {
                Ok(_) => {}
                Err(e) => tracing::warn!(secret = secret_id, error = %e,
                    "promoted, but could not empty the staging slot; the next rotation overwrites it"),
            }
        }
        Ok(true)
    }
}
