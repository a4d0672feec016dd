//! The on-disk document of a [`FileStore`](super::FileStore) secret (see `docs/file-store.md`):
//! stages, versions and the ledger, to and from [`SecretState`].

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::FILE_FORMAT;
use crate::secret_state::{SecretState, VersionState};
use crate::store::{Stage, StoreError};

/// The on-disk document (see `docs/file-store.md`). Holds plaintext values: no `Debug`.
#[derive(Serialize, Deserialize)]
struct SecretFile {
    format: String,
    secret: String,
    #[serde(default)]
    rotation_enabled: Option<bool>,
    #[serde(default)]
    last_rotated: Option<DateTime<Utc>>,
    /// Stage label (`AWSCURRENT`…) → version id.
    stages: BTreeMap<String, String>,
    /// Version id → version.
    versions: BTreeMap<String, VersionFile>,
    /// The rotation ledger (lease and intents; no key material), replaced only by check-and-set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ledger: Option<LedgerFile>,
}

#[derive(Serialize, Deserialize)]
struct LedgerFile {
    revision: u64,
    /// The engine's ledger document, as JSON text.
    document: String,
}

#[derive(Serialize, Deserialize)]
struct VersionFile {
    /// The stored document, exactly as written (a JSON string holding JSON text), or `null`
    /// for a pending version whose value createSecret has not stored yet.
    value: Option<String>,
    created_at: DateTime<Utc>,
}

fn corrupt(secret: &str, path: &Path, what: impl std::fmt::Display) -> StoreError {
    StoreError::Backend {
        secret: secret.to_owned(),
        message: format!(
            "file {} is not a valid {FILE_FORMAT} document: {what}; restore it from a backup \
             or fix it by hand (see docs/file-store.md)",
            path.display()
        ),
    }
}

pub(super) fn parse(secret: &str, path: &Path, text: &str) -> Result<SecretState, StoreError> {
    // serde_json's messages can quote a string from the document (`invalid type: string "…"`),
    // which could be a key: report only the error's category and position.
    let doc: SecretFile = serde_json::from_str(text).map_err(|e| {
        corrupt(
            secret,
            path,
            format!(
                "{:?} error at line {} column {}",
                e.classify(),
                e.line(),
                e.column()
            ),
        )
    })?;
    if doc.format != FILE_FORMAT {
        return Err(corrupt(
            secret,
            path,
            format!("unsupported format {:?}", doc.format),
        ));
    }
    if doc.secret != secret {
        return Err(corrupt(
            secret,
            path,
            format!(
                "the file names secret {:?}, not {secret:?} (was it copied or renamed?)",
                doc.secret
            ),
        ));
    }
    let mut stages = BTreeMap::new();
    for (label, id) in doc.stages {
        let stage = Stage::from_aws_label(&label)
            .ok_or_else(|| corrupt(secret, path, format!("unknown stage label {label:?}")))?;
        if !doc.versions.contains_key(&id) {
            return Err(corrupt(
                secret,
                path,
                format!("{label} names unknown version {id:?}"),
            ));
        }
        stages.insert(stage, id);
    }
    let versions = doc
        .versions
        .into_iter()
        .map(|(id, v)| {
            (
                id,
                VersionState {
                    value: v.value.map(SecretString::from),
                    created_at: v.created_at,
                },
            )
        })
        .collect();
    Ok(SecretState {
        rotation_enabled: doc.rotation_enabled,
        last_rotated: doc.last_rotated,
        versions,
        stages,
        ledger: doc.ledger.map(|l| (l.revision, l.document)),
    })
}

pub(super) fn serialize(secret: &str, state: &SecretState) -> Result<Vec<u8>, StoreError> {
    let doc = SecretFile {
        format: FILE_FORMAT.to_owned(),
        secret: secret.to_owned(),
        rotation_enabled: state.rotation_enabled,
        last_rotated: state.last_rotated,
        stages: state
            .stages
            .iter()
            .map(|(s, id)| (s.aws_label().to_owned(), id.clone()))
            .collect(),
        versions: state
            .versions
            .iter()
            .map(|(id, v)| {
                (
                    id.clone(),
                    VersionFile {
                        value: v.value.as_ref().map(|s| s.expose_secret().to_owned()),
                        created_at: v.created_at,
                    },
                )
            })
            .collect(),
        ledger: state
            .ledger
            .as_ref()
            .map(|(revision, document)| LedgerFile {
                revision: *revision,
                document: document.clone(),
            }),
    };
    let mut bytes = serde_json::to_vec_pretty(&doc).map_err(|e| StoreError::Backend {
        secret: secret.to_owned(),
        message: format!("cannot serialize the secret file: {e}"),
    })?;
    bytes.push(b'\n');
    Ok(bytes)
}
