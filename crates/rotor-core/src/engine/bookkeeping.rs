//! Bookkeeping versions: a copy of the current document (with updated `older_keys`) written and
//! promoted through the staged lifecycle, so applications keep reading the same key while rotor
//! saves retirement state or moves AWSPREVIOUS off a key.

#![allow(clippy::result_large_err)]

use super::retire_decision::grace_start;
use super::*;
use crate::record::{KeyRecord, OlderKey};
use crate::store::{SecretStore, StoreError};

impl Engine {
    /// Writes `record` as a new version and makes it current, through the staged lifecycle with a
    /// fresh token (the old current version becomes AWSPREVIOUS). Returns the new version id.
    /// `record` must record every live key of the secret (the caller's job). On a conflict
    /// (another rotation started, or another promote won) nothing changed: AWSPENDING is cleared
    /// again and [`EngineError::Conflict`] returned.
    pub(crate) async fn write_bookkeeping_version(
        &self,
        store: &dyn SecretStore,
        scope: &Scope,
        from: &str,
        record: &KeyRecord,
        what: &str,
    ) -> Result<String, EngineError> {
        let secret_id = scope.secret.as_str();
        let token = uuid::Uuid::new_v4().to_string();
        let conflict = |e: StoreError| EngineError::Conflict {
            scope: scope.clone(),
            message: format!(
                "{what}: another rotation or writer changed the secret at the same time ({e}); \
                 nothing was saved: run the command again"
            ),
        };
        if let Err(e) = store.begin_rotation(secret_id, &token).await {
            return Err(match e {
                StoreError::Conflict { .. } => conflict(e),
                e => store_err(
                    scope.clone(),
                    &format!("{what} (starting a new version)"),
                    e,
                ),
            });
        }
        let result = async {
            store
                .put_pending(secret_id, &token, &record.to_secret_string())
                .await?;
            store.promote(secret_id, &token, from).await
        }
        .await;
        match result {
            Ok(()) => Ok(token),
            Err(e) => {
                // Leave no half-written version pending (best effort: if this fails too, the
                // pending copy records the same keys and `rotor rotate --resume` finishes it).
                let _ = store.clear_pending(secret_id, &token).await;
                Err(match e {
                    StoreError::Conflict { .. } => conflict(e),
                    e => store_err(
                        scope.clone(),
                        &format!("{what} (writing version {token})"),
                        e,
                    ),
                })
            }
        }
    }
}

/// `older` with every entry's grace start fixed (the store's `last_rotated` moves with the write
/// about to happen).
pub(crate) fn pin_grace_starts(
    mut older: Vec<OlderKey>,
    current: &KeyRecord,
    last_rotated: Option<DateTime<Utc>>,
) -> Vec<OlderKey> {
    let latest = current.older_keys.iter().map(|k| k.superseded_at).max();
    for k in &mut older {
        if k.grace_started_at.is_none() {
            k.grace_started_at = Some(grace_start(k, latest, last_rotated));
        }
    }
    older
}
