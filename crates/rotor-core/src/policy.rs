//! Rotation policy: defaults from configuration ([`Policy`], e.g. [`Policy::from_env`]),
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
//!
//! This file holds the policy's values; `policy/env.rs` reads them from `ROTOR_*` variables,
//! `policy/overrides.rs` is the per-secret `rotation` object and its merge, `policy/key_name.rs`
//! names new keys and reads their tag back, and `policy/parse.rs` the spellings both accept.

mod env;
mod key_name;
mod overrides;
mod parse;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rotor_openrouter::{Key, LimitReset};

pub use key_name::{is_rotor_key_name, rotor_tag, tag_of_name};
pub use overrides::PolicyOverrides;

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

impl Policy {
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

    /// When a key that stopped being current at `superseded_at` may be retired.
    pub fn retirable_at(&self, superseded_at: DateTime<Utc>) -> DateTime<Utc> {
        let grace = chrono::Duration::from_std(self.grace_period).unwrap_or(chrono::Duration::MAX);
        superseded_at
            .checked_add_signed(grace)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}
