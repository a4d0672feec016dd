//! Ordinary keys as stored (by digest, with their usage per period), and the JSON OpenRouter
//! shows for them and for a management key (`GET /keys`, `GET /key`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Account;
use super::guardrails::StoredGuardrail;
use super::time::{
    LimitReset, PeriodUsage, day_start, month_start, next_reset, rfc3339, week_start,
};
use crate::control::EmulatedKey;

/// An ordinary (non-management) key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredKey {
    pub hash: String,
    pub key_sha256: String,
    pub account: String,
    pub name: String,
    pub label: String,
    pub disabled: bool,
    pub deleted: bool,
    pub limit: Option<f64>,
    pub limit_reset: Option<LimitReset>,
    pub include_byok_in_limit: bool,
    pub usage: f64,
    pub usage_daily: PeriodUsage,
    pub usage_weekly: PeriodUsage,
    pub usage_monthly: PeriodUsage,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Last chat completion made with the key.
    #[serde(default)]
    pub last_used_at: Option<DateTime<Utc>>,
    pub creator_user_id: Option<String>,
    pub workspace_id: String,
}

impl StoredKey {
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|e| e <= now)
    }

    /// Usage that counts against the limit: the usage of the current reset period.
    fn usage_in_limit_period(&self, now: DateTime<Utc>) -> f64 {
        match self.limit_reset {
            None => self.usage,
            Some(LimitReset::Daily) => self.usage_daily.current(day_start(now)),
            Some(LimitReset::Weekly) => self.usage_weekly.current(week_start(now)),
            Some(LimitReset::Monthly) => self.usage_monthly.current(month_start(now)),
        }
    }

    pub fn limit_remaining(&self, now: DateTime<Utc>) -> Option<f64> {
        self.limit
            .map(|l| (l - self.usage_in_limit_period(now)).max(0.0))
    }

    /// The key's own limit as a budget layer (`scope: key_limit`) of `GET /key`, if it has one.
    fn key_limit_budget(&self, now: DateTime<Utc>) -> Option<Value> {
        let limit = self.limit?;
        let spend = self.usage_in_limit_period(now);
        let resets_at = self.limit_reset.map(|r| next_reset(r, now));
        Some(json!({
            "budget_id": null,
            "guardrail_id": null,
            "include_byok": self.include_byok_in_limit,
            "limit_usd": limit,
            "remaining_usd": limit - spend,
            "reset_interval": self.limit_reset.map(LimitReset::as_str),
            "resets_at": resets_at,
            "scope": "key_limit",
            "spend_usd": spend,
        }))
    }

    pub fn add_usage(&mut self, amount: f64, now: DateTime<Utc>) {
        self.usage += amount;
        self.usage_daily.add(day_start(now), amount);
        self.usage_weekly.add(week_start(now), amount);
        self.usage_monthly.add(month_start(now), amount);
    }

    fn usage_fields(&self, now: DateTime<Utc>) -> [(&'static str, Value); 8] {
        [
            ("usage", json!(self.usage)),
            (
                "usage_daily",
                json!(self.usage_daily.current(day_start(now))),
            ),
            (
                "usage_weekly",
                json!(self.usage_weekly.current(week_start(now))),
            ),
            (
                "usage_monthly",
                json!(self.usage_monthly.current(month_start(now))),
            ),
            ("byok_usage", json!(0.0)),
            ("byok_usage_daily", json!(0.0)),
            ("byok_usage_weekly", json!(0.0)),
            ("byok_usage_monthly", json!(0.0)),
        ]
    }

    /// The key object of `/keys*` responses, every required field of the spec present.
    pub fn to_json(&self, now: DateTime<Utc>) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("hash".into(), json!(self.hash));
        m.insert("name".into(), json!(self.name));
        m.insert("label".into(), json!(self.label));
        m.insert("disabled".into(), json!(self.disabled));
        m.insert("limit".into(), json!(self.limit));
        m.insert("limit_remaining".into(), json!(self.limit_remaining(now)));
        m.insert(
            "limit_reset".into(),
            json!(self.limit_reset.map(LimitReset::as_str)),
        );
        m.insert(
            "include_byok_in_limit".into(),
            json!(self.include_byok_in_limit),
        );
        for (k, v) in self.usage_fields(now) {
            m.insert(k.into(), v);
        }
        m.insert("created_at".into(), json!(rfc3339(self.created_at)));
        m.insert("updated_at".into(), json!(self.updated_at.map(rfc3339)));
        m.insert("expires_at".into(), json!(self.expires_at.map(rfc3339)));
        m.insert("creator_user_id".into(), json!(self.creator_user_id));
        m.insert("workspace_id".into(), json!(self.workspace_id));
        // Newer than the reference spec, required by current official SDKs (openrouter 1.3.x).
        m.insert("external_user".into(), Value::Null);
        m.insert("last_used_at".into(), json!(self.last_used_at.map(rfc3339)));
        Value::Object(m)
    }

    /// The `data` of `GET /key` for this key.
    pub fn to_current_key_json(
        &self,
        now: DateTime<Utc>,
        guardrails: &[&StoredGuardrail],
    ) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("label".into(), json!(self.label));
        m.insert("limit".into(), json!(self.limit));
        m.insert("limit_remaining".into(), json!(self.limit_remaining(now)));
        m.insert(
            "limit_reset".into(),
            json!(self.limit_reset.map(LimitReset::as_str)),
        );
        m.insert(
            "include_byok_in_limit".into(),
            json!(self.include_byok_in_limit),
        );
        for (k, v) in self.usage_fields(now) {
            m.insert(k.into(), v);
        }
        m.insert("is_free_tier".into(), json!(false));
        m.insert("is_management_key".into(), json!(false));
        m.insert("is_provisioning_key".into(), json!(false));
        m.insert("creator_user_id".into(), json!(self.creator_user_id));
        m.insert("rate_limit".into(), deprecated_rate_limit());
        m.insert("expires_at".into(), json!(self.expires_at.map(rfc3339)));
        // Newer than the reference spec, required by current official SDKs (openrouter 1.3.x).
        // Budget layers in enforcement order: guardrails, then the key's own limit.
        let budgets: Vec<Value> = guardrails
            .iter()
            .filter_map(|g| g.budget(now))
            .chain(self.key_limit_budget(now))
            .collect();
        let remaining = |b: &Value| b["remaining_usd"].as_f64().unwrap_or(0.0);
        let effective = budgets
            .iter()
            .find(|b| remaining(b) <= 0.0)
            .or_else(|| {
                budgets
                    .iter()
                    .min_by(|a, b| remaining(a).total_cmp(&remaining(b)))
            })
            .cloned();
        m.insert("budgets".into(), json!(budgets));
        m.insert("effective_budget".into(), json!(effective));
        m.insert("workspace_id".into(), json!(self.workspace_id));
        insert_newer_current_key_fields(&mut m);
        // The emulated account may route through every region; guardrails narrow it (the
        // intersection of every non-null `allowed_data_regions`).
        let mut regions: Vec<&str> = vec!["global", "europe", "us"];
        for g in guardrails {
            if let Some(allowed) = g.list("allowed_data_regions") {
                regions.retain(|r| allowed.iter().any(|a| a == r));
            }
        }
        m.insert("allowed_data_regions".into(), json!(regions));
        Value::Object(m)
    }

    pub fn emulated(&self) -> EmulatedKey {
        EmulatedKey {
            hash: self.hash.clone(),
            name: self.name.clone(),
            account: self.account.clone(),
            disabled: self.disabled,
            deleted: self.deleted,
            usage: self.usage,
        }
    }
}

