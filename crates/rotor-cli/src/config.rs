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
//! shutdown_timeout = "60s"     # on SIGTERM, how long in-flight rotations may take to finish
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
    /// On SIGTERM/SIGINT, how long in-flight rotations may take to finish before the daemon exits
    /// anyway (a rotation cut short stays pending and is resumed at the next start).
    #[serde(default = "default_shutdown_timeout", with = "humantime_serde_compat")]
    pub shutdown_timeout: Duration,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            listen: default_listen(),
            check_interval: default_check_interval(),
            max_concurrent: default_max_concurrent(),
            shutdown_timeout: default_shutdown_timeout(),
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
fn default_shutdown_timeout() -> Duration {
    Duration::from_secs(60)
}

/// When a secret is due, as [`SecretConfig::schedule`] parses it.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// Due `every` after the last rotation.
    Every(Duration),
    /// Due at each time of this cron schedule (UTC).
    Cron(Box<cron::Schedule>),
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

impl SecretConfig {
    /// The secret's schedule: `Ok(None)` when it has neither `every` nor `cron` (fleet operations
    /// do not need one; `rotor daemon` refuses it). Errors name the field and the expected form.
    pub fn schedule(&self) -> Result<Option<Schedule>, String> {
        match (&self.every, &self.cron) {
            (Some(_), Some(_)) => Err("give either `every` or `cron`, not both".into()),
            (Some(every), None) if every.is_zero() => {
                Err("`every` must be longer than zero".into())
            }
            (Some(every), None) => Ok(Some(Schedule::Every(*every))),
            (None, Some(expr)) => expr
                .parse::<cron::Schedule>()
                .map(|s| Some(Schedule::Cron(Box::new(s))))
                .map_err(|e| {
                    format!(
                        "invalid cron {expr:?} ({e}); expected 6 or 7 fields in UTC: \
                         sec min hour day-of-month month day-of-week [year], e.g. \"0 0 3 * * Mon\""
                    )
                }),
            (None, None) => Ok(None),
        }
    }
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
            s.schedule()
                .map_err(|e| CliError::usage(format!("{at}: {e}")))?;
            if s.window.is_some_and(|w| w.is_zero()) {
                return Err(CliError::usage(format!(
                    "{at}: `window` must be longer than zero (leave it out to rotate any time after the scheduled time)"
                )));
            }
        }
        if config.daemon.max_concurrent == 0 {
            return Err(CliError::usage(format!(
                "config {}: [daemon] max_concurrent must be at least 1",
                path.display()
            )));
        }
        if config.daemon.check_interval.is_zero() {
            return Err(CliError::usage(format!(
                "config {}: [daemon] check_interval must be longer than zero",
                path.display()
            )));
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
    fn validates_schedules() {
        let secret = |every: Option<&str>, cron: Option<&str>| SecretConfig {
            target: "file://d#s".into(),
            every: every.map(|e| humantime::parse_duration(e).unwrap()),
            cron: cron.map(str::to_owned),
            window: None,
        };
        assert!(matches!(
            secret(Some("200ms"), None).schedule(),
            Ok(Some(Schedule::Every(d))) if d == Duration::from_millis(200)
        ));
        assert!(matches!(
            secret(None, Some("0 0 3 * * Mon")).schedule(),
            Ok(Some(Schedule::Cron(_)))
        ));
        assert!(matches!(secret(None, None).schedule(), Ok(None)));
        let both = secret(Some("1d"), Some("0 0 3 * * *"))
            .schedule()
            .unwrap_err();
        assert!(both.contains("not both"), "{both}");
        let bad = secret(None, Some("every monday")).schedule().unwrap_err();
        assert!(
            bad.contains("invalid cron") && bad.contains("sec min hour"),
            "{bad}"
        );
        let zero = secret(Some("0s"), None).schedule().unwrap_err();
        assert!(zero.contains("longer than zero"), "{zero}");
    }

    #[test]
    fn load_rejects_a_bad_cron_naming_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rotor.toml");
        std::fs::write(
            &path,
            "[[secrets]]\ntarget = 'file://d#app'\ncron = '0 0 25 * * *'\n",
        )
        .unwrap();
        let e = RotorConfig::load(&path).unwrap_err();
        assert!(
            e.message.contains("secrets[0] (file://d#app)") && e.message.contains("invalid cron"),
            "{}",
            e.message
        );
    }

    #[test]
    fn rejects_typos() {
        let e = toml::from_str::<RotorConfig>("[[secrets]]\ntarget='file://d#s'\nevry='1d'\n")
            .unwrap_err();
        assert!(e.to_string().contains("evry"), "{e}");
    }
}
