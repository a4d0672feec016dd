//! Per-secret overrides: the document's `rotation` object ([`PolicyOverrides`]), parsed, written
//! back, and merged over the defaults ([`Policy::with_overrides`]).

use std::time::Duration;

use rotor_openrouter::LimitReset;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use super::parse::{
    BOOL_EXPECTED, BYOK_EXPECTED, DURATION_EXPECTED, EXPIRES_EXPECTED, LIMIT_EXPECTED,
    MODEL_EXPECTED, RESET_EXPECTED, TEMPLATE_EXPECTED, TEST_MODE_EXPECTED, format_duration,
    parse_limit_reset, parse_optional_duration, validate_template,
};
use super::{Policy, Setting, TestMode};
use crate::record_error::RecordError;

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

impl Policy {
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
