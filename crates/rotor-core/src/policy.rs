//! Rotation policy: defaults from configuration (a [`Policy`], e.g. [`Policy::from_env`]),
//! merged with the per-secret overrides in the document's `rotation` field ([`PolicyOverrides`]).
//!
//! Key names: every key rotor creates is named from a template (default `{secret} rotated {date}`)
//! followed by a tag ` [rotor:<12 hex>]`, the first 12 hex digits of
//! `sha256(secret_id + "\n" + token)`, where `secret_id` is the id the store reports
//! ([`crate::SecretDescription::secret_id`]: the ARN on AWS), so every caller derives the same
//! tag. The tag ties a key to the one rotation (or init) that made it,
//! so a re-run of createSecret can find and delete a key whose plaintext was never stored, and the
//! orphan sweep can recognise rotor's keys ([`is_rotor_key_name`], [`tag_of_name`]).
//!
//! # Environment variables ([`Policy::from_env`])
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `ROTOR_NAME_TEMPLATE` | name of new keys; placeholders `{secret}` and `{date}` (UTC, `YYYY-MM-DD`); rotor appends ` [rotor:<tag>]` | `{secret} rotated {date}` |
//! | `ROTOR_LIMIT` | spending limit of new keys in USD; `none` = unlimited; `current` = copy the current key's limit | `current` |
//! | `ROTOR_LIMIT_RESET` | `daily`, `weekly`, `monthly`, `none`, or `current` (copy the current key's) | `current` |
//! | `ROTOR_INCLUDE_BYOK_IN_LIMIT` | `true`, `false`, or `current` | `current` |
//! | `ROTOR_EXPIRES_AFTER` | lifetime of new keys (`30d`, `12h`…) → their `expires_at`; `none` = never expire | `none` |
//! | `ROTOR_GRACE_PERIOD` | how long an old key stays alive after it stopped being current (`2h`, `1d`, `0s`) | `2h` |
//! | `ROTOR_TEST_MODE` | `auth` (`GET /key` with the new key) or `completion` (also one minimal chat completion) | `auth` |
//! | `ROTOR_TEST_MODEL` | the model of the completion test | `openai/gpt-4o-mini` |
//! | `ROTOR_OBSERVATION_WINDOW` | after its grace period, an old key is deleted only once its `usage` has not grown for this long (`0s` = grace period only) | `0s` |
//! | `ROTOR_DISABLE_FIRST` | `true`: disable a drained old key first (reversible) and delete it `disable_delay` later | `false` |
//! | `ROTOR_DISABLE_DELAY` | how long a disabled old key stays disabled before it is deleted | `1h` |
//! | `ROTOR_LEASE_TTL` | how long a worker's lease on a secret lasts without renewal; a crashed worker's rotation can be resumed by another after this | `2m` |
//! | `ROTOR_MAX_LIVE_KEYS` | a rotation is refused (before any key is created) when it would leave more live keys than this for one secret (current, pending and those in their grace period) | `10` |
//! | `ROTOR_MAX_RETIREMENT_WAIT` | an old key whose usage still grows this long after its grace period is reported as stuck (never deleted without `--force`) | `7d` |
//!
//! # Per-secret overrides (the document's `rotation` object)
//!
//! The same settings, lower-case without the prefix: `name_template`, `limit` (number, `null` =
//! unlimited, `"current"`), `limit_reset` (`"daily"`…, `null` = never, `"current"`),
//! `include_byok_in_limit` (boolean or `"current"`), `expires_after` (duration or `null`),
//! `grace_period`, `test_mode`, `test_model`, `observation_window`, `disable_first` (boolean),
//! `disable_delay`, `max_retirement_wait`. Durations use the forms `30s`, `15m`, `2h`, `30d`.
//! Unknown fields are rejected (a typo must not silently fall back to a default).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rotor_openrouter::{Key, LimitReset};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::record_error::RecordError;

