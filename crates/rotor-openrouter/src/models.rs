//! Typed models of the Management API, field for field from OpenRouter's OpenAPI description.
//! Unknown fields are tolerated (ignored); timestamps accept both `2025-08-24T10:30:00Z` and
//! `2025-02-19T20:52:27.363244+00:00`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ApiKey;

/// When a key's (or a guardrail's) spending limit resets (midnight UTC; weeks run Monday–Sunday).
///
/// Decoding is forward compatible: a value this crate does not know (OpenRouter may add one)
/// decodes as [`LimitReset::Other`] and is sent back unchanged; it never fails a response.
/// [`FromStr`](std::str::FromStr) stays strict (for configuration: a typo is an error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LimitReset {
    Daily,
    Weekly,
    Monthly,
    /// A value unknown to this version (interned: each distinct value is allocated once per
    /// process, so the type stays `Copy`).
    Other(&'static str),
}

impl LimitReset {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitReset::Daily => "daily",
            LimitReset::Weekly => "weekly",
            LimitReset::Monthly => "monthly",
            LimitReset::Other(s) => s,
        }
    }

    /// Any value: the known ones as their variant, anything else as [`LimitReset::Other`].
    pub fn from_api(s: &str) -> Self {
        match s {
            "daily" => LimitReset::Daily,
            "weekly" => LimitReset::Weekly,
            "monthly" => LimitReset::Monthly,
            other => LimitReset::Other(intern(other)),
        }
    }

    /// Whether this is a value this version knows.
    pub fn is_known(self) -> bool {
        !matches!(self, LimitReset::Other(_))
    }
}

/// A `&'static str` for `s`, allocated once per distinct value (unknown enum values are few).
fn intern(s: &str) -> &'static str {
    use std::{
        collections::HashSet,
        sync::{Mutex, OnceLock},
    };
    static SEEN: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut seen = SEEN
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(found) = seen.get(s) {
        return found;
    }
    let leaked: &'static str = Box::leak(s.to_owned().into_boxed_str());
    seen.insert(leaked);
    leaked
}

impl std::fmt::Display for LimitReset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for LimitReset {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for LimitReset {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Ok(LimitReset::from_api(&s))
    }
}

impl std::str::FromStr for LimitReset {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "daily" => Ok(LimitReset::Daily),
            "weekly" => Ok(LimitReset::Weekly),
            "monthly" => Ok(LimitReset::Monthly),
            other => Err(format!(
                "unknown limit_reset {other:?}: expected daily, weekly or monthly"
            )),
        }
    }
}

/// `expires_at` as OpenRouter requires it: UTC with whole seconds (`2027-12-31T23:59:59Z`;
/// sub-seconds are dropped).
fn serialize_seconds<S: serde::Serializer>(
    t: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => serializer.serialize_str(&t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        None => serializer.serialize_none(),
    }
}

/// The key object (`data` of list, get, create and update). Holds no key material: `hash` is an
/// opaque identifier and `label` OpenRouter's own redacted display form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Key {
    pub hash: String,
    pub name: String,
    pub label: String,
    pub disabled: bool,
    /// Spending limit in USD; `None` = unlimited.
    pub limit: Option<f64>,
    pub limit_remaining: Option<f64>,
    pub limit_reset: Option<LimitReset>,
    pub include_byok_in_limit: bool,
    pub usage: f64,
    pub usage_daily: f64,
    pub usage_weekly: f64,
    pub usage_monthly: f64,
    pub byok_usage: f64,
    pub byok_usage_daily: f64,
    pub byok_usage_weekly: f64,
    pub byok_usage_monthly: f64,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
    pub creator_user_id: Option<String>,
    pub workspace_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Last use of the key (e.g. a completion); `None` when never used or not reported.
    #[serde(default)]
    pub last_used_at: Option<DateTime<Utc>>,
}

/// `GET /keys` options. The client follows pages itself.
///
/// Build it with `..Default::default()` for the fields you do not set: fields may be added.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListKeysOptions {
    /// Include disabled keys (OpenRouter hides them by default).
    pub include_disabled: bool,
    /// Only keys of this workspace.
    pub workspace_id: Option<String>,
    /// Include expired keys (OpenRouter hides them by default); sent as `include_expired=true`.
    pub include_expired: bool,
}

/// `POST /keys` body. `name` is required and non-empty; `expires_at` must be UTC.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CreateKeyRequest {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_reset: Option<LimitReset>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_byok_in_limit: Option<bool>,
    /// Sent with whole seconds (`…T23:59:59Z`), as OpenRouter requires.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_seconds"
    )]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creator_user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,
}