/// Fields of `GET /key` that current SDKs require but the emulator does not model.
fn insert_newer_current_key_fields(m: &mut serde_json::Map<String, Value>) {
    m.insert("allowed_data_regions".into(), json!([]));
    m.insert(
        "free_model_daily_requests".into(),
        json!({"limit": 1000, "remaining": 1000, "used": 0}),
    );
    m.insert("organization_id".into(), Value::Null);
}

fn deprecated_rate_limit() -> Value {
    json!({"requests": -1, "interval": "10s", "note": "This field is deprecated and safe to ignore."})
}

impl Account {
    /// The `data` of `GET /key` for this account's management key.
    pub fn to_current_key_json(&self) -> Value {
        let mut v = json!({
            "label": self.management_key_label,
            "limit": null,
            "limit_remaining": null,
            "limit_reset": null,
            "include_byok_in_limit": false,
            "usage": 0.0, "usage_daily": 0.0, "usage_weekly": 0.0, "usage_monthly": 0.0,
            "byok_usage": 0.0, "byok_usage_daily": 0.0, "byok_usage_weekly": 0.0, "byok_usage_monthly": 0.0,
            "is_free_tier": false,
            "is_management_key": true,
            "is_provisioning_key": true,
            "creator_user_id": self.creator_user_id,
            "rate_limit": deprecated_rate_limit(),
            "expires_at": null,
            "budgets": [],
            "effective_budget": null,
            "workspace_id": self.workspace_id,
        });
        if let Value::Object(m) = &mut v {
            insert_newer_current_key_fields(m);
        }
        v
    }
}
