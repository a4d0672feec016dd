//! `rotor.toml`: the configuration of `rotor daemon` and of fleet operations (`--config … --all`).
//!
//! Found as `--config FILE`, else `ROTOR_CONFIG`, else `./rotor.toml` when it exists
//! ([`discover`]). Every setting is taken from the first of: flags, environment variables, this
//! file, built-in defaults.
//!
//! ```toml
//! [openrouter]
//! base_url = "https://openrouter.ai/api/v1"        # default; --openrouter-url / OPENROUTER_BASE_URL override
//! management_key_file = "/run/secrets/or-mgmt"       # or:
//! # management_key_from = "vault://secret/rotor/openrouter#management_key"
//! # --management-key-file/-from and OPENROUTER_MANAGEMENT_KEY override both
//!
//! [defaults]                   # policy defaults: the ROTOR_* variables (which override them), lower-case, without the prefix
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
//! # cron = "0 3 * * Mon"       # cron, UTC: min hour day-of-month month day-of-week (0/7 = Sunday),
//! #                            # or 6/7 fields with seconds first (and a year last)
//! window = "4h"                # rotate only within this window after the scheduled time
//! ```
//!
//! Unknown fields are rejected, so a typo never silently falls back to a default.

use std::collections::BTreeMap;
use std::ffi::OsString;
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

/// The variable naming the configuration file when `--config` is not given.
pub const CONFIG_ENV: &str = "ROTOR_CONFIG";
/// The configuration file looked for in the working directory last.
pub const DEFAULT_CONFIG_FILE: &str = "rotor.toml";

/// The configuration file: `flag`, else `ROTOR_CONFIG` (when set and not empty), else
/// `./rotor.toml` when it exists.
pub fn discover(flag: Option<&Path>) -> Option<PathBuf> {
    discover_in(
        flag,
        std::env::var_os(CONFIG_ENV),
        Path::new(DEFAULT_CONFIG_FILE),
    )
}

fn discover_in(flag: Option<&Path>, env: Option<OsString>, local: &Path) -> Option<PathBuf> {
    if let Some(flag) = flag {
        return Some(flag.to_owned());
    }
    if let Some(env) = env.filter(|e| !e.is_empty()) {
        return Some(PathBuf::from(env));
    }
    local.is_file().then(|| local.to_owned())
}

/// Like [`discover`], for a command that cannot run without a configuration file.
pub fn require(flag: Option<&Path>, what: &str) -> Result<PathBuf, CliError> {
    discover(flag).ok_or_else(|| {
        CliError::usage(format!(
            "{what} needs a configuration file: pass --config FILE, set {CONFIG_ENV}=FILE, or \
             run it in a directory with a ./{DEFAULT_CONFIG_FILE}"
        ))
    })
}

/// Parses a cron expression (UTC): 5 fields (`min hour day-of-month month day-of-week`, POSIX:
/// weekday 0 or 7 = Sunday, 1 = Monday), or 6/7 fields with seconds first (and a year last).
/// When both day-of-month and day-of-week are restricted, either matching is enough (as in
/// POSIX cron).
pub fn parse_cron(expr: &str) -> Result<croner::Cron, String> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .year(croner::parser::Year::Optional)
        .build()
        .parse(expr)
        .map_err(|e| {
            format!(
                "invalid cron {expr:?} ({e}); expected, in UTC, 5 fields: min hour day-of-month \
                 month day-of-week (0 or 7 = Sunday), e.g. \"0 3 * * Mon\", or 6 fields with \
                 seconds first: sec min hour day-of-month month day-of-week, e.g. \"0 0 3 * * 1\""
            )
        })
}

