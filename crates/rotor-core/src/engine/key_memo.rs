//! What one rotation already read of a key at OpenRouter (`GET /keys/{hash}`), so a rotation
//! run in one process looks each key up once: the current key at the start (not again at
//! createSecret and setSecret), the new key at setSecret (not again at testSecret, unless
//! setSecret changed it).
//!
//! The memo lives for one operation (a task-local scope opened by `rotate`, `resume` and
//! `step`); outside a scope every lookup goes to OpenRouter. Every change rotor makes to a key
//! (`PATCH`, `DELETE`) forgets it first, so a memoized key is only ever what OpenRouter
//! answered since rotor last changed it. What the memo never replaces: testSecret's
//! `GET /key` with the new key itself, the proof that the key works, is made every time.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use rotor_openrouter::Key;

use super::*;

#[derive(Default)]
pub(super) struct KeyMemo(Mutex<HashMap<String, Key>>);

tokio::task_local! {
    static KEYS: KeyMemo;
}

/// Runs `f` with a key memo, unless it already runs inside one.
pub(super) async fn with_key_memo<F: Future>(f: F) -> F::Output {
    if KEYS.try_with(|_| ()).is_ok() {
        f.await
    } else {
        KEYS.scope(KeyMemo::default(), f).await
    }
}

fn lock(memo: &KeyMemo) -> std::sync::MutexGuard<'_, HashMap<String, Key>> {
    memo.0.lock().unwrap_or_else(|e| {
        let mut guard = e.into_inner();
        guard.clear();
        guard
    })
}

impl Engine {
    /// `GET /keys/{hash}`, answered from this operation's memo when it already read the key.
    pub(super) async fn get_key_once(&self, hash: &str) -> Result<Key, rotor_openrouter::Error> {
        if let Ok(Some(key)) = KEYS.try_with(|m| lock(m).get(hash).cloned()) {
            return Ok(key);
        }
        let key = self.client.get_key(hash).await?;
        let _ = KEYS.try_with(|m| lock(m).insert(hash.to_owned(), key.clone()));
        Ok(key)
    }

    /// Forgets what this operation read of `hash` (call before changing the key).
    pub(super) fn forget_key(&self, hash: &str) {
        let _ = KEYS.try_with(|m| lock(m).remove(hash));
    }
}
