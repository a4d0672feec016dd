//! [`SecretState`]: one secret's staged versions as a state machine, the semantics shared by
//! [`MemoryStore`](crate::memory::MemoryStore) (a map of them behind a mutex) and
//! [`FileStore`](crate::file::FileStore) (one per file, under the file's lock). Every transition
//! validates first and mutates only once it cannot fail.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use crate::store::{
    LedgerEntry, SecretDescription, SecretValue, Snapshot, Stage, StoreError, VersionInfo,
    VersionSelector,
};

/// How many versions without any stage label a store keeps (newest first) before forgetting the
/// oldest. Labeled versions (Pending, Current, Previous) are never pruned.
pub(crate) const KEEP_UNLABELED_VERSIONS: usize = 3;

/// One version of a secret.
#[derive(Clone)]
pub(crate) struct VersionState {
    /// `None` for a Pending version created by `begin_rotation` before createSecret stored a value.
    pub(crate) value: Option<SecretString>,
    pub(crate) created_at: DateTime<Utc>,
}

/// One secret: its versions and which version carries each stage label. Keeping the labels as a
/// map *label → version* makes "each label is on at most one version" true by construction.
///
/// Every transition validates first and mutates only once it cannot fail, and reports whether it
/// changed anything (so persistent stores write only when needed).
#[derive(Clone)]
pub(crate) struct SecretState {
    pub(crate) rotation_enabled: Option<bool>,
    pub(crate) last_rotated: Option<DateTime<Utc>>,
    pub(crate) versions: BTreeMap<String, VersionState>,
    pub(crate) stages: BTreeMap<Stage, String>,
    /// The ledger: revision counter and document (see
    /// [`SecretStore::write_ledger`](crate::store::SecretStore::write_ledger)).
    pub(crate) ledger: Option<(u64, String)>,
}

fn same_value(a: &SecretString, b: &SecretString) -> bool {
    a.expose_secret() == b.expose_secret()
}

fn check_token(secret: &str, token: &str) -> Result<(), StoreError> {
    if token.is_empty() {
        return Err(StoreError::precondition(
            secret,
            "the version id (rotation token) is empty; pass a non-empty token such as a UUID",
        ));
    }
    Ok(())
}

impl SecretState {
    /// A new secret whose first version `token` holds `value` and carries Current.
    pub(crate) fn create(
        secret: &str,
        token: &str,
        value: &SecretString,
        now: DateTime<Utc>,
    ) -> Result<SecretState, StoreError> {
        check_token(secret, token)?;
        let mut versions = BTreeMap::new();
        versions.insert(
            token.to_owned(),
            VersionState {
                value: Some(value.clone()),
                created_at: now,
            },
        );
        let mut stages = BTreeMap::new();
        stages.insert(Stage::Current, token.to_owned());
        Ok(SecretState {
            rotation_enabled: Some(true),
            last_rotated: None,
            versions,
            stages,
            ledger: None,
        })
    }

    /// The ledger as [`SecretStore::read_ledger`] returns it.
    pub(crate) fn read_ledger(&self) -> Option<LedgerEntry> {
        self.ledger.as_ref().map(|(rev, doc)| LedgerEntry {
            revision: rev.to_string(),
            document: doc.clone(),
        })
    }

    /// [`SecretStore::write_ledger`]: a check-and-set on the revision counter.
    pub(crate) fn write_ledger(
        &mut self,
        secret: &str,
        expected: Option<&str>,
        document: &str,
    ) -> Result<String, StoreError> {
        let current = self.ledger.as_ref().map(|(rev, _)| rev.to_string());
        if current.as_deref() != expected {
            return Err(StoreError::conflict(
                secret,
                format!(
                    "the ledger is at revision {}, not {} (another worker wrote it first); nothing was changed",
                    current.as_deref().unwrap_or("none"),
                    expected.unwrap_or("none")
                ),
            ));
        }
        let next = self.ledger.as_ref().map_or(1, |(rev, _)| rev + 1);
        self.ledger = Some((next, document.to_owned()));
        Ok(next.to_string())
    }

