//! What a user checks, read the way they would: the document an application reads, the keys
//! alive at OpenRouter, the keys the store records. Keys are compared by hash only.

use std::collections::{BTreeMap, BTreeSet};

use rotor_core::{KeyRecord, SecretStore, Stage, VersionSelector};
use rotor_emulator::control::ControlClient;
use rotor_openrouter::ApiKey;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::Env;

/// What an application reads: the current document (panics if there is none).
pub async fn app_reads(store: &dyn SecretStore, secret: &str) -> KeyRecord {
    let v = store
        .get_value(secret, &VersionSelector::Stage(Stage::Current))
        .await
        .expect("current value");
    KeyRecord::parse(&v.value, secret).expect("current document parses")
}

/// The document in `stage`, if there is one that parses.
pub async fn read(store: &dyn SecretStore, secret: &str, stage: Stage) -> Option<KeyRecord> {
    let v = store
        .get_value(secret, &VersionSelector::Stage(stage))
        .await
        .ok()?;
    KeyRecord::parse(&v.value, secret).ok()
}

/// Hashes of every key recorded by the Current and Pending documents.
pub async fn recorded(store: &dyn SecretStore, secret: &str) -> BTreeSet<String> {
    let desc = store.describe(secret).await.expect("describe");
    let mut out = BTreeSet::new();
    for v in desc
        .versions
        .iter()
        .filter(|v| v.has(Stage::Current) || v.has(Stage::Pending))
    {
        let sel = VersionSelector::Version {
            id: v.id.clone(),
            stage: None,
        };
        if let Ok(value) = store.get_value(secret, &sel).await {
            if let Ok(rec) = KeyRecord::parse(&value.value, secret) {
                out.extend(rec.referenced_hashes().map(str::to_owned));
            }
        }
    }
    out
}

/// Every rotor key alive at the emulator is recorded by the Current or Pending document.
pub async fn assert_all_live_keys_recorded(
    env: &Env,
    store: &dyn SecretStore,
    secret: &str,
    when: &str,
) {
    let live = env.live_rotor_keys().await;
    let rec = recorded(store, secret).await;
    let unrecorded: Vec<_> = live.difference(&rec).collect();
    assert!(
        unrecorded.is_empty(),
        "{when}: live rotor keys recorded nowhere in the store: {unrecorded:?}"
    );
}

/// SHA-256 of a stored value, to compare values without showing them.
pub fn value_hash(v: &SecretString) -> String {
    hex::encode(Sha256::digest(v.expose_secret().as_bytes()))
}

/// Store versions (id, stages, hash of the value), emulator keys (hash, name, disabled,
/// deleted) and mutation counters: equal before and after means nothing changed.
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    pub store: Vec<(String, Vec<Stage>, Option<String>)>,
    pub keys: Vec<(String, String, bool, bool)>,
    pub mutations: [u64; 3],
}

/// Calls of `route` (a route template such as `POST /api/v1/keys`) the emulator has seen.
pub async fn counter(control: &ControlClient, route: &str) -> u64 {
    control
        .counters()
        .await
        .expect("counters")
        .get(route)
        .copied()
        .unwrap_or(0)
}

/// `POST /keys`, `PATCH /keys/{hash}` and `DELETE /keys/{hash}` calls the emulator has seen.
pub async fn mutations(control: &ControlClient) -> [u64; 3] {
    let c: BTreeMap<String, u64> = control.counters().await.expect("counters");
    let get = |k: &str| c.get(k).copied().unwrap_or(0);
    [
        get("POST /api/v1/keys"),
        get("PATCH /api/v1/keys/{hash}"),
        get("DELETE /api/v1/keys/{hash}"),
    ]
}

pub async fn snapshot(env: &Env, store: &dyn SecretStore, secret: &str) -> Snapshot {
    let mut versions = Vec::new();
    if let Ok(desc) = store.describe(secret).await {
        for v in desc.versions {
            let sel = VersionSelector::Version {
                id: v.id.clone(),
                stage: None,
            };
            let value = store
                .get_value(secret, &sel)
                .await
                .ok()
                .map(|x| value_hash(&x.value));
            versions.push((v.id, v.stages, value));
        }
    }
    versions.sort();
    let mut keys: Vec<_> = env
        .control
        .keys()
        .await
        .expect("keys")
        .into_iter()
        .map(|k| (k.hash, k.name, k.disabled, k.deleted))
        .collect();
    keys.sort();
    Snapshot {
        store: versions,
        keys,
        mutations: mutations(&env.control).await,
    }
}

/// The middle of a key, which no redacted form ever shows.
pub fn secret_part(key: &ApiKey) -> String {
    key.expose()[12..69].to_owned()
}

/// `text` (a log, a report, an error) contains no part of any of `keys`.
pub fn assert_no_key_material(text: &str, keys: &[ApiKey], what: &str) {
    for k in keys {
        assert!(
            !text.contains(&secret_part(k)),
            "{what} contains key material (key {}, {} bytes of output)",
            k.redacted(),
            text.len()
        );
    }
}

/// Asserts two snapshots of a secret are the same: the description, and every value (compared
/// by version, stages and a hash of the value, so a failure prints no key material).
pub fn assert_same_snapshot(a: &rotor_core::Snapshot, b: &rotor_core::Snapshot, what: &str) {
    assert_eq!(a.description, b.description, "{what}: descriptions differ");
    let values = |s: &rotor_core::Snapshot| {
        let mut v: Vec<(String, Vec<Stage>, String)> = s
            .values
            .as_ref()
            .unwrap_or_else(|| panic!("{what}: the snapshot holds no values"))
            .iter()
            .map(|v| (v.version_id.clone(), v.stages.clone(), value_hash(&v.value)))
            .collect();
        v.sort();
        v
    };
    assert_eq!(values(a), values(b), "{what}: values differ (sha256 shown)");
}
