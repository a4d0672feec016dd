//! [`KeyRecord`]: the JSON document stored as the value of every version of a secret.
//!
//! ```json
//! {
//!   "api_key": "sk-or-v1-…",
//!   "key_hash": "<OpenRouter key hash>",
//!   "key_name": "prod-app rotated 2026-11-28 [rotor:3fa9c2d1e07b]",
//!   "created_at": "2026-11-28T06:58:44Z",
//!   "expires_at": null,
//!   "rotation": { "grace_period": "2h" },
//!   "older_keys": [
//!     { "key_hash": "…", "key_name": "…", "created_at": "…", "superseded_at": "…" }
//!   ],
//!   "team_setting": "kept as is"
//! }
//! ```
//!
//! * Applications read `api_key` (and may ignore everything else).
//! * `rotation` holds optional per-secret policy overrides ([`PolicyOverrides`]).
//! * `older_keys` lists every older rotor key of this secret that is still alive, with the time it
//!   stopped being current. It is carried forward from version to version until the key is deleted,
//!   so retirement never depends on the store keeping old versions.
//! * Any other top-level field is preserved unchanged from the current version into the next one.
//!
//! Parsing never echoes the document: errors name the field (or the line and column of a JSON
//! syntax error) and what was expected, never the value.

use std::fmt;

use chrono::{DateTime, Utc};
use rotor_openrouter::ApiKey;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::policy::PolicyOverrides;

/// The document stored as each version's value. `Debug` redacts the key and shows only the names
/// of unknown fields.
#[derive(Clone, PartialEq, Serialize)]
pub struct KeyRecord {
    /// The OpenRouter key applications use. Serialized as plaintext, only ever into a store value.
    pub api_key: ApiKey,
    /// OpenRouter's hash of `api_key` (its identifier in the Management API).
    pub key_hash: String,
    /// The key's name at OpenRouter (carries rotor's tag, see [`crate::policy::rotor_tag`]).
    pub key_name: String,
    /// When OpenRouter created the key.
    pub created_at: DateTime<Utc>,
    /// When the key expires at OpenRouter (`null`: never).
    pub expires_at: Option<DateTime<Utc>>,
    /// Per-secret policy overrides, carried from version to version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation: Option<PolicyOverrides>,
    /// Every older rotor key of this secret that is still alive (not yet retired).
    pub older_keys: Vec<OlderKey>,
    /// Fields rotor does not know, preserved from the current version into the next.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An older key of a secret that is still alive at OpenRouter (no key material: the plaintext is
/// not kept once a key stops being current).
///
/// The retirement fields are optional in the JSON and left out while empty, so documents
/// written before them parse unchanged and documents without retirement state look as before.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct OlderKey {
    pub key_hash: String,
    pub key_name: String,
    pub created_at: DateTime<Utc>,
    /// When the key stopped being current (its grace period runs from here).
    pub superseded_at: DateTime<Utc>,
    /// When its grace period started, once rotor has fixed it (written with the first retirement
    /// state, because the store's `last_rotated` moves with every later write). `None`: the later
    /// of `superseded_at` and the store's `last_rotated` for the key superseded last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_started_at: Option<DateTime<Utc>>,
    /// Usage samples (time, cumulative USD usage at OpenRouter) taken after the grace period,
    /// oldest first, at most [`MAX_USAGE_SAMPLES`]. The key has drained when the usage has not
    /// grown over samples spanning the policy's `observation_window`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub usage_samples: Vec<UsageSample>,
    /// When rotor disabled the key (`disable_first`); it is deleted `disable_delay` later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<DateTime<Utc>>,
    /// Why the key stopped being current, when it was not an ordinary rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retire_reason: Option<RetireReason>,
}

/// How many usage samples an [`OlderKey`] keeps (the oldest are dropped first).
pub const MAX_USAGE_SAMPLES: usize = 8;

impl OlderKey {
    /// An older key with no retirement state yet.
    pub fn new(
        key_hash: impl Into<String>,
        key_name: impl Into<String>,
        created_at: DateTime<Utc>,
        superseded_at: DateTime<Utc>,
    ) -> Self {
        OlderKey {
            key_hash: key_hash.into(),
            key_name: key_name.into(),
            created_at,
            superseded_at,
            grace_started_at: None,
            usage_samples: Vec::new(),
            disabled_at: None,
            retire_reason: None,
        }
    }
}

/// One observation of a key's cumulative usage at OpenRouter.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct UsageSample {
    pub at: DateTime<Utc>,
    /// OpenRouter's `usage` (USD, cumulative) at `at`.
    pub usage: f64,
}