    /// `create_secret` on a secret that already exists: `Ok` only for the idempotent re-run.
    pub(crate) fn check_recreate(
        &self,
        secret: &str,
        token: &str,
        value: &SecretString,
    ) -> Result<(), StoreError> {
        let same = self.holder(Stage::Current) == Some(token)
            && self
                .versions
                .get(token)
                .and_then(|v| v.value.as_ref())
                .is_some_and(|v| same_value(v, value));
        if same {
            Ok(())
        } else {
            Err(StoreError::conflict(
                secret,
                format!(
                    "the secret already exists (current version {}); it was not changed. \
                     Use a new secret name, or rotate the existing secret",
                    self.holder(Stage::Current).unwrap_or("none")
                ),
            ))
        }
    }

    /// The version carrying `stage`.
    pub(crate) fn holder(&self, stage: Stage) -> Option<&str> {
        self.stages.get(&stage).map(String::as_str)
    }

    /// The stages on version `id`, sorted.
    pub(crate) fn stages_of(&self, id: &str) -> Vec<Stage> {
        // BTreeMap iteration is in `Stage` order, so the result is sorted.
        self.stages
            .iter()
            .filter(|(_, v)| v.as_str() == id)
            .map(|(s, _)| *s)
            .collect()
    }

    fn has(&self, id: &str, stage: Stage) -> bool {
        self.holder(stage) == Some(id)
    }

    pub(crate) fn describe(&self, secret_id: &str) -> SecretDescription {
        SecretDescription {
            secret_id: secret_id.to_owned(),
            rotation_enabled: self.rotation_enabled,
            last_rotated: self.last_rotated,
            versions: self
                .versions
                .iter()
                .map(|(id, v)| VersionInfo {
                    id: id.clone(),
                    stages: self.stages_of(id),
                    created_at: Some(v.created_at),
                })
                .collect(),
        }
    }

    /// [`describe`](Self::describe) and every version's value (the whole state is at hand).
    pub(crate) fn snapshot(&self, secret_id: &str) -> Snapshot {
        let values = self
            .versions
            .iter()
            .filter_map(|(id, v)| {
                v.value.as_ref().map(|value| SecretValue {
                    version_id: id.clone(),
                    stages: self.stages_of(id),
                    value: value.clone(),
                    created_at: Some(v.created_at),
                })
            })
            .collect();
        Snapshot {
            description: self.describe(secret_id),
            values: Some(values),
        }
    }

    pub(crate) fn get_value(
        &self,
        secret: &str,
        selector: &VersionSelector,
    ) -> Result<SecretValue, StoreError> {
        let id = match selector {
            VersionSelector::Stage(stage) => self.holder(*stage).ok_or_else(|| {
                StoreError::not_found(secret, format!("no version carries stage {stage}"))
            })?,
            VersionSelector::Version { id, stage } => {
                if !self.versions.contains_key(id) {
                    return Err(StoreError::not_found(secret, format!("version {id}")));
                }
                if let Some(stage) = stage {
                    if !self.has(id, *stage) {
                        return Err(StoreError::not_found(
                            secret,
                            format!(
                                "version {id} in stage {stage} (the version has stages {:?})",
                                self.stages_of(id)
                            ),
                        ));
                    }
                }
                id.as_str()
            }
        };
        let version = self
            .versions
            .get(id)
            .ok_or_else(|| StoreError::not_found(secret, format!("version {id}")))?;
        let value = version.value.clone().ok_or_else(|| {
            StoreError::not_found(
                secret,
                format!("the value of version {id} (the rotation started but createSecret has not stored a value yet)"),
            )
        })?;
        Ok(SecretValue {
            version_id: id.to_owned(),
            stages: self.stages_of(id),
            value,
            created_at: Some(version.created_at),
        })
    }

