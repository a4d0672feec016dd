//! The emulator's state: accounts, keys, usage, and its JSON persistence.
//!
//! Keys are found by the SHA-256 of their plaintext; the plaintext itself is never stored (it is
//! returned once, by `POST /keys`, exactly like OpenRouter).

use std::{
    collections::HashMap,
    fs,
    io::Write,
    path::{Path, PathBuf},
};

use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::control::EmulatedKey;
use crate::key_material::{generate_key, key_digest, key_label, random_hex};

/// When a key's limit resets (midnight UTC; weeks Monday–Sunday).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LimitReset {
    Daily,
    Weekly,
    Monthly,
}

impl LimitReset {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "daily" => Some(LimitReset::Daily),
            "weekly" => Some(LimitReset::Weekly),
            "monthly" => Some(LimitReset::Monthly),
            _ => None,
        }
    }
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            LimitReset::Daily => "daily",
            LimitReset::Weekly => "weekly",
            LimitReset::Monthly => "monthly",
        }
    }
}

/// One account: one management key (by its SHA-256) and one default workspace.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Account {
    pub id: String,
    pub workspace_id: String,
    pub creator_user_id: String,
    pub management_key_sha256: String,
    /// The management key's display label (`sk-or-v1-abc...wxyz`), not the key.
    pub management_key_label: String,
}

/// Usage accumulated in one UTC period (day, ISO week, month), identified by the period's first day.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub(crate) struct PeriodUsage {
    pub start: Option<NaiveDate>,
    pub amount: f64,
}

impl PeriodUsage {
    fn current(&self, start: NaiveDate) -> f64 {
        if self.start == Some(start) {
            self.amount
        } else {
            0.0
        }
    }
    fn add(&mut self, start: NaiveDate, amount: f64) {
        if self.start != Some(start) {
            self.start = Some(start);
            self.amount = 0.0;
        }
        self.amount += amount;
    }
}

fn day_start(now: DateTime<Utc>) -> NaiveDate {
    now.date_naive()
}
fn week_start(now: DateTime<Utc>) -> NaiveDate {
    let d = now.date_naive();
    d - chrono::Days::new(u64::from(d.weekday().num_days_from_monday()))
}
fn month_start(now: DateTime<Utc>) -> NaiveDate {
    let d = now.date_naive();
    d.with_day(1).unwrap_or(d)
}

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

/// A workspace (`/workspaces`). Each account has a default one (its `workspace_id`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredWorkspace {
    pub id: String,
    pub account: String,
    pub name: String,
    pub slug: String,
    pub description: Option<String>,
    pub created_by: Option<String>,
    pub default_guardrail_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
    pub deleted: bool,
}

impl StoredWorkspace {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "slug": self.slug,
            "description": self.description,
            "created_at": rfc3339(self.created_at),
            "updated_at": self.updated_at.map(rfc3339),
            "created_by": self.created_by,
            "default_guardrail_id": self.default_guardrail_id,
            "default_image_model": null,
            "default_provider_sort": null,
            "default_text_model": null,
            "io_logging_api_key_ids": null,
            "io_logging_sampling_rate": 1.0,
            "is_data_discount_logging_enabled": false,
            "is_observability_broadcast_enabled": false,
            "is_observability_io_logging_enabled": false,
            "disabled_server_tools": null,
            "include_byok_in_budgets": false,
        })
    }
}

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

/// When a `reset` period that contains `now` ends (midnight UTC), RFC 3339.
pub(crate) fn next_reset(reset: LimitReset, now: DateTime<Utc>) -> String {
    let next = match reset {
        LimitReset::Daily => day_start(now) + chrono::Days::new(1),
        LimitReset::Weekly => week_start(now) + chrono::Days::new(7),
        LimitReset::Monthly => month_start(now) + chrono::Months::new(1),
    };
    rfc3339(next.and_time(chrono::NaiveTime::MIN).and_utc())
}

/// RFC 3339 in UTC with a `Z`, fractional seconds only when there are any.
pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The current time, to the millisecond (what timestamps in responses carry).
pub(crate) fn now() -> DateTime<Utc> {
    use chrono::SubsecRound;
    Utc::now().trunc_subsecs(3)
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

/// What a bearer token is.
pub(crate) enum Caller {
    Management { account: usize },
    Ordinary { index: usize },
}

/// Failure to load or save the state file.
#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
    #[error(
        "emulator state file {path}: could not read it: {source}; fix its permissions or remove it"
    )]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "emulator state file {path}: not valid emulator state JSON: {source}; remove it to start empty"
    )]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error(
        "emulator state file {path}: could not write it ({step}): {source}; check the directory is writable"
    )]
    Write {
        path: PathBuf,
        step: &'static str,
        source: std::io::Error,
    },
}

