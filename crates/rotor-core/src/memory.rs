//! [`MemoryStore`]: a complete, concurrency-safe, in-process [`SecretStore`].
//!
//! Not a mock: it implements the whole staged-version contract (it is the reference the
//! conformance suite is checked against first), and [`FileStore`](crate::file::FileStore) uses the
//! same state machine (`SecretState`, in `secret_state.rs`) for its read-modify-write cycles, so
//! both stores mean exactly the same thing by every method.
//!
//! Every method takes one mutex around the whole map and never awaits while holding it, so every
//! method is atomic. Clones share state: hand one store to several tasks.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use chrono::Utc;
use secrecy::SecretString;

use crate::secret_state::SecretState;
use crate::store::{
    LedgerEntry, SecretDescription, SecretStore, SecretValue, StoreError, VersionSelector,
};

/// A complete in-process [`SecretStore`]. Clones share state.
///
/// New secrets report `rotation_enabled: Some(true)`; [`MemoryStore::set_rotation_enabled`]
/// changes that (including to `None`, to behave like a backend that does not say).
#[derive(Clone, Default)]
pub struct MemoryStore {
    secrets: Arc<Mutex<HashMap<String, SecretState>>>,
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("secrets", &self.lock().len())
            .finish()
    }
}

fn missing(secret: &str) -> StoreError {
    StoreError::not_found(secret, "the secret")
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, SecretState>> {
        // No method panics while holding the lock and every transition validates before it
        // mutates, so the map is consistent even if a panic poisoned the mutex.
        self.secrets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets what [`SecretStore::describe`] reports as `rotation_enabled` for `secret`.
    /// `NotFound` if the secret does not exist.
    pub fn set_rotation_enabled(
        &self,
        secret: &str,
        enabled: Option<bool>,
    ) -> Result<(), StoreError> {
        let mut secrets = self.lock();
        let state = secrets.get_mut(secret).ok_or_else(|| missing(secret))?;
        state.rotation_enabled = enabled;
        Ok(())
    }

    /// The names of the secrets in the store, sorted.
    pub fn secret_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.lock().keys().cloned().collect();
        ids.sort();
        ids
    }

    fn modify<R>(
        &self,
        secret: &str,
        f: impl FnOnce(&mut SecretState) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let mut secrets = self.lock();
        let state = secrets.get_mut(secret).ok_or_else(|| missing(secret))?;
        f(state)
    }
}

#[async_trait]
impl SecretStore for MemoryStore {
    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn describe(&self, secret_id: &str) -> Result<SecretDescription, StoreError> {
        let secrets = self.lock();
        let state = secrets.get(secret_id).ok_or_else(|| missing(secret_id))?;
        Ok(state.describe(secret_id))
    }

    async fn get_value(
        &self,
        secret_id: &str,
        selector: &VersionSelector,
    ) -> Result<SecretValue, StoreError> {
        let secrets = self.lock();
        let state = secrets.get(secret_id).ok_or_else(|| missing(secret_id))?;
        state.get_value(secret_id, selector)
    }

    async fn create_secret(
        &self,
        secret_id: &str,
        token: &str,
        value: &SecretString,
    ) -> Result<(), StoreError> {
        if secret_id.is_empty() {
            return Err(StoreError::precondition(
                secret_id,
                "the secret name is empty",
            ));
        }
        let mut secrets = self.lock();
        if let Some(existing) = secrets.get(secret_id) {
            return existing.check_recreate(secret_id, token, value);
        }
        let state = SecretState::create(secret_id, token, value, Utc::now())?;
        secrets.insert(secret_id.to_owned(), state);
        Ok(())
    }

    async fn begin_rotation(&self, secret_id: &str, token: &str) -> Result<(), StoreError> {
        self.modify(secret_id, |s| {
            s.begin_rotation(secret_id, token, Utc::now())
        })
        .map(drop)
    }

    async fn put_pending(
        &self,
        secret_id: &str,
        token: &str,
        value: &SecretString,
    ) -> Result<(), StoreError> {
        self.modify(secret_id, |s| {
            s.put_pending(secret_id, token, value, Utc::now())
        })
        .map(drop)
    }

    async fn promote(&self, secret_id: &str, token: &str, from: &str) -> Result<(), StoreError> {
        self.modify(secret_id, |s| s.promote(secret_id, token, from, Utc::now()))
            .map(drop)
    }

    async fn clear_pending(&self, secret_id: &str, token: &str) -> Result<(), StoreError> {
        self.modify(secret_id, |s| s.clear_pending(secret_id, token))
            .map(drop)
    }

    async fn read_ledger(&self, secret_id: &str) -> Result<Option<LedgerEntry>, StoreError> {
        let secrets = self.lock();
        let state = secrets.get(secret_id).ok_or_else(|| missing(secret_id))?;
        Ok(state.read_ledger())
    }

    async fn write_ledger(
        &self,
        secret_id: &str,
        expected: Option<&str>,
        document: &str,
    ) -> Result<String, StoreError> {
        self.modify(secret_id, |s| s.write_ledger(secret_id, expected, document))
    }
}
