//! Guardrails as stored (`/guardrails`), their spend against `limit_usd`, and key assignments.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::time::{
    LimitReset, PeriodUsage, day_start, month_start, next_reset, rfc3339, week_start,
};

/// A guardrail (`/guardrails`): policy fields as given (validated), plus the spend that counts
/// against `limit_usd`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredGuardrail {
    pub id: String,
    pub account: String,
    pub workspace_id: Option<String>,
    pub name: String,
    pub include_byok_in_budgets: bool,
    /// The optional fields of the SDK's `Guardrail` that were set (null included).
    pub settings: serde_json::Map<String, Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
    pub deleted: bool,
    pub spend_total: f64,
    pub spend_daily: PeriodUsage,
    pub spend_weekly: PeriodUsage,
    pub spend_monthly: PeriodUsage,
}

impl StoredGuardrail {
    /// A string-list setting (`allowed_models`…); `None` when unset or null.
    pub fn list(&self, field: &str) -> Option<Vec<String>> {
        self.settings.get(field)?.as_array().map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
    }
    pub fn limit_usd(&self) -> Option<f64> {
        self.settings.get("limit_usd").and_then(Value::as_f64)
    }
    pub fn reset_interval(&self) -> Option<LimitReset> {
        self.settings
            .get("reset_interval")
            .and_then(Value::as_str)
            .and_then(LimitReset::parse)
    }
    /// Spend in the current reset period (all spend when there is no interval).
    pub fn spend(&self, now: DateTime<Utc>) -> f64 {
        match self.reset_interval() {
            None => self.spend_total,
            Some(LimitReset::Daily) => self.spend_daily.current(day_start(now)),
            Some(LimitReset::Weekly) => self.spend_weekly.current(week_start(now)),
            Some(LimitReset::Monthly) => self.spend_monthly.current(month_start(now)),
        }
    }
    pub fn add_spend(&mut self, amount: f64, now: DateTime<Utc>) {
        self.spend_total += amount;
        self.spend_daily.add(day_start(now), amount);
        self.spend_weekly.add(week_start(now), amount);
        self.spend_monthly.add(month_start(now), amount);
    }
    /// Remaining budget (never below 0), when the guardrail has a `limit_usd`.
    pub fn remaining(&self, now: DateTime<Utc>) -> Option<f64> {
        self.limit_usd().map(|l| (l - self.spend(now)).max(0.0))
    }
    /// This guardrail as a budget layer (`scope: api_key`) of `GET /key`, if it has a limit.
    pub fn budget(&self, now: DateTime<Utc>) -> Option<Value> {
        let limit = self.limit_usd()?;
        let interval = self.reset_interval();
        Some(json!({
            "budget_id": null,
            "guardrail_id": self.id,
            "include_byok": self.include_byok_in_budgets,
            "limit_usd": limit,
            "remaining_usd": (limit - self.spend(now)).max(0.0),
            "reset_interval": interval.map(LimitReset::as_str),
            "resets_at": interval.map(|r| next_reset(r, now)),
            "scope": "api_key",
            "spend_usd": self.spend(now),
        }))
    }
    pub fn to_json(&self) -> Value {
        let mut m = self.settings.clone();
        m.insert("id".into(), json!(self.id));
        m.insert("name".into(), json!(self.name));
        m.insert("workspace_id".into(), json!(self.workspace_id));
        m.insert(
            "include_byok_in_budgets".into(),
            json!(self.include_byok_in_budgets),
        );
        m.insert("created_at".into(), json!(rfc3339(self.created_at)));
        m.insert("updated_at".into(), json!(self.updated_at.map(rfc3339)));
        Value::Object(m)
    }
}

/// A key assigned to a guardrail.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredAssignment {
    pub id: String,
    pub guardrail_id: String,
    pub key_hash: String,
    pub assigned_by: Option<String>,
    pub created_at: DateTime<Utc>,
}
