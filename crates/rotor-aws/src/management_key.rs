//! Reading the OpenRouter management key from a Secrets Manager secret.
//!
//! The secret's `AWSCURRENT` value is either the plain key (`sk-or-v1-…`, surrounding whitespace
//! trimmed) or a JSON object. For a JSON object the key is the field named explicitly
//! (`aws://SECRET#field`), else the first of `management_key`, `OPENROUTER_MANAGEMENT_KEY`,
//! `api_key` that is present.

use rotor_core::store::{SecretStore, Stage, StoreError, VersionSelector};
use rotor_openrouter::ApiKey;
use secrecy::ExposeSecret;

/// JSON fields tried, in order, when no field is named.
pub const MANAGEMENT_KEY_FIELDS: [&str; 3] =
    ["management_key", "OPENROUTER_MANAGEMENT_KEY", "api_key"];

/// Why the management key could not be read. Never contains the secret's value.
#[derive(Debug, thiserror::Error)]
pub enum ManagementKeyError {
    #[error("reading the OpenRouter management key: {0}")]
    Store(#[from] StoreError),
    #[error(
        "management-key secret {secret}: the value is JSON but has no string field {wanted}; store the key in one of them or name the field as aws://SECRET#field"
    )]
    MissingField { secret: String, wanted: String },
    #[error("management-key secret {secret}: the value is empty")]
    Empty { secret: String },
}

/// Reads the management key from `secret_id` (its `AWSCURRENT` version) through any store.
pub async fn read_management_key(
    store: &dyn SecretStore,
    secret_id: &str,
    field: Option<&str>,
) -> Result<ApiKey, ManagementKeyError> {
    let v = store
        .get_value(secret_id, &VersionSelector::Stage(Stage::Current))
        .await?;
    parse_management_key(secret_id, v.value.expose_secret(), field)
}

/// Extracts the key from a secret value (plain string or JSON object, see the module docs).
pub fn parse_management_key(
    secret_id: &str,
    value: &str,
    field: Option<&str>,
) -> Result<ApiKey, ManagementKeyError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ManagementKeyError::Empty {
            secret: secret_id.to_owned(),
        });
    }
    let json = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(trimmed).ok();
    match (json, field) {
        (Some(obj), _) => {
            let wanted: Vec<&str> = match field {
                Some(f) => vec![f],
                None => MANAGEMENT_KEY_FIELDS.to_vec(),
            };
            wanted
                .iter()
                .find_map(|f| obj.get(*f).and_then(|v| v.as_str()))
                .filter(|s| !s.trim().is_empty())
                .map(ApiKey::new)
                .ok_or_else(|| ManagementKeyError::MissingField {
                    secret: secret_id.to_owned(),
                    wanted: wanted.join(" or "),
                })
        }
        (None, Some(f)) => Err(ManagementKeyError::MissingField {
            secret: secret_id.to_owned(),
            wanted: format!("{f} (the value is not a JSON object)"),
        }),
        (None, None) => Ok(ApiKey::new(trimmed)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "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";

    #[test]
    fn plain_and_json_values() {
        assert_eq!(
            parse_management_key("s", &format!("{KEY}\n"), None)
                .unwrap()
                .expose(),
            KEY
        );
        let j = format!(r#"{{"management_key":"{KEY}","other":1}}"#);
        assert_eq!(parse_management_key("s", &j, None).unwrap().expose(), KEY);
        let j = format!(r#"{{"mk":"{KEY}"}}"#);
        assert_eq!(
            parse_management_key("s", &j, Some("mk")).unwrap().expose(),
            KEY
        );
        let err = parse_management_key("s", &j, None).unwrap_err().to_string();
        assert!(
            err.contains("management_key") && !err.contains(KEY),
            "{err}"
        );
        assert!(parse_management_key("s", KEY, Some("mk")).is_err());
        assert!(parse_management_key("s", "  ", None).is_err());
    }
}