/// The default key name template.
pub const DEFAULT_NAME_TEMPLATE: &str = "{secret} rotated {date}";
/// The default grace period of an old key: 2 hours.
pub const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(2 * 3600);
/// The default model of the completion test.
pub const DEFAULT_TEST_MODEL: &str = "openai/gpt-4o-mini";
/// The default observation window: zero (an old key is retired as soon as its grace period has
/// passed, whatever its usage).
pub const DEFAULT_OBSERVATION_WINDOW: Duration = Duration::ZERO;
/// The default delay between disabling an old key and deleting it (with `disable_first`): 1 hour.
pub const DEFAULT_DISABLE_DELAY: Duration = Duration::from_secs(3600);
/// The default maximum wait for an old key's traffic to drain after its grace period: 7 days.
pub const DEFAULT_MAX_RETIREMENT_WAIT: Duration = Duration::from_secs(7 * 86_400);

/// A key setting that is either copied from the current key or given.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Setting<T> {
    /// Copy the current key's value (read from OpenRouter). With no current key (init): unset.
    CurrentKey,
    /// This value.
    Value(T),
}

impl<T> Setting<T> {
    fn resolve(self, current: Option<T>, none: T) -> T {
        match self {
            Setting::Value(v) => v,
            Setting::CurrentKey => current.unwrap_or(none),
        }
    }
}

/// How testSecret proves the new key works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TestMode {
    /// `GET /key` with the new key.
    #[default]
    Auth,
    /// `GET /key`, then one minimal chat completion (costs a fraction of a cent).
    Completion,
}

impl TestMode {
    pub fn as_str(self) -> &'static str {
        match self {
            TestMode::Auth => "auth",
            TestMode::Completion => "completion",
        }
    }
}

impl FromStr for TestMode {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "auth" => Ok(TestMode::Auth),
            "completion" => Ok(TestMode::Completion),
            _ => Err(()),
        }
    }
}

impl fmt::Display for TestMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Per-secret overrides: the document's `rotation` object. `None` = use the default.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PolicyOverrides {
    pub name_template: Option<String>,
    pub limit: Option<Setting<Option<f64>>>,
    pub limit_reset: Option<Setting<Option<LimitReset>>>,
    pub include_byok_in_limit: Option<Setting<bool>>,
    /// `Some(None)`: new keys never expire.
    pub expires_after: Option<Option<Duration>>,
    pub grace_period: Option<Duration>,
    pub test_mode: Option<TestMode>,
    pub test_model: Option<String>,
    pub observation_window: Option<Duration>,
    pub disable_first: Option<bool>,
    pub disable_delay: Option<Duration>,
    pub max_retirement_wait: Option<Duration>,
}

const OVERRIDE_FIELDS: &str = "name_template, limit, limit_reset, include_byok_in_limit, expires_after, \
                               grace_period, test_mode, test_model, observation_window, disable_first, \
                               disable_delay, max_retirement_wait";

