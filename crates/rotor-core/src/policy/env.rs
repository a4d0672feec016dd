//! The policy defaults from the `ROTOR_*` environment variables (the table in the `policy`
//! module's docs).

use std::time::Duration;

use super::parse::{
    BOOL_EXPECTED, BYOK_EXPECTED, DURATION_EXPECTED, EXPIRES_EXPECTED, LIMIT_EXPECTED,
    RESET_EXPECTED, TEMPLATE_EXPECTED, TEST_MODE_EXPECTED, parse_limit_reset,
    parse_optional_duration, validate_template,
};
use super::{Policy, PolicyError, Setting};

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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::TestMode;
    use rotor_openrouter::LimitReset;
    use std::collections::HashMap;

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
}