    pub(crate) fn begin_rotation(
        &mut self,
        secret: &str,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        check_token(secret, token)?;
        if self.has(token, Stage::Pending) || self.has(token, Stage::Current) {
            return Ok(false);
        }
        if let Some(pending) = self.holder(Stage::Pending) {
            if !self.has(pending, Stage::Current) {
                return Err(StoreError::conflict(
                    secret,
                    format!(
                        "a previous rotation isn't complete: version {pending} carries {}. \
                         Finish it (re-run the rotation with token {pending}) or abandon it \
                         (clear its pending label) before starting another",
                        Stage::Pending
                    ),
                ));
            }
        }
        if self.versions.contains_key(token) {
            return Err(StoreError::conflict(
                secret,
                format!(
                    "version {token} already exists and is neither pending nor current; \
                     start the rotation with a fresh token"
                ),
            ));
        }
        self.versions.insert(
            token.to_owned(),
            VersionState {
                value: None,
                created_at: now,
            },
        );
        // A Pending label left on the current version after a finished rotation moves, as in AWS.
        self.stages.insert(Stage::Pending, token.to_owned());
        self.prune();
        Ok(true)
    }

    pub(crate) fn put_pending(
        &mut self,
        secret: &str,
        token: &str,
        value: &SecretString,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        check_token(secret, token)?;
        let token_pending = self.has(token, Stage::Pending);
        match self.versions.get_mut(token) {
            Some(VersionState {
                value: Some(existing),
                ..
            }) => {
                if same_value(existing, value) {
                    Ok(false)
                } else {
                    Err(StoreError::conflict(
                        secret,
                        format!(
                            "version {token} already holds a different value (a version's value \
                             never changes); nothing was changed. Start a new rotation with a fresh token"
                        ),
                    ))
                }
            }
            Some(_) if !token_pending => Err(StoreError::conflict(
                secret,
                format!(
                    "version {token} no longer carries {} (its rotation was abandoned or another \
                     rotation took over); nothing was changed",
                    Stage::Pending
                ),
            )),
            Some(version) => {
                version.value = Some(value.clone());
                self.stages.insert(Stage::Pending, token.to_owned());
                self.prune();
                Ok(true)
            }
            None => {
                self.versions.insert(
                    token.to_owned(),
                    VersionState {
                        value: Some(value.clone()),
                        created_at: now,
                    },
                );
                self.stages.insert(Stage::Pending, token.to_owned());
                self.prune();
                Ok(true)
            }
        }
    }

    pub(crate) fn promote(
        &mut self,
        secret: &str,
        token: &str,
        from: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        if self.has(token, Stage::Current) {
            return Ok(false);
        }
        if !self.has(from, Stage::Current) {
            return Err(StoreError::conflict(
                secret,
                format!(
                    "cannot promote version {token}: {} is on version {}, not on {from} \
                     (another promote or rollback won); nothing was changed. Run `rotor status` \
                     and retry against the current version",
                    Stage::Current,
                    self.holder(Stage::Current).unwrap_or("none")
                ),
            ));
        }
        match self.versions.get(token) {
            None => {
                return Err(StoreError::not_found(
                    secret,
                    format!("version {token} (to promote)"),
                ));
            }
            Some(VersionState { value: None, .. }) => {
                return Err(StoreError::not_found(
                    secret,
                    format!("the value of version {token} (run createSecret before promoting it)"),
                ));
            }
            Some(_) => {}
        }
        self.stages.insert(Stage::Current, token.to_owned());
        self.stages.insert(Stage::Previous, from.to_owned());
        if self.has(token, Stage::Pending) {
            self.stages.remove(&Stage::Pending);
        }
        self.last_rotated = Some(now);
        self.prune();
        Ok(true)
    }

    pub(crate) fn clear_pending(&mut self, _secret: &str, token: &str) -> Result<bool, StoreError> {
        if !self.has(token, Stage::Pending) {
            return Ok(false);
        }
        self.stages.remove(&Stage::Pending);
        self.prune();
        Ok(true)
    }