impl PolicyOverrides {
    /// Parses the `rotation` object of a document. Errors name the field, never echo values.
    pub fn from_json(value: Value, secret_id: &str) -> Result<Self, RecordError> {
        let Value::Object(obj) = value else {
            return Err(RecordError::invalid(
                secret_id,
                "rotation",
                format!("an object with fields {OVERRIDE_FIELDS}"),
            ));
        };
        let mut o = PolicyOverrides::default();
        for (name, v) in obj {
            let field = format!("rotation.{name}");
            let bad = |expected: &str| {
                RecordError::invalid(secret_id, field.clone(), expected.to_owned())
            };
            match name.as_str() {
                "name_template" => {
                    let t = v.as_str().ok_or_else(|| bad(TEMPLATE_EXPECTED))?;
                    validate_template(t).map_err(|_| bad(TEMPLATE_EXPECTED))?;
                    o.name_template = Some(t.to_owned());
                }
                "limit" => {
                    o.limit = Some(match &v {
                        Value::Null => Setting::Value(None),
                        Value::String(s) if s == "current" => Setting::CurrentKey,
                        Value::Number(n) => match n.as_f64() {
                            Some(x) if x >= 0.0 && x.is_finite() => Setting::Value(Some(x)),
                            _ => return Err(bad(LIMIT_EXPECTED)),
                        },
                        _ => return Err(bad(LIMIT_EXPECTED)),
                    })
                }
                "limit_reset" => {
                    o.limit_reset = Some(match &v {
                        Value::Null => Setting::Value(None),
                        Value::String(s) => {
                            parse_limit_reset(s).ok_or_else(|| bad(RESET_EXPECTED))?
                        }
                        _ => return Err(bad(RESET_EXPECTED)),
                    })
                }
                "include_byok_in_limit" => {
                    o.include_byok_in_limit = Some(match &v {
                        Value::Bool(b) => Setting::Value(*b),
                        Value::String(s) if s == "current" => Setting::CurrentKey,
                        _ => return Err(bad(BYOK_EXPECTED)),
                    })
                }
                "expires_after" => {
                    o.expires_after = Some(match &v {
                        Value::Null => None,
                        Value::String(s) => {
                            parse_optional_duration(s).ok_or_else(|| bad(EXPIRES_EXPECTED))?
                        }
                        _ => return Err(bad(EXPIRES_EXPECTED)),
                    })
                }
                "grace_period" => {
                    let s = v.as_str().ok_or_else(|| bad(DURATION_EXPECTED))?;
                    o.grace_period =
                        Some(humantime::parse_duration(s).map_err(|_| bad(DURATION_EXPECTED))?);
                }
                "test_mode" => {
                    let s = v.as_str().ok_or_else(|| bad(TEST_MODE_EXPECTED))?;
                    o.test_mode = Some(s.parse().map_err(|_| bad(TEST_MODE_EXPECTED))?);
                }
                "test_model" => match v.as_str() {
                    Some(s) if !s.trim().is_empty() => o.test_model = Some(s.to_owned()),
                    _ => return Err(bad(MODEL_EXPECTED)),
                },
                "observation_window" | "disable_delay" | "max_retirement_wait" => {
                    let s = v.as_str().ok_or_else(|| bad(DURATION_EXPECTED))?;
                    let d = humantime::parse_duration(s).map_err(|_| bad(DURATION_EXPECTED))?;
                    match name.as_str() {
                        "observation_window" => o.observation_window = Some(d),
                        "disable_delay" => o.disable_delay = Some(d),
                        _ => o.max_retirement_wait = Some(d),
                    }
                }
                "disable_first" => {
                    o.disable_first = Some(v.as_bool().ok_or_else(|| bad(BOOL_EXPECTED))?);
                }
                _ => {
                    return Err(bad(&format!("no such setting (known: {OVERRIDE_FIELDS})")));
                }
            }
        }
        Ok(o)
    }

    /// The `rotation` object as JSON (the inverse of [`from_json`](Self::from_json)).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        if let Some(t) = &self.name_template {
            m.insert("name_template".into(), Value::from(t.clone()));
        }
        if let Some(l) = self.limit {
            m.insert(
                "limit".into(),
                match l {
                    Setting::CurrentKey => Value::from("current"),
                    Setting::Value(None) => Value::Null,
                    Setting::Value(Some(x)) => Value::from(x),
                },
            );
        }
        if let Some(r) = self.limit_reset {
            m.insert(
                "limit_reset".into(),
                match r {
                    Setting::CurrentKey => Value::from("current"),
                    Setting::Value(None) => Value::Null,
                    Setting::Value(Some(r)) => Value::from(r.as_str()),
                },
            );
        }
        if let Some(b) = self.include_byok_in_limit {
            m.insert(
                "include_byok_in_limit".into(),
                match b {
                    Setting::CurrentKey => Value::from("current"),
                    Setting::Value(b) => Value::from(b),
                },
            );
        }
        if let Some(e) = self.expires_after {
            m.insert(
                "expires_after".into(),
                e.map(format_duration)
                    .map(Value::from)
                    .unwrap_or(Value::Null),
            );
        }
        if let Some(g) = self.grace_period {
            m.insert("grace_period".into(), Value::from(format_duration(g)));
        }
        if let Some(t) = self.test_mode {
            m.insert("test_mode".into(), Value::from(t.as_str()));
        }
        if let Some(t) = &self.test_model {
            m.insert("test_model".into(), Value::from(t.clone()));
        }
        if let Some(d) = self.observation_window {
            m.insert("observation_window".into(), Value::from(format_duration(d)));
        }
        if let Some(b) = self.disable_first {
            m.insert("disable_first".into(), Value::from(b));
        }
        if let Some(d) = self.disable_delay {
            m.insert("disable_delay".into(), Value::from(format_duration(d)));
        }
        if let Some(d) = self.max_retirement_wait {
            m.insert(
                "max_retirement_wait".into(),
                Value::from(format_duration(d)),
            );
        }
        Value::Object(m)
    }
}

