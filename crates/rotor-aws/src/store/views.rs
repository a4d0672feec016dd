//! What this store last read of each secret, so that `promote` starts from the description the
//! engine just read instead of describing again.
//!
//! A remembered description is only ever the *starting point* of `promote`'s move:
//! `UpdateSecretVersionStage(AWSCURRENT, MoveToVersionId, RemoveFromVersionId=from)` is itself
//! the check (the service refuses it unless AWSCURRENT is on `from`), and when the move is
//! refused, or the description does not lead straight to it, the store decides again from a
//! fresh `DescribeSecret`, exactly as it would without the memory. A description is taken once
//! and not used after [`MAX_AGE`].
//!
//! The store also remembers the values it read or wrote, by version: a version's value never
//! changes once written, so "this version holds this value" stays true for as long as the
//! version exists (and a move to a version that no longer exists is refused by the service). The
//! engine's read cache uses them ([`SecretStore::remembered_value`]) only for the version a fresh
//! description names, with that description's stages, so a rotation's steps read each version's
//! value once per process.
//!
//! [`SecretStore::remembered_value`]: rotor_core::SecretStore::remembered_value

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rotor_core::store::{SecretDescription, SecretValue};

/// How long a remembered description may start a move (a step's reads and its promote follow
/// each other within milliseconds; anything older is read again).
const MAX_AGE: Duration = Duration::from_secs(30);

/// How many values are remembered per secret (a long-running daemon rotates the same secret for
/// months; only the versions of the last rotation or two matter).
const MAX_VALUES: usize = 8;

#[derive(Default)]
struct Entry {
    description: Option<(Instant, SecretDescription)>,
    /// Values of this secret's versions this store has read or written, by version id.
    values: HashMap<String, SecretValue>,
}

/// Per secret id, the last description and the versions known to hold a value.
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

    /// Remembers the description of `secret` just read.
    pub(super) fn remember_description(&self, secret: &str, description: &SecretDescription) {
        self.lock()
            .entry(secret.to_owned())
            .or_default()
            .description = Some((Instant::now(), description.clone()));
    }

    /// Remembers the value of a version of `secret` (at most [`MAX_VALUES`] per secret).
    pub(super) fn remember_value(&self, secret: &str, value: &SecretValue) {
        let mut map = self.lock();
        let values = &mut map.entry(secret.to_owned()).or_default().values;
        if values.len() >= MAX_VALUES && !values.contains_key(&value.version_id) {
            values.clear();
        }
        values.insert(value.version_id.clone(), value.clone());
    }

    /// The remembered value of `version` of `secret`.
    pub(super) fn value(&self, secret: &str, version: &str) -> Option<SecretValue> {
        self.lock()
            .get(secret)
            .and_then(|e| e.values.get(version).cloned())
    }

    /// Takes the remembered description of `secret`, if it is recent.
    pub(super) fn take_description(&self, secret: &str) -> Option<SecretDescription> {
        self.lock()
            .get_mut(secret)
            .and_then(|e| e.description.take())
            .filter(|(at, _)| at.elapsed() <= MAX_AGE)
            .map(|(_, d)| d)
    }

    /// Whether this store has read or written a value of `version` of `secret`.
    pub(super) fn has_value(&self, secret: &str, version: &str) -> bool {
        self.lock()
            .get(secret)
            .is_some_and(|e| e.values.contains_key(version))
    }

    /// Forgets the description of `secret` (after this store changed its stages).
    pub(super) fn forget_description(&self, secret: &str) {
        if let Some(e) = self.lock().get_mut(secret) {
            e.description = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn description(id: &str) -> SecretDescription {
        SecretDescription {
            secret_id: id.to_owned(),
            rotation_enabled: None,
            last_rotated: None,
            versions: Vec::new(),
        }
    }

    fn value(version: &str) -> SecretValue {
        SecretValue {
            version_id: version.to_owned(),
            stages: Vec::new(),
            value: secrecy::SecretString::from("{}".to_owned()),
            created_at: None,
        }
    }

    #[test]
    fn a_description_is_taken_once_and_values_are_remembered_per_secret() {
        let views = Views::default();
        assert!(views.take_description("s").is_none());
        views.remember_description("s", &description("s"));
        views.remember_value("s", &value("v1"));
        assert_eq!(views.take_description("s").unwrap().secret_id, "s");
        assert!(views.take_description("s").is_none(), "taken once");
        assert!(views.has_value("s", "v1"));
        assert!(!views.has_value("s", "v2"));
        assert!(!views.has_value("other", "v1"));
        views.remember_description("s", &description("s"));
        views.forget_description("s");
        assert!(views.take_description("s").is_none());
        assert!(
            views.has_value("s", "v1"),
            "values outlive a forgotten description"
        );
        assert_eq!(views.value("s", "v1").unwrap().version_id, "v1");
        for i in 0..MAX_VALUES {
            views.remember_value("s", &value(&format!("w{i}")));
        }
        assert!(
            views.value("s", "v1").is_none(),
            "at most {MAX_VALUES} per secret"
        );
    }
}
