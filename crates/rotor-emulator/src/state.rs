//! The emulator's state: accounts, keys, usage, and its JSON persistence.
//!
//! Keys are found by the SHA-256 of their plaintext; the plaintext itself is never stored (it is
//! returned once, by `POST /keys`, exactly like OpenRouter).

use std::{
    collections::HashMap,
    fs,
    io::Write,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

mod guardrails;
mod keys;
mod time;
mod workspaces;

use crate::key_material::{generate_key, key_digest, key_label, random_hex};
pub(crate) use guardrails::{StoredAssignment, StoredGuardrail};
pub(crate) use keys::StoredKey;
pub(crate) use time::{LimitReset, now, rfc3339};
pub(crate) use workspaces::StoredWorkspace;

/// One account: one management key (by its SHA-256) and one default workspace.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Account {
    pub id: String,
    pub workspace_id: String,
    pub creator_user_id: String,
    pub management_key_sha256: String,
    /// The management key's display label (`sk-or-v1-abc...wxyz`), not the key.
    pub management_key_label: String,
}

/// What a bearer token is.
pub(crate) enum Caller {
    Management { account: usize },
    Ordinary { index: usize },
}

/// Failure to load or save the state file.
#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
    #[error(
        "emulator state file {path}: could not read it: {source}; fix its permissions or remove it"
    )]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "emulator state file {path}: not valid emulator state JSON: {source}; remove it to start empty"
    )]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error(
        "emulator state file {path}: could not write it ({step}): {source}; check the directory is writable"
    )]
    Write {
        path: PathBuf,
        step: &'static str,
        source: std::io::Error,
    },
}

/// Everything the emulator knows (persisted when a state file is configured).
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct State {
    pub version: u32,
    pub accounts: Vec<Account>,
    /// In creation order (oldest first); deleted keys stay, flagged.
    pub keys: Vec<StoredKey>,
    /// Every account's workspaces (the default one included), in creation order.
    #[serde(default)]
    pub workspaces: Vec<StoredWorkspace>,
    /// Guardrails in creation order; deleted ones stay, flagged.
    #[serde(default)]
    pub guardrails: Vec<StoredGuardrail>,
    /// Guardrail ↔ key assignments.
    #[serde(default)]
    pub assignments: Vec<StoredAssignment>,
    #[serde(skip)]
    by_hash: HashMap<String, usize>,
    #[serde(skip)]
    by_secret: HashMap<String, usize>,
}