impl Serialize for PolicyOverrides {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

/// A complete policy: the defaults from configuration, or those merged with a secret's overrides.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Name of new keys; `{secret}` and `{date}` are replaced, the rotor tag is appended.
    pub name_template: String,
    pub limit: Setting<Option<f64>>,
    pub limit_reset: Setting<Option<LimitReset>>,
    pub include_byok_in_limit: Setting<bool>,
    /// Lifetime of new keys (`None`: they never expire).
    pub expires_after: Option<Duration>,
    /// How long an older key stays alive after it stopped being current.
    pub grace_period: Duration,
    pub test_mode: TestMode,
    pub test_model: String,
    /// After its grace period, an old key is deleted only once its usage has not grown for this
    /// long (zero: the grace period alone decides).
    pub observation_window: Duration,
    /// Disable a drained old key first, delete it [`disable_delay`](Self::disable_delay) later.
    pub disable_first: bool,
    /// How long a disabled old key stays disabled before it is deleted.
    pub disable_delay: Duration,
    /// An old key still receiving traffic this long after its grace period is reported as stuck.
    pub max_retirement_wait: Duration,
    /// How long a worker's lease on a secret lasts without renewal (not a per-secret setting).
    pub lease_ttl: Duration,
    /// The most live keys one secret may have after a rotation's createSecret (current, new, and
    /// older keys still in their grace period); a rotation that would exceed it is refused before
    /// it creates a key.
    pub max_live_keys: usize,
}

/// Default [`Policy::lease_ttl`].
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(120);
/// Default [`Policy::max_live_keys`].
pub const DEFAULT_MAX_LIVE_KEYS: usize = 10;

impl Default for Policy {
    fn default() -> Self {
        Policy {
            name_template: DEFAULT_NAME_TEMPLATE.to_owned(),
            limit: Setting::CurrentKey,
            limit_reset: Setting::CurrentKey,
            include_byok_in_limit: Setting::CurrentKey,
            expires_after: None,
            grace_period: DEFAULT_GRACE_PERIOD,
            test_mode: TestMode::Auth,
            test_model: DEFAULT_TEST_MODEL.to_owned(),
            observation_window: DEFAULT_OBSERVATION_WINDOW,
            disable_first: false,
            disable_delay: DEFAULT_DISABLE_DELAY,
            max_retirement_wait: DEFAULT_MAX_RETIREMENT_WAIT,
            lease_ttl: DEFAULT_LEASE_TTL,
            max_live_keys: DEFAULT_MAX_LIVE_KEYS,
        }
    }
}

/// The settings a new key gets at OpenRouter, after resolving "copy the current key's".
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeySettings {
    pub limit: Option<f64>,
    pub limit_reset: Option<LimitReset>,
    pub include_byok_in_limit: bool,
}