/// Everything the emulator knows (persisted when a state file is configured).
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct State {
    pub version: u32,
    pub accounts: Vec<Account>,
    /// In creation order (oldest first); deleted keys stay, flagged.
    pub keys: Vec<StoredKey>,
    /// Every account's workspaces (the default one included), in creation order.
    #[serde(default)]
    pub workspaces: Vec<StoredWorkspace>,
    /// Guardrails in creation order; deleted ones stay, flagged.
    #[serde(default)]
    pub guardrails: Vec<StoredGuardrail>,
    /// Guardrail ↔ key assignments.
    #[serde(default)]
    pub assignments: Vec<StoredAssignment>,
    #[serde(skip)]
    by_hash: HashMap<String, usize>,
    #[serde(skip)]
    by_secret: HashMap<String, usize>,
}

impl State {
    fn reindex(&mut self) {
        self.by_hash = self
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.hash.clone(), i))
            .collect();
        self.by_secret = self
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.key_sha256.clone(), i))
            .collect();
    }

    pub fn load(path: &Path) -> Result<Option<State>, StateFileError> {
        let bytes = match fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(StateFileError::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let mut state: State =
            serde_json::from_slice(&bytes).map_err(|source| StateFileError::Parse {
                path: path.to_owned(),
                source,
            })?;
        state.reindex();
        state.ensure_default_workspaces();
        Ok(Some(state))
    }

    /// Atomic write: a temp file in the same directory, fsync, rename, fsync of the directory.
    pub fn save(&self, path: &Path) -> Result<(), StateFileError> {
        let err = |step: &'static str| {
            move |source| StateFileError::Write {
                path: path.to_owned(),
                step,
                source,
            }
        };
        let json = serde_json::to_vec_pretty(self).map_err(|e| StateFileError::Write {
            path: path.to_owned(),
            step: "serialize",
            source: std::io::Error::other(e),
        })?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(".{file_name}.tmp-{}", random_hex(6)));
        let result = (|| {
            let mut f = fs::File::create(&tmp).map_err(err("create temp file"))?;
            f.write_all(&json).map_err(err("write temp file"))?;
            f.sync_all().map_err(err("fsync temp file"))?;
            fs::rename(&tmp, path).map_err(err("rename temp file"))?;
            if let Ok(d) = fs::File::open(&dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    pub fn add_account(&mut self, management_key: &str) -> &Account {
        let n = self.accounts.len() + 1;
        self.accounts.push(Account {
            id: format!("account-{n}-{}", random_hex(4)),
            workspace_id: uuid::Uuid::new_v4().to_string(),
            creator_user_id: format!("user_{}", random_hex(12)),
            management_key_sha256: key_digest(management_key),
            management_key_label: key_label(management_key),
        });
        self.ensure_default_workspaces();
        let last = self.accounts.len() - 1;
        &self.accounts[last]
    }

    /// Every account has a record of its default workspace (state files of earlier versions
    /// have none).
    pub fn ensure_default_workspaces(&mut self) {
        for a in &self.accounts {
            if !self.workspaces.iter().any(|w| w.id == a.workspace_id) {
                self.workspaces.push(StoredWorkspace {
                    id: a.workspace_id.clone(),
                    account: a.id.clone(),
                    name: "Default Workspace".into(),
                    slug: "default".into(),
                    description: None,
                    created_by: Some(a.creator_user_id.clone()),
                    default_guardrail_id: uuid::Uuid::new_v4().to_string(),
                    created_at: now(),
                    updated_at: None,
                    deleted: false,
                });
            }
        }
    }

    /// A live workspace of `account` by id or slug.
    pub fn workspace_of(&self, account: &str, id_or_slug: &str) -> Option<usize> {
        self.workspaces.iter().position(|w| {
            w.account == account && !w.deleted && (w.id == id_or_slug || w.slug == id_or_slug)
        })
    }

    /// A live guardrail of `account` by id.
    pub fn guardrail_of(&self, account: &str, id: &str) -> Option<usize> {
        self.guardrails
            .iter()
            .position(|g| g.account == account && !g.deleted && g.id == id)
    }

    /// The live guardrails assigned to the key at `index`.
    pub fn guardrails_of_key(&self, index: usize) -> Vec<usize> {
        let key = &self.keys[index];
        let mut out: Vec<usize> = self
            .assignments
            .iter()
            .filter(|a| a.key_hash == key.hash)
            .filter_map(|a| self.guardrail_of(&key.account, &a.guardrail_id))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Makes `management_key` the first account's key (creating that account if needed).
    pub fn set_first_management_key(&mut self, management_key: &str) {
        if let Some(first) = self.accounts.first_mut() {
            first.management_key_sha256 = key_digest(management_key);
            first.management_key_label = key_label(management_key);
        } else {
            self.add_account(management_key);
        }
    }

    pub fn identify(&self, bearer: &str) -> Option<Caller> {
        let digest = key_digest(bearer);
        if let Some(account) = self
            .accounts
            .iter()
            .position(|a| a.management_key_sha256 == digest)
        {
            return Some(Caller::Management { account });
        }
        self.by_secret
            .get(&digest)
            .map(|&index| Caller::Ordinary { index })
    }

    /// A live (not deleted) key of `account` by hash.
    pub fn key_of(&self, account: &str, hash: &str) -> Option<usize> {
        self.by_hash
            .get(hash)
            .copied()
            .filter(|&i| self.keys[i].account == account && !self.keys[i].deleted)
    }

    /// A live key of any account by hash (test controls).
    pub fn live_key(&self, hash: &str) -> Option<usize> {
        self.by_hash
            .get(hash)
            .copied()
            .filter(|&i| !self.keys[i].deleted)
    }

    /// Creates a key; returns its index and plaintext.
    pub fn insert_key(&mut self, mut key: StoredKey) -> (usize, String) {
        let plaintext = generate_key();
        key.hash = random_hex(32);
        key.key_sha256 = key_digest(&plaintext);
        key.label = key_label(&plaintext);
        let i = self.keys.len();
        self.by_hash.insert(key.hash.clone(), i);
        self.by_secret.insert(key.key_sha256.clone(), i);
        self.keys.push(key);
        (i, plaintext)
    }

    /// Forgets every key (accounts and their management keys stay).
    pub fn clear_keys(&mut self) {
        self.keys.clear();
        self.assignments.clear();
        self.guardrails.clear();
        let accounts: Vec<String> = self
            .accounts
            .iter()
            .map(|a| a.workspace_id.clone())
            .collect();
        self.workspaces.retain(|w| accounts.contains(&w.id));
        for w in &mut self.workspaces {
            w.deleted = false;
        }
        self.reindex();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_usage_resets_on_a_new_period() {
        let mut p = PeriodUsage::default();
        let d1 = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap_or_default();
        let d2 = NaiveDate::from_ymd_opt(2026, 1, 6).unwrap_or_default();
        p.add(d1, 1.5);
        p.add(d1, 1.0);
        assert_eq!(p.current(d1), 2.5);
        assert_eq!(p.current(d2), 0.0);
        p.add(d2, 0.5);
        assert_eq!(p.current(d2), 0.5);
    }

    #[test]
    fn save_is_atomic_and_load_restores_the_indexes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        assert!(State::load(&path).expect("missing file is fine").is_none());
        let mut state = State::default();
        let mk = generate_key();
        state.add_account(&mk);
        let account = state.accounts[0].id.clone();
        let key = StoredKey {
            hash: String::new(),
            key_sha256: String::new(),
            account: account.clone(),
            name: "k".into(),
            label: String::new(),
            disabled: false,
            deleted: false,
            limit: None,
            limit_reset: None,
            include_byok_in_limit: false,
            usage: 0.0,
            usage_daily: PeriodUsage::default(),
            usage_weekly: PeriodUsage::default(),
            usage_monthly: PeriodUsage::default(),
            created_at: now(),
            updated_at: None,
            expires_at: None,
            last_used_at: None,
            creator_user_id: None,
            workspace_id: state.accounts[0].workspace_id.clone(),
        };
        let (_, plaintext) = state.insert_key(key);
        state.save(&path).expect("save");
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(
            names,
            [std::ffi::OsString::from("state.json")],
            "no temp file left behind"
        );
        let text = fs::read_to_string(&path).expect("read");
        assert!(
            !text.contains(&plaintext[9..]) && !text.contains(&mk[9..]),
            "no plaintext key on disk"
        );
        let loaded = State::load(&path).expect("load").expect("present");
        assert!(matches!(
            loaded.identify(&plaintext),
            Some(Caller::Ordinary { index: 0 })
        ));
        assert!(matches!(
            loaded.identify(&mk),
            Some(Caller::Management { account: 0 })
        ));
        assert_eq!(loaded.key_of(&account, &loaded.keys[0].hash), Some(0));
    }

    #[test]
    fn a_corrupt_state_file_is_an_error_that_names_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        fs::write(&path, "{not json").expect("write");
        let e = State::load(&path).expect_err("corrupt");
        assert!(e.to_string().contains("state.json"), "{e}");
    }

    #[test]
    fn weeks_start_on_monday() {
        let sunday =
            DateTime::parse_from_rfc3339("2026-11-29T23:00:00Z").map(|d| d.with_timezone(&Utc));
        let sunday = sunday.unwrap_or_default();
        assert_eq!(
            week_start(sunday),
            NaiveDate::from_ymd_opt(2026, 11, 23).unwrap_or_default()
        );
    }
}
