//! The [`SecretStore`] implementation of [`FileStore`]: each method one read, or one
//! read-modify-write under the lock, of [`SecretState`]'s shared semantics.

use async_trait::async_trait;
use chrono::Utc;
use secrecy::SecretString;

use super::disk::{Durability, ledger_write_durability};
use super::{FileStore, missing_secret};
use crate::secret_state::SecretState;
use crate::store::{
    LedgerEntry, SecretDescription, SecretStore, SecretValue, Snapshot, StoreError, VersionSelector,
};

#[async_trait]
impl SecretStore for FileStore {
    fn backend(&self) -> &'static str {
        "file"
    }

    async fn describe(&self, secret_id: &str) -> Result<SecretDescription, StoreError> {
        Ok(self.read_existing(secret_id).await?.describe(secret_id))
    }

    /// One read of the file holds every version's value: they all come back.
    async fn snapshot(&self, secret_id: &str) -> Result<Snapshot, StoreError> {
        Ok(self.read_existing(secret_id).await?.snapshot(secret_id))
    }

    fn snapshot_after_write(&self, secret_id: &str) -> Option<Snapshot> {
        self.after_write
            .lock()
            .ok()
            .and_then(|mut m| m.remove(secret_id))
    }

    async fn get_value(
        &self,
        secret_id: &str,
        selector: &VersionSelector,
    ) -> Result<SecretValue, StoreError> {
        self.read_existing(secret_id)
            .await?
            .get_value(secret_id, selector)
    }

    async fn create_secret(
        &self,
        secret_id: &str,
        token: &str,
        value: &SecretString,
    ) -> Result<(), StoreError> {
        let token = token.to_owned();
        let value = value.clone();
        self.modify(
            secret_id,
            Durability::Durable,
            move |name, state| match state {
                Some(existing) => existing
                    .check_recreate(name, &token, &value)
                    .map(|()| false),
                None => {
                    *state = Some(SecretState::create(name, &token, &value, Utc::now())?);
                    Ok(true)
                }
            },
        )
        .await
    }

    async fn begin_rotation(&self, secret_id: &str, token: &str) -> Result<(), StoreError> {
        let token = token.to_owned();
        let after = self
            .modify_returning(secret_id, move |name, state| {
                let state = state.as_mut().ok_or_else(|| missing_secret(name))?;
                let changed = state.begin_rotation(name, &token, Utc::now())?;
                Ok((changed, state.snapshot(name), Durability::Ordered))
            })
            .await?;
        self.remember_after_write(secret_id, after);
        Ok(())
    }

    async fn put_pending(
        &self,
        secret_id: &str,
        token: &str,
        value: &SecretString,
    ) -> Result<(), StoreError> {
        let token = token.to_owned();
        let value = value.clone();
        let after = self
            .modify_returning(secret_id, move |name, state| {
                let state = state.as_mut().ok_or_else(|| missing_secret(name))?;
                let changed = state.put_pending(name, &token, &value, Utc::now())?;
                Ok((changed, state.snapshot(name), Durability::Ordered))
            })
            .await?;
        self.remember_after_write(secret_id, after);
        Ok(())
    }

    async fn promote(&self, secret_id: &str, token: &str, from: &str) -> Result<(), StoreError> {
        let token = token.to_owned();
        let from = from.to_owned();
        self.modify(secret_id, Durability::Durable, move |name, state| {
            let state = state.as_mut().ok_or_else(|| missing_secret(name))?;
            state.promote(name, &token, &from, Utc::now())
        })
        .await
    }

    async fn clear_pending(&self, secret_id: &str, token: &str) -> Result<(), StoreError> {
        let token = token.to_owned();
        self.modify(secret_id, Durability::Durable, move |name, state| {
            let state = state.as_mut().ok_or_else(|| missing_secret(name))?;
            state.clear_pending(name, &token)
        })
        .await
    }

    async fn read_ledger(&self, secret_id: &str) -> Result<Option<LedgerEntry>, StoreError> {
        Ok(self.read_existing(secret_id).await?.read_ledger())
    }

    async fn write_ledger(
        &self,
        secret_id: &str,
        expected: Option<&str>,
        document: &str,
    ) -> Result<String, StoreError> {
        let expected = expected.map(str::to_owned);
        let document = document.to_owned();
        self.modify_returning(secret_id, move |name, state| {
            let state = state.as_mut().ok_or_else(|| missing_secret(name))?;
            let before = state.read_ledger();
            let durability =
                ledger_write_durability(before.as_ref().map(|e| e.document.as_str()), &document);
            let revision = state.write_ledger(name, expected.as_deref(), &document)?;
            Ok((true, revision, durability))
        })
        .await
    }
}

impl FileStore {
    fn remember_after_write(&self, secret_id: &str, after: Snapshot) {
        if let Ok(mut m) = self.after_write.lock() {
            m.insert(secret_id.to_owned(), after);
        }
    }
}