/// When a secret is due, as [`SecretConfig::schedule`] parses it.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// Due `every` after the last rotation.
    Every(Duration),
    /// Due at each time of this cron schedule (UTC).
    Cron(Box<croner::Cron>),
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
    /// Or rotate at these times (cron, UTC: `0 3 * * Mon`, or with seconds `0 0 3 * * Mon`).
    pub cron: Option<String>,
    /// Rotate only within this long after the scheduled time (default: any time after).
    #[serde(default, with = "humantime_serde_compat::option")]
    pub window: Option<Duration>,
    /// Also rotate, whatever the schedule, when the current key expires within this long (`7d`).
    #[serde(default, with = "humantime_serde_compat::option")]
    pub rotate_before_expiry: Option<Duration>,
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
            (None, Some(expr)) => parse_cron(expr).map(|c| Some(Schedule::Cron(Box::new(c)))),
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
        // The file's own values must be valid even when environment variables override them.
        config.policy_with(|_| None).map_err(|e| {
            CliError::usage(format!(
                "config {}: [defaults]: {}",
                path.display(),
                e.message
            ))
        })?;
        config.policy()?;
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

    /// Policy defaults: the `ROTOR_*` environment variables, else `[defaults]`, else built-in.
    pub fn policy(&self) -> Result<Policy, CliError> {
        self.policy_with(|name| std::env::var(name).ok())
    }

    /// [`policy`](Self::policy) with an explicit environment.
    fn policy_with(&self, env: impl Fn(&str) -> Option<String>) -> Result<Policy, CliError> {
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
        let set = |v: &String| !v.trim().is_empty();
        Policy::from_vars(|name| {
            env(name)
                .filter(set)
                .or_else(|| vars.get(name).filter(|v| set(v)).cloned())
        })
        .map_err(|e| CliError::usage(e.to_string()))
    }

    /// The OpenRouter settings with the file's filled in where neither a flag nor an environment
    /// variable gives them: the base URL (flags and OPENROUTER_BASE_URL arrive in `flags`), and
    /// the management key source (the file's only when no `--management-key-*` flag and no
    /// OPENROUTER_MANAGEMENT_KEY).
    pub fn openrouter_args(&self, flags: &OpenRouterArgs) -> OpenRouterArgs {
        let key_in_env =
            std::env::var("OPENROUTER_MANAGEMENT_KEY").is_ok_and(|k| !k.trim().is_empty());
        self.openrouter_args_with(flags, key_in_env)
    }

    fn openrouter_args_with(&self, flags: &OpenRouterArgs, key_in_env: bool) -> OpenRouterArgs {
        let mut a = flags.clone();
        if a.openrouter_url.is_none() {
            a.openrouter_url = self.openrouter.base_url.clone();
        }
        if a.management_key_file.is_none() && a.management_key_from.is_none() && !key_in_env {
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
            rotate_before_expiry: None,
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

    #[test]
    fn discovery_order_is_flag_then_env_then_local_file() {
        let dir = tempfile::tempdir().unwrap();
        let local = dir.path().join("rotor.toml");
        let flag = Path::new("/etc/rotor/flag.toml");
        let env = || Some(OsString::from("/etc/rotor/env.toml"));
        // Nothing given and no local file: none.
        assert_eq!(discover_in(None, None, &local), None);
        assert_eq!(discover_in(None, Some("".into()), &local), None);
        std::fs::write(&local, "").unwrap();
        assert_eq!(discover_in(None, None, &local), Some(local.clone()));
        assert_eq!(
            discover_in(None, env(), &local),
            Some(PathBuf::from("/etc/rotor/env.toml"))
        );
        assert_eq!(
            discover_in(Some(flag), env(), &local),
            Some(flag.to_owned())
        );
    }

    #[test]
    fn environment_beats_defaults_in_the_file() {
        let c: RotorConfig =
            toml::from_str("[defaults]\ngrace_period = \"2h\"\ntest_mode = \"completion\"\n")
                .unwrap();
        let env = |name: &str| (name == "ROTOR_GRACE_PERIOD").then(|| "5m".to_owned());
        let p = c.policy_with(env).unwrap();
        assert_eq!(p.grace_period, Duration::from_secs(300), "environment wins");
        assert_eq!(
            p.test_mode.as_str(),
            "completion",
            "the file fills the rest"
        );
        // An empty variable counts as unset.
        let p = c
            .policy_with(|n| (n == "ROTOR_GRACE_PERIOD").then(String::new))
            .unwrap();
        assert_eq!(p.grace_period, Duration::from_secs(7200));
        // Neither: the built-in default.
        let p = RotorConfig::default().policy_with(|_| None).unwrap();
        assert_eq!(p.test_mode.as_str(), "auth");
    }

    #[test]
    fn load_rejects_bad_defaults_even_when_the_environment_overrides_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rotor.toml");
        std::fs::write(&path, "[defaults]\ngrace_period = 'soon'\n").unwrap();
        let e = RotorConfig::load(&path).unwrap_err();
        assert!(
            e.message.contains("[defaults]") && e.message.contains("ROTOR_GRACE_PERIOD"),
            "{}",
            e.message
        );
    }

    #[test]
    fn openrouter_settings_flags_then_environment_then_file() {
        let c: RotorConfig = toml::from_str(
            "[openrouter]\nbase_url = 'http://file.example/api/v1'\nmanagement_key_file = '/run/k'\n",
        )
        .unwrap();
        let none = OpenRouterArgs::default();
        let a = c.openrouter_args_with(&none, false);
        assert_eq!(a.base_url(), "http://file.example/api/v1");
        assert_eq!(a.management_key_file.as_deref(), Some(Path::new("/run/k")));
        // OPENROUTER_MANAGEMENT_KEY set: the file's key source is not used.
        let a = c.openrouter_args_with(&none, true);
        assert_eq!(a.management_key_file, None);
        // A flag (or OPENROUTER_BASE_URL, which clap puts in the same field) wins.
        let flags = OpenRouterArgs {
            openrouter_url: Some("http://flag.example/api/v1".into()),
            management_key_from: Some("vault://secret/or#k".into()),
            ..OpenRouterArgs::default()
        };
        let a = c.openrouter_args_with(&flags, true);
        assert_eq!(a.base_url(), "http://flag.example/api/v1");
        assert_eq!(a.management_key_file, None);
        assert_eq!(
            a.management_key_from.as_deref(),
            Some("vault://secret/or#k")
        );
        // No flag, no variable, no file: OpenRouter's public API.
        let a = RotorConfig::default().openrouter_args_with(&none, false);
        assert_eq!(a.base_url(), rotor_openrouter::DEFAULT_BASE_URL);
    }

    #[test]
    fn cron_accepts_five_six_and_seven_fields() {
        for ok in [
            "0 3 * * 1",
            "0 3 * * Mon",
            "0 0 3 * * 1",
            "0 0 3 * * Mon 2031",
            "*/3 * * * * *",
        ] {
            assert!(parse_cron(ok).is_ok(), "{ok}");
        }
        for bad in ["0 3 * *", "0 0 25 * * *", "61 3 * * 1", "every monday"] {
            let e = parse_cron(bad).unwrap_err();
            assert!(
                e.contains("invalid cron") && e.contains("0 or 7 = Sunday"),
                "{e}"
            );
        }
    }
}