    /// Forgets versions without a stage label: at once when they have no value, otherwise all
    /// but the newest [`KEEP_UNLABELED_VERSIONS`].
    fn prune(&mut self) {
        let labeled: Vec<String> = self.stages.values().cloned().collect();
        let is_labeled = |id: &str| labeled.iter().any(|l| l == id);
        self.versions
            .retain(|id, v| is_labeled(id) || v.value.is_some());
        let mut unlabeled: Vec<(DateTime<Utc>, String)> = self
            .versions
            .iter()
            .filter(|(id, _)| !is_labeled(id))
            .map(|(id, v)| (v.created_at, id.clone()))
            .collect();
        if unlabeled.len() > KEEP_UNLABELED_VERSIONS {
            unlabeled.sort();
            let drop = unlabeled.len() - KEEP_UNLABELED_VERSIONS;
            for (_, id) in unlabeled.into_iter().take(drop) {
                self.versions.remove(&id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[test]
    fn prune_keeps_labeled_and_newest_unlabeled_versions() {
        let t0 = Utc::now();
        let mut state = SecretState::create("s", "v0", &value("0"), t0).unwrap();
        let mut from = "v0".to_owned();
        for i in 1..10 {
            let id = format!("v{i}");
            let at = t0 + chrono::Duration::seconds(i);
            state
                .put_pending("s", &id, &value(&i.to_string()), at)
                .unwrap();
            state.promote("s", &id, &from, at).unwrap();
            from = id;
        }
        // v9 Current, v8 Previous, and the three newest unlabeled versions v5..v7.
        let ids: Vec<&str> = state.versions.keys().map(String::as_str).collect();
        assert_eq!(ids, ["v5", "v6", "v7", "v8", "v9"]);
        assert_eq!(state.holder(Stage::Current), Some("v9"));
        assert_eq!(state.holder(Stage::Previous), Some("v8"));
    }

    #[test]
    fn begin_rotation_refuses_an_existing_unlabeled_version_and_moves_a_lingering_pending() {
        let t0 = Utc::now();
        let mut state = SecretState::create("s", "a", &value("a"), t0).unwrap();
        state.put_pending("s", "b", &value("b"), t0).unwrap();
        state.promote("s", "b", "a", t0).unwrap();
        state.put_pending("s", "c", &value("c"), t0).unwrap();
        state.promote("s", "c", "b", t0).unwrap();
        // "a" has a value and no stage now.
        assert!(state.stages_of("a").is_empty() && state.versions.contains_key("a"));
        let err = state.begin_rotation("s", "a", t0).unwrap_err();
        assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
        // Pending left on the current version (as AWS leaves it for a while) does not block.
        state.stages.insert(Stage::Pending, "c".to_owned());
        assert!(state.begin_rotation("s", "d", t0).unwrap());
        assert_eq!(state.holder(Stage::Pending), Some("d"));
        assert_eq!(state.stages_of("c"), [Stage::Current]);
    }

    #[test]
    fn the_loser_of_a_race_gets_conflict_even_when_its_version_was_pruned() {
        let t0 = Utc::now();
        let mut state = SecretState::create("s", "a", &value("a"), t0).unwrap();
        state.put_pending("s", "b", &value("b"), t0).unwrap();
        state.promote("s", "b", "a", t0).unwrap();
        let err = state.promote("s", "gone", "a", t0).unwrap_err();
        assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
        let err = state.promote("s", "gone", "b", t0).unwrap_err();
        assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
    }

    #[test]
    fn clearing_a_valueless_pending_version_forgets_it() {
        let mut state = SecretState::create("s", "a", &value("a"), Utc::now()).unwrap();
        assert!(state.begin_rotation("s", "b", Utc::now()).unwrap());
        assert!(state.clear_pending("s", "b").unwrap());
        assert!(!state.versions.contains_key("b"));
    }
}
