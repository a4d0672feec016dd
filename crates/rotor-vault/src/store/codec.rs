//! A stored value as KV data and back: the document's own fields plus the exact text when its
//! canonical rendering differs, rotor's version and state fields, and JSON comparison that
//! tolerates Vault re-rendering numbers.

use chrono::{DateTime, Utc};
use rotor_core::{SecretValue, Stage, StoreError};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use vaultrs::api::kv2::responses::SecretVersionMetadata;

use super::{DOCUMENT_FIELD, STATE_BEGUN, STATE_FIELD, VERSION_FIELD};

/// One KV version as rotor sees it. No `Debug`: it holds the value.
#[derive(Clone)]
pub(super) struct Slot {
    pub(super) kv_version: u64,
    pub(super) id: String,
    pub(super) created_at: Option<DateTime<Utc>>,
    /// The stored value, exactly as written; `None` for a `begun` marker.
    pub(super) doc: Option<SecretString>,
}

impl Slot {
    /// Whether the slot holds `value`: the same text, or (for documents kept as fields, whose
    /// numbers Vault may re-render, `25.0` as `25`) the same JSON object.
    pub(super) fn holds(&self, value: &SecretString) -> bool {
        self.doc.as_ref().is_some_and(|d| {
            let (a, b) = (d.expose_secret(), value.expose_secret());
            a == b
                || matches!(
                    (serde_json::from_str::<Value>(a), serde_json::from_str::<Value>(b)),
                    (Ok(x @ Value::Object(_)), Ok(y @ Value::Object(_))) if same_json(&x, &y)
                )
        })
    }
}

pub(super) fn slot(
    secret: &str,
    data: Value,
    meta: &SecretVersionMetadata,
) -> Result<Slot, StoreError> {
    let Value::Object(mut map) = data else {
        return Err(StoreError::Backend {
            secret: secret.to_owned(),
            message: "KV data is not an object".into(),
        });
    };
    let id = match map.remove(VERSION_FIELD) {
        Some(Value::String(id)) if !id.is_empty() => id,
        _ => format!("kv-v{}", meta.version),
    };
    let state = map.remove(STATE_FIELD);
    let doc = match state.as_ref().and_then(Value::as_str) {
        Some(STATE_BEGUN) => None,
        _ => Some(decode(secret, map)?),
    };
    Ok(Slot {
        kv_version: meta.version,
        id,
        created_at: DateTime::parse_from_rfc3339(&meta.created_time)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        doc,
    })
}

/// The KV data map for a value: a JSON object's own fields (what applications read), plus the
/// exact text in [`DOCUMENT_FIELD`] when the canonical rendering would differ from it. A value
/// that is not a JSON object is kept only in [`DOCUMENT_FIELD`]. Errors never echo the value.
pub(super) fn encode(secret: &str, value: &SecretString) -> Result<Map<String, Value>, StoreError> {
    let text = value.expose_secret();
    let mut data = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    for reserved in [VERSION_FIELD, STATE_FIELD, DOCUMENT_FIELD] {
        if data.contains_key(reserved) {
            return Err(StoreError::precondition(
                secret,
                format!("the document uses the field {reserved:?}, which the Vault store reserves"),
            ));
        }
    }
    if data.is_empty() || render(secret, &data)?.expose_secret() != text {
        data.insert(DOCUMENT_FIELD.to_owned(), Value::String(text.to_owned()));
    }
    Ok(data)
}

/// The value of a KV data map (rotor's version/state fields already removed): the exact text
/// when it is recorded and still agrees with the fields, else the fields' canonical rendering.
fn decode(secret: &str, mut data: Map<String, Value>) -> Result<SecretString, StoreError> {
    match data.remove(DOCUMENT_FIELD) {
        Some(Value::String(text)) => {
            let agrees = data.is_empty()
                || matches!(serde_json::from_str::<Value>(&text), Ok(Value::Object(m)) if same_json_map(&m, &data));
            if agrees {
                return Ok(SecretString::from(text));
            }
            tracing::warn!(
                secret,
                "the KV fields were edited outside rotor (they no longer match {DOCUMENT_FIELD}); using the fields"
            );
            render(secret, &data)
        }
        _ => render(secret, &data),
    }
}

/// JSON equality where numbers compare by value (Vault returns `1000.0` as `1000`).
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y || matches!((x.as_f64(), y.as_f64()), (Some(p), Some(q)) if p == q)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_json(p, q))
        }
        (Value::Object(x), Value::Object(y)) => same_json_map(x, y),
        _ => a == b,
    }
}

fn same_json_map(a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    a.len() == b.len()
        && a.iter()
            .all(|(k, v)| b.get(k).is_some_and(|w| same_json(v, w)))
}

pub(super) fn with_field(doc: &Map<String, Value>, field: &str, value: &str) -> Map<String, Value> {
    let mut data = doc.clone();
    data.insert(field.to_owned(), Value::String(value.to_owned()));
    data
}

fn render(secret: &str, doc: &Map<String, Value>) -> Result<SecretString, StoreError> {
    serde_json::to_string(doc)
        .map(SecretString::from)
        .map_err(|_| StoreError::Backend {
            secret: secret.to_owned(),
            message: "could not serialize the stored document".into(),
        })
}

pub(super) fn value_of(
    secret: &str,
    slot: &Slot,
    stages: Vec<Stage>,
) -> Result<SecretValue, StoreError> {
    let doc = slot.doc.as_ref().ok_or_else(|| {
        StoreError::not_found(
            secret,
            format!(
                "value of version {} (rotation begun, no value yet)",
                slot.id
            ),
        )
    })?;
    Ok(SecretValue {
        version_id: slot.id.clone(),
        stages,
        value: doc.clone(),
        created_at: slot.created_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_must_be_objects_without_reserved_fields_and_errors_never_echo() {
        let secret_value =
            "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";
        for bad in [
            format!("\"{secret_value}\""),
            format!("{{\"api_key\": \"{secret_value}\""),
            format!("{{\"api_key\": \"{secret_value}\", \"rotor_version\": \"x\"}}"),
        ] {
            let Err(err) = encode("secret/app", &SecretString::from(bad)) else {
                continue;
            };
            let err = err.to_string();
            assert!(!err.contains(&secret_value[12..]), "{err}");
            assert!(err.contains("secret/app"), "{err}");
        }
        // Canonical JSON: just the fields. Anything else also keeps the exact text.
        let canonical = format!("{{\"api_key\":\"{secret_value}\",\"b\":1}}");
        let data = encode("s/a", &SecretString::from(canonical.clone())).unwrap();
        assert_eq!(data.len(), 2);
        assert_eq!(decode("s/a", data).unwrap().expose_secret(), canonical);
        let spaced = format!("{{ \"b\": 1.50, \"api_key\":\"{secret_value}\" }}\n");
        let data = encode("s/a", &SecretString::from(spaced.clone())).unwrap();
        assert_eq!(data["api_key"], Value::String(secret_value.into()));
        assert_eq!(decode("s/a", data.clone()).unwrap().expose_secret(), spaced);
        // Fields edited by hand win over a stale exact copy.
        let mut edited = data;
        edited.insert("api_key".into(), Value::String("sk-or-v1-new".into()));
        assert!(
            decode("s/a", edited)
                .unwrap()
                .expose_secret()
                .contains("sk-or-v1-new")
        );
        let text = "not json \r\n";
        let data = encode("s/a", &SecretString::from(text)).unwrap();
        assert_eq!(decode("s/a", data).unwrap().expose_secret(), text);
    }
}