/// `PATCH /keys/{hash}` body: only the fields that are `Some` are sent.
/// `limit: Some(None)` sends `"limit": null` (clears the limit); likewise `limit_reset`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UpdateKeyRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<Option<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_reset: Option<Option<LimitReset>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_byok_in_limit: Option<bool>,
    /// Moves the key to this workspace (its guardrail assignments move with it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,
}

impl UpdateKeyRequest {
    /// Whether the request would change nothing.
    pub fn is_empty(&self) -> bool {
        *self == UpdateKeyRequest::default()
    }
}

/// `POST /keys` result: the key object and the plaintext key, returned only this once.
#[derive(Debug, Clone, Deserialize)]
pub struct CreatedKey {
    pub data: Key,
    /// The plaintext key (top level of the response, not inside `data`).
    pub key: ApiKey,
}

/// `GET /key`: what a key says about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurrentKey {
    pub label: String,
    pub limit: Option<f64>,
    pub limit_remaining: Option<f64>,
    pub limit_reset: Option<LimitReset>,
    pub include_byok_in_limit: bool,
    pub usage: f64,
    pub usage_daily: f64,
    pub usage_weekly: f64,
    pub usage_monthly: f64,
    pub byok_usage: f64,
    pub byok_usage_daily: f64,
    pub byok_usage_weekly: f64,
    pub byok_usage_monthly: f64,
    pub is_free_tier: bool,
    pub is_management_key: bool,
    /// Deprecated alias of `is_management_key`.
    #[serde(default)]
    pub is_provisioning_key: bool,
    pub creator_user_id: Option<String>,
    /// Deprecated; OpenRouter reports -1 values.
    #[serde(default)]
    pub rate_limit: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Every budget layer OpenRouter checks for this key, in its order (guardrails, workspace
    /// budgets, the key's own limit). Empty when absent (older servers) or nothing is budgeted.
    #[serde(default, deserialize_with = "null_as_default")]
    pub budgets: Vec<KeyBudget>,
    /// The budget that blocks first (the spent one, else the least remaining); `None` when
    /// nothing is budgeted or the server does not report it.
    #[serde(default)]
    pub effective_budget: Option<KeyBudget>,
    /// Data regions (`global`, `europe`, `us`, …) the key may use. Empty when absent.
    #[serde(default, deserialize_with = "null_as_default")]
    pub allowed_data_regions: Vec<String>,
    /// The workspace the key spends in, when reported.
    #[serde(default)]
    pub workspace_id: Option<String>,
}

/// `null` (or absence, with `#[serde(default)]`) as the type's default.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// One budget layer of `GET /key` (`budgets`, `effective_budget`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyBudget {
    /// Which layer: `api_key` (a guardrail on the key), `key_limit` (the key's own limit),
    /// `workspace`, `member`, `workspace_default_key`, `workspace_default_member`, or a newer one.
    pub scope: String,
    #[serde(default)]
    pub budget_id: Option<String>,
    #[serde(default)]
    pub guardrail_id: Option<String>,
    #[serde(default)]
    pub include_byok: bool,
    pub limit_usd: f64,
    pub remaining_usd: f64,
    #[serde(default)]
    pub spend_usd: f64,
    /// `None` for a lifetime budget.
    #[serde(default)]
    pub reset_interval: Option<LimitReset>,
    #[serde(default)]
    pub resets_at: Option<DateTime<Utc>>,
}

impl KeyBudget {
    /// Whether nothing is left of this budget (requests are refused).
    pub fn is_spent(&self) -> bool {
        self.remaining_usd <= 0.0
    }
}

/// A guardrail (`/guardrails`). Policy fields OpenRouter adds later are kept in `extra`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Guardrail {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// The workspace it belongs to (`None` for legacy unscoped guardrails).
    #[serde(default)]
    pub workspace_id: Option<String>,
    #[serde(default)]
    pub limit_usd: Option<f64>,
    #[serde(default)]
    pub reset_interval: Option<LimitReset>,
    #[serde(default)]
    pub include_byok_in_budgets: bool,
    #[serde(default)]
    pub allowed_models: Option<Vec<String>>,
    #[serde(default)]
    pub allowed_providers: Option<Vec<String>>,
    #[serde(default)]
    pub ignored_models: Option<Vec<String>>,
    #[serde(default)]
    pub ignored_providers: Option<Vec<String>>,
    #[serde(default)]
    pub allowed_data_regions: Option<Vec<String>>,
    #[serde(default)]
    pub enforce_zdr: Option<bool>,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    /// Every other field of the response (`enforce_zdr_*`, content filters, newer fields).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// `POST /guardrails` body: only the fields that are `Some` are sent. `limit_usd` and
/// `reset_interval` go together.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CreateGuardrailRequest {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_usd: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reset_interval: Option<LimitReset>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_byok_in_budgets: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_models: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_providers: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored_models: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored_providers: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_data_regions: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enforce_zdr: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,
}

