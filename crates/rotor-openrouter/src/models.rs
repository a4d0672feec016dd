//! Typed models of the Management API, field for field from OpenRouter's OpenAPI description.
//! Unknown fields are tolerated (ignored); timestamps accept both `2025-08-24T10:30:00Z` and
//! `2025-02-19T20:52:27.363244+00:00`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ApiKey;

/// When a key's spending limit resets (midnight UTC; weeks run Monday–Sunday).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LimitReset {
    Daily,
    Weekly,
    Monthly,
}

impl LimitReset {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitReset::Daily => "daily",
            LimitReset::Weekly => "weekly",
            LimitReset::Monthly => "monthly",
        }
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
}

/// `GET /keys` options. The client follows pages itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListKeysOptions {
    /// Include disabled keys (OpenRouter hides them by default).
    pub include_disabled: bool,
    /// Only keys of this workspace.
    pub workspace_id: Option<String>,
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
    #[serde(skip_serializing_if = "Option::is_none")]
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