impl State {
    fn reindex(&mut self) {
        self.by_hash = self
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.hash.clone(), i))
            .collect();
        self.by_secret = self
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.key_sha256.clone(), i))
            .collect();
    }

    pub fn load(path: &Path) -> Result<Option<State>, StateFileError> {
        let bytes = match fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(StateFileError::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let mut state: State =
            serde_json::from_slice(&bytes).map_err(|source| StateFileError::Parse {
                path: path.to_owned(),
                source,
            })?;
        state.reindex();
        state.ensure_default_workspaces();
        Ok(Some(state))
    }

    /// Atomic write: a temp file in the same directory, fsync, rename, fsync of the directory.
    pub fn save(&self, path: &Path) -> Result<(), StateFileError> {
        let err = |step: &'static str| {
            move |source| StateFileError::Write {
                path: path.to_owned(),
                step,
                source,
            }
        };
        let json = serde_json::to_vec_pretty(self).map_err(|e| StateFileError::Write {
            path: path.to_owned(),
            step: "serialize",
            source: std::io::Error::other(e),
        })?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(".{file_name}.tmp-{}", random_hex(6)));
        let result = (|| {
            let mut f = fs::File::create(&tmp).map_err(err("create temp file"))?;
            f.write_all(&json).map_err(err("write temp file"))?;
            f.sync_all().map_err(err("fsync temp file"))?;
            fs::rename(&tmp, path).map_err(err("rename temp file"))?;
            if let Ok(d) = fs::File::open(&dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    pub fn add_account(&mut self, management_key: &str) -> &Account {
        let n = self.accounts.len() + 1;
        self.accounts.push(Account {
            id: format!("account-{n}-{}", random_hex(4)),
            workspace_id: uuid::Uuid::new_v4().to_string(),
            creator_user_id: format!("user_{}", random_hex(12)),
            management_key_sha256: key_digest(management_key),
            management_key_label: key_label(management_key),
        });
        self.ensure_default_workspaces();
        let last = self.accounts.len() - 1;
        &self.accounts[last]
    }

    /// Every account has a record of its default workspace (state files of earlier versions
    /// have none).
    pub fn ensure_default_workspaces(&mut self) {
        for a in &self.accounts {
            if !self.workspaces.iter().any(|w| w.id == a.workspace_id) {
                self.workspaces.push(StoredWorkspace {
                    id: a.workspace_id.clone(),
                    account: a.id.clone(),
                    name: "Default Workspace".into(),
                    slug: "default".into(),
                    description: None,
                    created_by: Some(a.creator_user_id.clone()),
                    default_guardrail_id: uuid::Uuid::new_v4().to_string(),
                    created_at: now(),
                    updated_at: None,
                    deleted: false,
                });
            }
        }
    }

    /// A live workspace of `account` by id or slug.
    pub fn workspace_of(&self, account: &str, id_or_slug: &str) -> Option<usize> {
        self.workspaces.iter().position(|w| {
            w.account == account && !w.deleted && (w.id == id_or_slug || w.slug == id_or_slug)
        })
    }

    /// A live guardrail of `account` by id.
    pub fn guardrail_of(&self, account: &str, id: &str) -> Option<usize> {
        self.guardrails
            .iter()
            .position(|g| g.account == account && !g.deleted && g.id == id)
    }

    /// The live guardrails assigned to the key at `index`.
    pub fn guardrails_of_key(&self, index: usize) -> Vec<usize> {
        let key = &self.keys[index];
        let mut out: Vec<usize> = self
            .assignments
            .iter()
            .filter(|a| a.key_hash == key.hash)
            .filter_map(|a| self.guardrail_of(&key.account, &a.guardrail_id))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Makes `management_key` the first account's key (creating that account if needed).
    pub fn set_first_management_key(&mut self, management_key: &str) {
        if let Some(first) = self.accounts.first_mut() {
            first.management_key_sha256 = key_digest(management_key);
            first.management_key_label = key_label(management_key);
        } else {
            self.add_account(management_key);
        }
    }

    pub fn identify(&self, bearer: &str) -> Option<Caller> {
        let digest = key_digest(bearer);
        if let Some(account) = self
            .accounts
            .iter()
            .position(|a| a.management_key_sha256 == digest)
        {
            return Some(Caller::Management { account });
        }
        self.by_secret
            .get(&digest)
            .map(|&index| Caller::Ordinary { index })
    }

    /// A live (not deleted) key of `account` by hash.
    pub fn key_of(&self, account: &str, hash: &str) -> Option<usize> {
        self.by_hash
            .get(hash)
            .copied()
            .filter(|&i| self.keys[i].account == account && !self.keys[i].deleted)
    }

    /// A live key of any account by hash (test controls).
    pub fn live_key(&self, hash: &str) -> Option<usize> {
        self.by_hash
            .get(hash)
            .copied()
            .filter(|&i| !self.keys[i].deleted)
    }

    /// Creates a key; returns its index and plaintext.
    pub fn insert_key(&mut self, mut key: StoredKey) -> (usize, String) {
        let plaintext = generate_key();
        key.hash = random_hex(32);
        key.key_sha256 = key_digest(&plaintext);
        key.label = key_label(&plaintext);
        let i = self.keys.len();
        self.by_hash.insert(key.hash.clone(), i);
        self.by_secret.insert(key.key_sha256.clone(), i);
        self.keys.push(key);
        (i, plaintext)
    }

    /// Forgets every key (accounts and their management keys stay).
    pub fn clear_keys(&mut self) {
        self.keys.clear();
        self.assignments.clear();
        self.guardrails.clear();
        let accounts: Vec<String> = self
            .accounts
            .iter()
            .map(|a| a.workspace_id.clone())
            .collect();
        self.workspaces.retain(|w| accounts.contains(&w.id));
        for w in &mut self.workspaces {
            w.deleted = false;
        }
        self.reindex();
    }
}

#[cfg(test)]
mod tests {
    use super::time::PeriodUsage;
    use super::*;

    #[test]
    fn save_is_atomic_and_load_restores_the_indexes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        assert!(State::load(&path).expect("missing file is fine").is_none());
        let mut state = State::default();
        let mk = generate_key();
        state.add_account(&mk);
        let account = state.accounts[0].id.clone();
        let key = StoredKey {
            hash: String::new(),
            key_sha256: String::new(),
            account: account.clone(),
            name: "k".into(),
            label: String::new(),
            disabled: false,
            deleted: false,
            limit: None,
            limit_reset: None,
            include_byok_in_limit: false,
            usage: 0.0,
            usage_daily: PeriodUsage::default(),
            usage_weekly: PeriodUsage::default(),
            usage_monthly: PeriodUsage::default(),
            created_at: now(),
            updated_at: None,
            expires_at: None,
            last_used_at: None,
            creator_user_id: None,
            workspace_id: state.accounts[0].workspace_id.clone(),
        };
        let (_, plaintext) = state.insert_key(key);
        state.save(&path).expect("save");
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(
            names,
            [std::ffi::OsString::from("state.json")],
            "no temp file left behind"
        );
        let text = fs::read_to_string(&path).expect("read");
        assert!(
            !text.contains(&plaintext[9..]) && !text.contains(&mk[9..]),
            "no plaintext key on disk"
        );
        let loaded = State::load(&path).expect("load").expect("present");
        assert!(matches!(
            loaded.identify(&plaintext),
            Some(Caller::Ordinary { index: 0 })
        ));
        assert!(matches!(
            loaded.identify(&mk),
            Some(Caller::Management { account: 0 })
        ));
        assert_eq!(loaded.key_of(&account, &loaded.keys[0].hash), Some(0));
    }

    #[test]
    fn a_corrupt_state_file_is_an_error_that_names_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        fs::write(&path, "{not json").expect("write");
        let e = State::load(&path).expect_err("corrupt");
        assert!(e.to_string().contains("state.json"), "{e}");
    }
}
