//! The last view of each secret this store read in full or wrote, so that its check-and-set
//! writes start from what the engine just read instead of reading again.
//!
//! A remembered view is only ever the *starting point* of a check-and-set write: the write's
//! `cas` proves nothing wrote that path since the view was read, and when it does not match (or
//! the view leads anywhere but a write) the store decides again from a fresh read, exactly as it
//! would without the memory. Taken views are removed; a view older than [`MAX_AGE`] is not used.
//! After its own successful write the store remembers the view plus that write, which is also
//! what [`SecretStore::snapshot_after_write`](rotor_core::SecretStore::snapshot_after_write)
//! hands to the engine's read cache.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::kv::View;

/// How long a remembered view may start a write (a rotation's steps follow each other within
/// milliseconds; anything older is read again).
const MAX_AGE: Duration = Duration::from_secs(30);

struct Entry {
    at: Instant,
    view: View,
    /// Produced by this store's own write (what `snapshot_after_write` may hand out).
    written: bool,
}

/// Per secret id, the last view (see the module docs).
#[derive(Default)]
pub(super) struct Views {
    map: Mutex<HashMap<String, Entry>>,
}

impl Views {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.map.lock().unwrap_or_else(|e| {
            let mut map = e.into_inner();
            map.clear();
            map
        })
    }

    /// Remembers `view` of `secret` (read in full, or `written` by this store just now).
    pub(super) fn remember(&self, secret: &str, view: View, written: bool) {
        self.lock().insert(
            secret.to_owned(),
            Entry {
                at: Instant::now(),
                view,
                written,
            },
        );
    }

    /// Takes the remembered view of `secret` to start a write from, if it is recent.
    pub(super) fn take(&self, secret: &str) -> Option<View> {
        self.lock()
            .remove(secret)
            .filter(|e| e.at.elapsed() <= MAX_AGE)
            .map(|e| e.view)
    }

    /// The view this store's own last write left, once (see the module docs).
    pub(super) fn after_write(&self, secret: &str) -> Option<View> {
        let mut map = self.lock();
        let entry = map
            .get_mut(secret)
            .filter(|e| e.written && e.at.elapsed() <= MAX_AGE)?;
        entry.written = false;
        Some(entry.view.clone())
    }

    pub(super) fn forget(&self, secret: &str) {
        self.lock().remove(secret);
    }
}