/// A configuration error (environment variable or template). Never echoes the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("environment variable {var} is invalid: expected {expected}")]
    Env {
        var: &'static str,
        expected: &'static str,
    },
    #[error("invalid key name template: expected {expected}")]
    Template { expected: &'static str },
}

const TEMPLATE_EXPECTED: &str = "a non-empty string whose only placeholders are {secret} and {date}, e.g. \"{secret} rotated {date}\"";
const LIMIT_EXPECTED: &str =
    "a number of USD >= 0, null/none (unlimited) or \"current\" (copy the current key's)";
const RESET_EXPECTED: &str = "daily, weekly, monthly, null/none (never) or \"current\"";
const BYOK_EXPECTED: &str = "true, false or \"current\"";
const DURATION_EXPECTED: &str = "a duration such as 30s, 15m, 2h or 30d";
const EXPIRES_EXPECTED: &str = "a duration such as 12h or 30d, or null/none (never expire)";
const TEST_MODE_EXPECTED: &str = "auth or completion";
const BOOL_EXPECTED: &str = "true or false";
const MODEL_EXPECTED: &str = "a non-empty model id such as openai/gpt-4o-mini";

fn parse_limit_reset(s: &str) -> Option<Setting<Option<LimitReset>>> {
    match s {
        "current" => Some(Setting::CurrentKey),
        "none" | "never" => Some(Setting::Value(None)),
        other => other.parse().ok().map(|r| Setting::Value(Some(r))),
    }
}

fn parse_optional_duration(s: &str) -> Option<Option<Duration>> {
    match s {
        "none" | "never" => Some(None),
        other => humantime::parse_duration(other).ok().map(Some),
    }
}

fn format_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

fn validate_template(t: &str) -> Result<(), PolicyError> {
    let rest = t.replace("{secret}", "").replace("{date}", "");
    if t.trim().is_empty() || rest.contains('{') || rest.contains('}') {
        return Err(PolicyError::Template {
            expected: TEMPLATE_EXPECTED,
        });
    }
    Ok(())
}

