//! `rotor.toml`: the configuration of `rotor daemon` and of fleet operations (`--config … --all`).
//!
//! ```toml
//! [openrouter]
//! base_url = "https://openrouter.ai/api/v1"        # default; OPENROUTER_BASE_URL overrides
//! management_key_file = "/run/secrets/or-mgmt"       # or:
//! # management_key_from = "vault://secret/rotor/openrouter#management_key"
//! # neither: the OPENROUTER_MANAGEMENT_KEY environment variable
//!
//! [defaults]                   # policy defaults: the ROTOR_* variables, lower-case, without the prefix
//! grace_period = "2h"
//! limit = "current"
//! test_mode = "auth"
//!
//! [daemon]
//! listen = "127.0.0.1:9464"    # /healthz and /metrics
//! check_interval = "30s"       # how often schedules are evaluated
//! max_concurrent = 4           # rotations at once (never two of one secret)
//!
//! [[secrets]]
//! target = "vault://secret/apps/prod/openrouter"
//! every = "30d"                # interval since the last rotation, or:
//! # cron = "0 0 3 * * Mon"     # cron (UTC; sec min hour day-of-month month day-of-week)
//! window = "4h"                # rotate only within this window after the scheduled time
//! ```
//!
//! Unknown fields are rejected, so a typo never silently falls back to a default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rotor_core::policy::Policy;
use serde::Deserialize;

use crate::args::OpenRouterArgs;
use crate::error::CliError;
use crate::target::Target;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RotorConfig {
    #[serde(default)]
    pub openrouter: OpenRouterConfig,
    /// Policy defaults by the names of the `ROTOR_*` variables, lower-case without the prefix
    /// (`grace_period`, `limit`, `limit_reset`, `include_byok_in_limit`, `expires_after`,
    /// `name_template`, `test_mode`, `test_model`, and issue-6 settings where supported).
    #[serde(default)]
    pub defaults: BTreeMap<String, toml::Value>,
    #[serde(default)]
    pub daemon: DaemonConfig,
    #[serde(default)]
    pub secrets: Vec<SecretConfig>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct OpenRouterConfig {
    pub base_url: Option<String>,
    pub management_key_file: Option<PathBuf>,
    pub management_key_from: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    #[serde(default = "default_listen")]
    pub listen: String,
    #[serde(default = "default_check_interval", with = "humantime_serde_compat")]
    pub check_interval: Duration,
    #[serde(default = "default_max_concurrent")]
    pub max_concurrent: usize,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            listen: default_listen(),
            check_interval: default_check_interval(),
            max_concurrent: default_max_concurrent(),
        }
    }
}

fn default_listen() -> String {
    "127.0.0.1:9464".into()
}
fn default_check_interval() -> Duration {
    Duration::from_secs(30)
}
fn default_max_concurrent() -> usize {
    4
}

/// One managed secret.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretConfig {
    /// `file://DIR#SECRET`, `aws://SECRET_ID` or `vault://MOUNT/PATH`.
    pub target: String,
    /// Rotate when this long has passed since the last rotation (`30d`).
    #[serde(default, with = "humantime_serde_compat::option")]
    pub every: Option<Duration>,
    /// Or rotate at these times (cron, UTC, with seconds: `0 0 3 * * Mon`).
    pub cron: Option<String>,
    /// Rotate only within this long after the scheduled time (default: any time after).
    #[serde(default, with = "humantime_serde_compat::option")]
    pub window: Option<Duration>,
}

/// humantime durations in serde without another dependency.
mod humantime_serde_compat {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map_err(|e| {
            serde::de::Error::custom(format!(
                "invalid duration {s:?} ({e}); use forms like 30s, 15m, 2h, 30d"
            ))
        })
    }

    pub mod option {
        use super::*;
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
            super::deserialize(d).map(Some)
        }
    }
}

impl RotorConfig {
    /// Reads and validates `path`: every target parses, every secret has exactly one schedule
    /// form, cron expressions parse, policy defaults are valid.
    pub fn load(path: &Path) -> Result<RotorConfig, CliError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::usage(format!("cannot read config {}: {e}", path.display())))?;
        let config: RotorConfig = toml::from_str(&text)
            .map_err(|e| CliError::usage(format!("config {}: {e}", path.display())))?;
        config.policy().map_err(|e| {
            CliError::usage(format!(
                "config {}: [defaults]: {}",
                path.display(),
                e.message
            ))
        })?;
        for (i, s) in config.secrets.iter().enumerate() {
            let at = format!("config {}: secrets[{i}] ({})", path.display(), s.target);
            Target::parse(&s.target)
                .map_err(|e| CliError::usage(format!("{at}: {}", e.message)))?;
            if s.every.is_some() && s.cron.is_some() {
                return Err(CliError::usage(format!(
                    "{at}: give either `every` or `cron`, not both"
                )));
            }
        }
        Ok(config)
    }

    /// Policy defaults: the `ROTOR_*` environment variables, overridden by `[defaults]`.
    pub fn policy(&self) -> Result<Policy, CliError> {
        let mut vars: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in &self.defaults {
            let s = match v {
                toml::Value::String(s) => s.clone(),
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                other => {
                    return Err(CliError::usage(format!(
                        "defaults.{k}: unsupported value {other}"
                    )));
                }
            };
            vars.insert(format!("ROTOR_{}", k.to_ascii_uppercase()), s);
        }
        Policy::from_vars(|name| vars.get(name).cloned().or_else(|| std::env::var(name).ok()))
            .map_err(|e| CliError::usage(e.to_string()))
    }

    /// The OpenRouter settings as command-line arguments would give them (flags win over the file).
    pub fn openrouter_args(&self, flags: &OpenRouterArgs) -> OpenRouterArgs {
        let mut a = flags.clone();
        let from_env = std::env::var("OPENROUTER_BASE_URL").is_ok();
        if let (Some(url), false, true) = (
            &self.openrouter.base_url,
            from_env,
            a.openrouter_url == rotor_openrouter::DEFAULT_BASE_URL,
        ) {
            a.openrouter_url = url.clone();
        }
        if a.management_key_file.is_none() && a.management_key_from.is_none() {
            a.management_key_file = self.openrouter.management_key_file.clone();
            a.management_key_from = self.openrouter.management_key_from.clone();
        }
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let c: RotorConfig = toml::from_str(
            r#"
            [openrouter]
            management_key_file = "/run/secrets/or"
            [defaults]
            grace_period = "2h"
            [daemon]
            check_interval = "5s"
            [[secrets]]
            target = "vault://secret/apps/prod"
            every = "30d"
            window = "4h"
            [[secrets]]
            target = "file://./s#a"
            cron = "0 0 3 * * Mon"
            "#,
        )
        .unwrap();
        assert_eq!(c.secrets.len(), 2);
        assert_eq!(c.secrets[0].every, Some(Duration::from_secs(30 * 86400)));
        assert_eq!(c.daemon.check_interval, Duration::from_secs(5));
        assert_eq!(c.policy().unwrap().grace_period, Duration::from_secs(7200));
    }

    #[test]
    fn rejects_typos() {
        let e = toml::from_str::<RotorConfig>("[[secrets]]\ntarget='file://d#s'\nevry='1d'\n")
            .unwrap_err();
        assert!(e.to_string().contains("evry"), "{e}");
    }
}