/// A key assigned to a guardrail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyAssignment {
    pub id: String,
    pub guardrail_id: String,
    pub key_hash: String,
    #[serde(default)]
    pub key_name: String,
    #[serde(default)]
    pub key_label: String,
    #[serde(default)]
    pub assigned_by: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A workspace (`/workspaces`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workspace {
    pub id: String,
    pub name: String,
    pub slug: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub default_guardrail_id: Option<String>,
    #[serde(default)]
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
}

/// A chat completion response, reduced to what rotor checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletionResponse {
    pub id: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub choices: Vec<serde_json::Value>,
    #[serde(default)]
    pub usage: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "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";

    /// The create response of OpenRouter's spec, plus a field the spec does not know.
    fn created_json() -> String {
        format!(
            r#"{{"data":{{"hash":"f01d52606dc8f0a8303a7b5cc3fa07109c2e346cec7c0a16b40de462992ce943","name":"My New API Key",
            "label":"My New API Key","disabled":false,"limit":50,"limit_remaining":50,"limit_reset":"monthly",
            "include_byok_in_limit":true,"usage":0,"usage_daily":0,"usage_weekly":0,"usage_monthly":0,"byok_usage":0,
            "byok_usage_daily":0,"byok_usage_weekly":0,"byok_usage_monthly":0,"created_at":"2025-08-24T10:30:00Z",
            "updated_at":null,"expires_at":"2027-12-31T23:59:59Z","creator_user_id":"user_2dHFtVWx2n56w6HkM0000000000",
            "workspace_id":"0df9e665-d932-5740-b2c7-b52af166bc11","some_future_field":{{"x":1}}}},
            "key":"{KEY}"}}"#
        )
    }

    #[test]
    fn parses_the_spec_create_response_and_hides_the_key() {
        let created: CreatedKey = serde_json::from_str(&created_json()).unwrap();
        assert_eq!(created.key.expose(), KEY);
        assert_eq!(created.data.limit, Some(50.0));
        assert_eq!(created.data.limit_reset, Some(LimitReset::Monthly));
        assert_eq!(created.data.updated_at, None);
        assert_eq!(
            created.data.expires_at.map(|t| t.to_rfc3339()),
            Some("2027-12-31T23:59:59+00:00".into())
        );
        let shown = format!("{created:?} {created:#?}");
        assert!(!shown.contains(&KEY[12..69]), "{shown}");
    }

    #[test]
    fn accepts_both_timestamp_formats_and_nulls() {
        let json = created_json()
            .replace(
                "\"2025-08-24T10:30:00Z\"",
                "\"2025-02-19T20:52:27.363244+00:00\"",
            )
            .replace("\"limit\":50", "\"limit\":null")
            .replace("\"limit_reset\":\"monthly\"", "\"limit_reset\":null")
            .replace(
                "\"creator_user_id\":\"user_2dHFtVWx2n56w6HkM0000000000\"",
                "\"creator_user_id\":null",
            )
            .replace(",\"expires_at\":\"2027-12-31T23:59:59Z\"", "");
        let created: CreatedKey = serde_json::from_str(&json).unwrap();
        assert_eq!(created.data.created_at.timestamp_subsec_micros(), 363_244);
        assert_eq!(created.data.limit, None);
        assert_eq!(created.data.limit_reset, None);
        assert_eq!(created.data.creator_user_id, None);
        assert_eq!(created.data.expires_at, None);
    }

    #[test]
    fn parses_the_spec_current_key() {
        let json = r#"{"byok_usage":17.38,"byok_usage_daily":17.38,"byok_usage_monthly":17.38,"byok_usage_weekly":17.38,
            "creator_user_id":"user_2dHFtVWx2n56w6HkM0000000000","expires_at":"2027-12-31T23:59:59Z",
            "include_byok_in_limit":false,"is_free_tier":false,"is_management_key":false,"is_provisioning_key":false,
            "label":"sk-or-v1-au7...890","limit":100,"limit_remaining":74.5,"limit_reset":"monthly",
            "rate_limit":{"interval":"1h","note":"This field is deprecated and safe to ignore.","requests":1000},
            "usage":25.5,"usage_daily":25.5,"usage_monthly":25.5,"usage_weekly":25.5}"#;
        let current: CurrentKey = serde_json::from_str(json).unwrap();
        assert_eq!(current.limit_remaining, Some(74.5));
        assert!(!current.is_management_key);
        assert!(current.expires_at.is_some());
    }

    #[test]
    fn update_sends_only_given_fields_and_null_clears() {
        let req = UpdateKeyRequest {
            disabled: Some(true),
            limit: Some(None),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&req).unwrap(),
            r#"{"disabled":true,"limit":null}"#
        );
        assert!(UpdateKeyRequest::default().is_empty());
        assert_eq!(
            serde_json::to_string(&UpdateKeyRequest::default()).unwrap(),
            "{}"
        );
        let req = UpdateKeyRequest {
            limit_reset: Some(Some(LimitReset::Weekly)),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&req).unwrap(),
            r#"{"limit_reset":"weekly"}"#
        );
    }

    #[test]
    fn create_sends_utc_timestamps_and_omits_unset_fields() {
        let req = CreateKeyRequest {
            name: "n".into(),
            expires_at: Some("2027-12-31T23:59:59Z".parse().unwrap()),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&req).unwrap(),
            r#"{"name":"n","expires_at":"2027-12-31T23:59:59Z"}"#
        );
    }

    #[test]
    fn unknown_enum_values_and_fields_do_not_fail_decoding() {
        let json = created_json()
            .replace("\"limit_reset\":\"monthly\"", "\"limit_reset\":\"yearly\"")
            .replace(
                "\"updated_at\":null",
                "\"updated_at\":null,\"last_used_at\":\"2026-01-02T03:04:05Z\",\"external_user\":null",
            );
        let created: CreatedKey = serde_json::from_str(&json).unwrap();
        let reset = created.data.limit_reset.unwrap();
        assert_eq!(reset, LimitReset::Other("yearly"));
        assert!(!reset.is_known() && LimitReset::Daily.is_known());
        assert_eq!(reset.as_str(), "yearly");
        assert_eq!(
            created.data.last_used_at.map(|t| t.timestamp()),
            Some(1_767_323_045)
        );
        // Sent back as it came.
        let req = UpdateKeyRequest {
            limit_reset: Some(Some(reset)),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&req).unwrap(),
            r#"{"limit_reset":"yearly"}"#
        );
        // Configuration stays strict.
        assert!("yearly".parse::<LimitReset>().is_err());
        assert_eq!("weekly".parse::<LimitReset>(), Ok(LimitReset::Weekly));
        // Interned: the same unknown value is the same &'static str.
        let again = LimitReset::from_api("yearly");
        assert!(
            matches!((reset, again), (LimitReset::Other(a), LimitReset::Other(b)) if std::ptr::eq(a, b))
        );
    }

    #[test]
    fn current_key_budgets_are_optional_and_tolerant() {
        let base = r#""byok_usage":0,"byok_usage_daily":0,"byok_usage_monthly":0,"byok_usage_weekly":0,
            "creator_user_id":null,"include_byok_in_limit":false,"is_free_tier":false,"is_management_key":false,
            "label":"sk-or-v1-au7...890","limit":null,"limit_remaining":null,"limit_reset":null,
            "usage":0,"usage_daily":0,"usage_monthly":0,"usage_weekly":0"#;
        let bare: CurrentKey = serde_json::from_str(&format!("{{{base}}}")).unwrap();
        assert!(bare.budgets.is_empty() && bare.effective_budget.is_none());
        assert!(bare.allowed_data_regions.is_empty() && bare.workspace_id.is_none());
        let nulls: CurrentKey = serde_json::from_str(&format!(
            r#"{{{base},"budgets":null,"effective_budget":null,"allowed_data_regions":null,"workspace_id":null}}"#
        ))
        .unwrap();
        assert!(nulls.budgets.is_empty());
        let budget = r#"{"budget_id":null,"guardrail_id":"g1","include_byok":false,"limit_usd":5,
            "remaining_usd":0,"reset_interval":"fortnightly","resets_at":"2026-12-03T00:00:00Z",
            "scope":"some_new_scope","spend_usd":5,"new_field":1}"#;
        let full: CurrentKey = serde_json::from_str(&format!(
            r#"{{{base},"budgets":[{budget}],"effective_budget":{budget},"allowed_data_regions":["global","mars"],"workspace_id":"w"}}"#
        ))
        .unwrap();
        assert_eq!(full.budgets.len(), 1);
        assert_eq!(full.budgets[0].scope, "some_new_scope");
        assert_eq!(
            full.budgets[0].reset_interval,
            Some(LimitReset::Other("fortnightly"))
        );
        assert!(
            full.effective_budget
                .as_ref()
                .is_some_and(KeyBudget::is_spent)
        );
        assert_eq!(full.allowed_data_regions, ["global", "mars"]);
    }

    #[test]
    fn expires_at_is_sent_with_whole_seconds() {
        let req = CreateKeyRequest {
            name: "n".into(),
            expires_at: Some("2027-12-31T23:59:59.987654+00:00".parse().unwrap()),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&req).unwrap(),
            r#"{"name":"n","expires_at":"2027-12-31T23:59:59Z"}"#
        );
    }
}