impl Policy {
    /// The defaults from the `ROTOR_*` environment variables (see the module docs).
    pub fn from_env() -> Result<Policy, PolicyError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Like [`from_env`](Self::from_env), reading variables through `var` (for tests and for
    /// configuration files that use the same names). Empty values count as unset.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Policy, PolicyError> {
        let get = |name: &str| {
            var(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let mut p = Policy::default();
        if let Some(t) = get("ROTOR_NAME_TEMPLATE") {
            validate_template(&t).map_err(|_| PolicyError::Env {
                var: "ROTOR_NAME_TEMPLATE",
                expected: TEMPLATE_EXPECTED,
            })?;
            p.name_template = t;
        }
        if let Some(v) = get("ROTOR_LIMIT") {
            let err = PolicyError::Env {
                var: "ROTOR_LIMIT",
                expected: LIMIT_EXPECTED,
            };
            p.limit = match v.as_str() {
                "none" | "unlimited" | "null" => Setting::Value(None),
                "current" => Setting::CurrentKey,
                n => match n.parse::<f64>() {
                    Ok(x) if x >= 0.0 && x.is_finite() => Setting::Value(Some(x)),
                    _ => return Err(err),
                },
            };
        }
        if let Some(v) = get("ROTOR_LIMIT_RESET") {
            p.limit_reset = parse_limit_reset(&v).ok_or(PolicyError::Env {
                var: "ROTOR_LIMIT_RESET",
                expected: RESET_EXPECTED,
            })?;
        }
        if let Some(v) = get("ROTOR_INCLUDE_BYOK_IN_LIMIT") {
            p.include_byok_in_limit = match v.as_str() {
                "true" | "1" | "yes" => Setting::Value(true),
                "false" | "0" | "no" => Setting::Value(false),
                "current" => Setting::CurrentKey,
                _ => {
                    return Err(PolicyError::Env {
                        var: "ROTOR_INCLUDE_BYOK_IN_LIMIT",
                        expected: BYOK_EXPECTED,
                    });
                }
            };
        }
        if let Some(v) = get("ROTOR_EXPIRES_AFTER") {
            p.expires_after = parse_optional_duration(&v).ok_or(PolicyError::Env {
                var: "ROTOR_EXPIRES_AFTER",
                expected: EXPIRES_EXPECTED,
            })?;
        }
        if let Some(v) = get("ROTOR_GRACE_PERIOD") {
            p.grace_period = humantime::parse_duration(&v).map_err(|_| PolicyError::Env {
                var: "ROTOR_GRACE_PERIOD",
                expected: DURATION_EXPECTED,
            })?;
        }
        if let Some(v) = get("ROTOR_TEST_MODE") {
            p.test_mode = v.parse().map_err(|_| PolicyError::Env {
                var: "ROTOR_TEST_MODE",
                expected: TEST_MODE_EXPECTED,
            })?;
        }
        if let Some(v) = get("ROTOR_TEST_MODEL") {
            p.test_model = v;
        }
        for (var, field) in [
            ("ROTOR_OBSERVATION_WINDOW", &mut p.observation_window),
            ("ROTOR_DISABLE_DELAY", &mut p.disable_delay),
            ("ROTOR_MAX_RETIREMENT_WAIT", &mut p.max_retirement_wait),
            ("ROTOR_LEASE_TTL", &mut p.lease_ttl),
        ] {
            if let Some(v) = get(var) {
                *field = humantime::parse_duration(&v).map_err(|_| PolicyError::Env {
                    var,
                    expected: DURATION_EXPECTED,
                })?;
            }
        }
        if p.lease_ttl < Duration::from_secs(1) {
            return Err(PolicyError::Env {
                var: "ROTOR_LEASE_TTL",
                expected: "a duration of at least 1s, such as 2m",
            });
        }
        if let Some(v) = get("ROTOR_MAX_LIVE_KEYS") {
            p.max_live_keys = match v.parse::<usize>() {
                Ok(n) if n >= 2 => n,
                _ => {
                    return Err(PolicyError::Env {
                        var: "ROTOR_MAX_LIVE_KEYS",
                        expected: "a whole number of at least 2 (the current and the new key)",
                    });
                }
            };
        }
        if let Some(v) = get("ROTOR_DISABLE_FIRST") {
            p.disable_first = match v.as_str() {
                "true" | "1" | "yes" => true,
                "false" | "0" | "no" => false,
                _ => {
                    return Err(PolicyError::Env {
                        var: "ROTOR_DISABLE_FIRST",
                        expected: BOOL_EXPECTED,
                    });
                }
            };
        }
        Ok(p)
    }

    /// This policy with a secret's overrides applied.
    pub fn with_overrides(&self, overrides: Option<&PolicyOverrides>) -> Policy {
        let mut p = self.clone();
        let Some(o) = overrides else { return p };
        if let Some(t) = &o.name_template {
            p.name_template = t.clone();
        }
        if let Some(l) = o.limit {
            p.limit = l;
        }
        if let Some(r) = o.limit_reset {
            p.limit_reset = r;
        }
        if let Some(b) = o.include_byok_in_limit {
            p.include_byok_in_limit = b;
        }
        if let Some(e) = o.expires_after {
            p.expires_after = e;
        }
        if let Some(g) = o.grace_period {
            p.grace_period = g;
        }
        if let Some(t) = o.test_mode {
            p.test_mode = t;
        }
        if let Some(t) = &o.test_model {
            p.test_model = t.clone();
        }
        if let Some(d) = o.observation_window {
            p.observation_window = d;
        }
        if let Some(b) = o.disable_first {
            p.disable_first = b;
        }
        if let Some(d) = o.disable_delay {
            p.disable_delay = d;
        }
        if let Some(d) = o.max_retirement_wait {
            p.max_retirement_wait = d;
        }
        p
    }

    /// The settings for a new key, copying from `current` (the current key at OpenRouter) where
    /// the policy says so. Without a current key: unlimited, no reset, BYOK not included.
    pub fn key_settings(&self, current: Option<&Key>) -> KeySettings {
        KeySettings {
            limit: self.limit.resolve(current.map(|k| k.limit), None),
            limit_reset: self
                .limit_reset
                .resolve(current.map(|k| k.limit_reset), None),
            include_byok_in_limit: self
                .include_byok_in_limit
                .resolve(current.map(|k| k.include_byok_in_limit), false),
        }
    }

    /// The name of a new key: the template filled in, then ` [rotor:<tag>]`.
    pub fn key_name(&self, secret_id: &str, now: DateTime<Utc>, tag: &str) -> String {
        let base = self
            .name_template
            .replace("{secret}", secret_id)
            .replace("{date}", &now.format("%Y-%m-%d").to_string());
        format!("{} [rotor:{tag}]", base.trim_end())
    }

    /// When a key that stopped being current at `superseded_at` may be retired.
    pub fn retirable_at(&self, superseded_at: DateTime<Utc>) -> DateTime<Utc> {
        let grace = chrono::Duration::from_std(self.grace_period).unwrap_or(chrono::Duration::MAX);
        superseded_at
            .checked_add_signed(grace)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

/// The tag of the rotation (or init) `token` of `secret_id`: 8 lowercase hex digits of
/// `sha256(secret_id + "\n" + token)`.
pub fn rotor_tag(secret_id: &str, token: &str) -> String {
    let mut h = Sha256::new();
    h.update(secret_id.as_bytes());
    h.update(b"\n");
    h.update(token.as_bytes());
    hex::encode(&h.finalize()[..TAG_BYTES])
}

/// Bytes of the SHA-256 in a new tag: 48 bits, so that a tag of one rotation matching an unrelated
/// key of the same account (whose deletion the tag search would then risk) stays negligible even
/// for accounts with very many keys. Tags of 8 hex digits (32 bits, rotor before 0.1) are still
/// recognised.
const TAG_BYTES: usize = 6;

/// The rotor tag at the end of a key name (`… [rotor:3fa9c2d1e07b]` → `3fa9c2d1e07b`), if any.
pub fn tag_of_name(name: &str) -> Option<&str> {
    let rest = name.strip_suffix(']')?;
    let start = rest.rfind("[rotor:")?;
    let tag = &rest[start + "[rotor:".len()..];
    ((tag.len() == 2 * TAG_BYTES || tag.len() == 8)
        && tag
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    .then_some(tag)
}

/// Whether a key name carries a rotor tag (the key was created by rotor).
pub fn is_rotor_key_name(name: &str) -> bool {
    tag_of_name(name).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn tag_round_trip() {
        let p = Policy::default();
        let tag = rotor_tag("prod/app", "tok-1");
        assert_eq!(tag.len(), 12);
        assert_ne!(tag, rotor_tag("prod/app", "tok-2"));
        assert_ne!(tag, rotor_tag("prod/ap", "ptok-1"));
        let now = DateTime::parse_from_rfc3339("2026-11-28T06:58:44Z")
            .unwrap()
            .with_timezone(&Utc);
        let name = p.key_name("prod/app", now, &tag);
        assert_eq!(name, format!("prod/app rotated 2026-11-28 [rotor:{tag}]"));
        assert_eq!(tag_of_name(&name), Some(tag.as_str()));
        assert!(is_rotor_key_name(&name));
        assert!(!is_rotor_key_name("prod key"));
        assert!(!is_rotor_key_name("x [rotor:XYZ]"));
        // Keys named by rotor versions with 8-digit tags are still recognised.
        assert_eq!(tag_of_name("old [rotor:0badc0de]"), Some("0badc0de"));
        assert!(!is_rotor_key_name("x [rotor:0badc0de1]"));
    }

    #[test]
    fn env_defaults_and_errors() {
        let env: HashMap<&str, &str> = HashMap::new();
        assert_eq!(
            Policy::from_vars(|k| env.get(k).map(|s| s.to_string())).unwrap(),
            Policy::default()
        );

        let env: HashMap<&str, &str> = [
            ("ROTOR_LIMIT", "none"),
            ("ROTOR_LIMIT_RESET", "monthly"),
            ("ROTOR_INCLUDE_BYOK_IN_LIMIT", "true"),
            ("ROTOR_EXPIRES_AFTER", "30d"),
            ("ROTOR_GRACE_PERIOD", "0s"),
            ("ROTOR_TEST_MODE", "completion"),
            ("ROTOR_TEST_MODEL", "m/x"),
            ("ROTOR_NAME_TEMPLATE", "app {date}"),
            ("ROTOR_OBSERVATION_WINDOW", "15m"),
            ("ROTOR_DISABLE_FIRST", "true"),
            ("ROTOR_DISABLE_DELAY", "30m"),
            ("ROTOR_MAX_RETIREMENT_WAIT", "2d"),
        ]
        .into();
        let p = Policy::from_vars(|k| env.get(k).map(|s| s.to_string())).unwrap();
        assert_eq!(p.limit, Setting::Value(None));
        assert_eq!(p.limit_reset, Setting::Value(Some(LimitReset::Monthly)));
        assert_eq!(p.include_byok_in_limit, Setting::Value(true));
        assert_eq!(p.expires_after, Some(Duration::from_secs(30 * 86400)));
        assert_eq!(p.grace_period, Duration::ZERO);
        assert_eq!(p.test_mode, TestMode::Completion);
        assert_eq!(p.name_template, "app {date}");
        assert_eq!(p.observation_window, Duration::from_secs(900));
        assert!(p.disable_first);
        assert_eq!(p.disable_delay, Duration::from_secs(1800));
        assert_eq!(p.max_retirement_wait, Duration::from_secs(2 * 86400));

        for (var, val) in [
            ("ROTOR_LIMIT", "lots"),
            ("ROTOR_LIMIT", "-1"),
            ("ROTOR_GRACE_PERIOD", "soon"),
            ("ROTOR_TEST_MODE", "ping"),
            ("ROTOR_NAME_TEMPLATE", "{secret} {oops}"),
            ("ROTOR_LIMIT_RESET", "hourly"),
            ("ROTOR_OBSERVATION_WINDOW", "a while"),
            ("ROTOR_DISABLE_FIRST", "maybe"),
        ] {
            let err = Policy::from_vars(|k| (k == var).then(|| val.to_owned())).unwrap_err();
            assert!(err.to_string().contains(var), "{err}");
        }
    }

    #[test]
    fn overrides_round_trip_and_merge() {
        let v: Value = serde_json::json!({
            "limit": null, "limit_reset": "weekly", "grace_period": "1h",
            "include_byok_in_limit": "current", "expires_after": "7d", "test_mode": "completion",
            "observation_window": "10m", "disable_first": true, "disable_delay": "5m",
            "max_retirement_wait": "3d"
        });
        let o = PolicyOverrides::from_json(v, "s").unwrap();
        assert_eq!(PolicyOverrides::from_json(o.to_json(), "s").unwrap(), o);
        let p = Policy::default().with_overrides(Some(&o));
        assert_eq!(p.grace_period, Duration::from_secs(3600));
        assert_eq!(p.observation_window, Duration::from_secs(600));
        assert!(p.disable_first);
        assert_eq!(p.disable_delay, Duration::from_secs(300));
        assert_eq!(p.max_retirement_wait, Duration::from_secs(3 * 86400));
        assert_eq!(p.key_settings(None).limit, None);
        assert_eq!(p.key_settings(None).limit_reset, Some(LimitReset::Weekly));
        let err = PolicyOverrides::from_json(serde_json::json!({"grace": "1h"}), "s").unwrap_err();
        assert!(err.to_string().contains("rotation.grace"), "{err}");
    }
}