/// Why an older key stopped being current, when it was not an ordinary rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetireReason {
    /// `rotor rollback` made the previous key current again; this key had failed.
    RolledBack,
    /// An operator re-enabled the key (`rotor retire --reenable`); its retirement restarted.
    Reenabled,
}

pub use crate::record_error::RecordError;

const API_KEY_EXPECTED: &str =
    "the OpenRouter key as a string, \"sk-or-v1-\" followed by 64 hex digits";

impl KeyRecord {
    /// Parses a stored value. `secret_id` only labels errors.
    pub fn parse(value: &SecretString, secret_id: &str) -> Result<KeyRecord, RecordError> {
        let parsed: Value = serde_json::from_str(value.expose_secret()).map_err(|e| {
            let problem = match e.classify() {
                serde_json::error::Category::Eof => "unexpected end of input",
                serde_json::error::Category::Syntax => "syntax error",
                serde_json::error::Category::Data => "invalid data",
                serde_json::error::Category::Io => "read error",
            };
            RecordError::Syntax {
                secret: secret_id.to_owned(),
                problem,
                line: e.line(),
                column: e.column(),
            }
        })?;
        let mut obj = match parsed {
            Value::Object(obj) => obj,
            other => {
                return Err(RecordError::NotAnObject {
                    secret: secret_id.to_owned(),
                    found: json_kind(&other),
                });
            }
        };

        let api_key = match obj.remove("api_key") {
            None => {
                return Err(RecordError::MissingField {
                    secret: secret_id.to_owned(),
                    field: "api_key",
                    expected: API_KEY_EXPECTED,
                });
            }
            Some(Value::String(s)) => {
                let key = ApiKey::new(s);
                if !key.is_well_formed() {
                    return Err(RecordError::invalid(secret_id, "api_key", API_KEY_EXPECTED));
                }
                key
            }
            Some(_) => return Err(RecordError::invalid(secret_id, "api_key", API_KEY_EXPECTED)),
        };
        let key_hash: String = required(
            &mut obj,
            secret_id,
            "key_hash",
            "OpenRouter's key hash as a string",
        )?;
        if key_hash.is_empty() {
            return Err(RecordError::invalid(
                secret_id,
                "key_hash",
                "a non-empty string",
            ));
        }
        let key_name: String = required(
            &mut obj,
            secret_id,
            "key_name",
            "the key's name as a string",
        )?;
        let created_at: DateTime<Utc> = required(
            &mut obj,
            secret_id,
            "created_at",
            "an RFC 3339 timestamp such as 2026-11-28T06:58:44Z",
        )?;
        let expires_at: Option<DateTime<Utc>> = optional(
            &mut obj,
            secret_id,
            "expires_at",
            "null or an RFC 3339 timestamp",
        )?
        .flatten();
        let rotation = match obj.remove("rotation") {
            None | Some(Value::Null) => None,
            Some(v) => Some(PolicyOverrides::from_json(v, secret_id)?),
        };
        let older_keys: Vec<OlderKey> = optional(
            &mut obj,
            secret_id,
            "older_keys",
            "a list of objects with key_hash, key_name, created_at and superseded_at (and optional \
             grace_started_at, usage_samples, disabled_at, retire_reason)",
        )?
        .unwrap_or_default();

        Ok(KeyRecord {
            api_key,
            key_hash,
            key_name,
            created_at,
            expires_at,
            rotation,
            older_keys,
            extra: obj,
        })
    }

    /// The document as JSON text, ready for a store write.
    pub fn to_secret_string(&self) -> SecretString {
        // Serializing this struct cannot fail: every field is a string, number, timestamp, map of
        // JSON values or a derived struct of those (no non-string map keys).
        // Canonical JSON (object keys sorted, compact) through `Value`: a store that keeps JSON
        // as fields (Vault KV) can then hold the document without a verbatim copy of it.
        let text = serde_json::to_value(self)
            .and_then(|v| serde_json::to_string(&v))
            .unwrap_or_default();
        SecretString::from(text)
    }

    /// Hashes of every key this document references: its own key and the older ones.
    pub fn referenced_hashes(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.key_hash.as_str())
            .chain(self.older_keys.iter().map(|k| k.key_hash.as_str()))
    }
}

impl fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRecord")
            .field("api_key", &self.api_key)
            .field("key_hash", &self.key_hash)
            .field("key_name", &self.key_name)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("rotation", &self.rotation)
            .field("older_keys", &self.older_keys)
            .field("extra_fields", &self.extra.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Removes `field` from `obj` and deserializes it; a type error names the field, never the value.
pub(crate) fn optional<T: DeserializeOwned>(
    obj: &mut Map<String, Value>,
    secret_id: &str,
    field: &str,
    expected: &str,
) -> Result<Option<T>, RecordError> {
    match obj.remove(field) {
        None => Ok(None),
        Some(v) => serde_json::from_value(v)
            .map(Some)
            .map_err(|_| RecordError::invalid(secret_id, field, expected)),
    }
}

fn required<T: DeserializeOwned>(
    obj: &mut Map<String, Value>,
    secret_id: &str,
    field: &'static str,
    expected: &'static str,
) -> Result<T, RecordError> {
    optional(obj, secret_id, field, expected)?.ok_or_else(|| RecordError::MissingField {
        secret: secret_id.to_owned(),
        field,
        expected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "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";
    const SECRET_PART: &str = "f44a47a05f1dad2ad7e88c4c1d6b77688157716fb1a5271146f7464951";

    fn doc(extra: &str) -> SecretString {
        SecretString::from(format!(
            r#"{{"api_key":"{KEY}","key_hash":"h1","key_name":"n [rotor:0011aabb]",
               "created_at":"2026-11-28T06:58:44Z","expires_at":null{extra}}}"#
        ))
    }

    #[test]
    fn round_trip_preserves_unknown_fields() {
        let rec = KeyRecord::parse(&doc(r#","team":{"x":1},"note":"keep""#), "s").unwrap();
        assert_eq!(rec.api_key.expose(), KEY);
        assert_eq!(rec.extra.len(), 2);
        assert!(rec.older_keys.is_empty());
        let again = KeyRecord::parse(&rec.to_secret_string(), "s").unwrap();
        assert_eq!(again, rec);
        let v: Value = serde_json::from_str(rec.to_secret_string().expose_secret()).unwrap();
        assert_eq!(v["note"], "keep");
        assert_eq!(v["api_key"], KEY);
        assert!(v["expires_at"].is_null());
    }

    #[test]
    fn debug_redacts() {
        let rec = KeyRecord::parse(&doc(r#","other_secret":"hunter2""#), "s").unwrap();
        let dbg = format!("{rec:?}");
        assert!(!dbg.contains(SECRET_PART), "{dbg}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(dbg.contains("other_secret"));
    }

    #[test]
    fn errors_name_the_field_and_never_echo_values() {
        let cases = [
            (format!(r#"{{"api_key":"{KEY}", oops}}"#), "line 1"),
            (format!(r#"["{KEY}"]"#), "not an object"),
            (r#"{"key_hash":"h","key_name":"n","created_at":"2026-11-28T06:58:44Z"}"#.to_owned(), "\"api_key\""),
            (
                r#"{"api_key":42,"key_hash":"h","key_name":"n","created_at":"2026-11-28T06:58:44Z"}"#.to_owned(),
                "\"api_key\"",
            ),
            (format!(r#"{{"api_key":"{KEY}","key_hash":"h","key_name":"n"}}"#), "\"created_at\""),
            (
                format!(r#"{{"api_key":"{KEY}","key_hash":"h","key_name":"n","created_at":"{KEY}"}}"#),
                "\"created_at\"",
            ),
            (
                format!(
                    r#"{{"api_key":"{KEY}","key_hash":"h","key_name":"n","created_at":"2026-11-28T06:58:44Z","older_keys":"{KEY}"}}"#
                ),
                "\"older_keys\"",
            ),
            (
                format!(
                    r#"{{"api_key":"{KEY}","key_hash":"h","key_name":"n","created_at":"2026-11-28T06:58:44Z","rotation":{{"grace_period":"{KEY}"}}}}"#
                ),
                "grace_period",
            ),
        ];
        for (text, needle) in cases {
            let err = KeyRecord::parse(&SecretString::from(text), "prod/app").unwrap_err();
            let msg = format!("{err} {err:?}");
            assert!(msg.contains(needle), "{msg} should mention {needle}");
            assert!(msg.contains("prod/app"), "{msg}");
            assert!(!msg.contains(SECRET_PART), "{msg} leaks the key");
        }
    }

    #[test]
    fn malformed_api_key_rejected() {
        let text = r#"{"api_key":"not-a-key","key_hash":"h","key_name":"n","created_at":"2026-11-28T06:58:44Z"}"#;
        let err = KeyRecord::parse(&SecretString::from(text), "s").unwrap_err();
        assert!(matches!(err, RecordError::InvalidField { ref field, .. } if field == "api_key"));
        assert!(!err.to_string().contains("not-a-key"));
    }
}
