//! Command-line arguments (clap). The library crates do the work; this file only describes the CLI.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// rotor: zero-downtime rotation of OpenRouter API keys inside the secret stores you already run.
///
/// Targets: `file://DIR#SECRET` (local JSON files), `aws://SECRET_ID` (AWS Secrets Manager, name or
/// ARN), `vault://MOUNT/PATH` (Vault / OpenBao KV v2).
///
/// The management key comes from OPENROUTER_MANAGEMENT_KEY, --management-key-file or
/// --management-key-from; never from a plain argument (shell history, `ps`).
#[derive(Debug, Parser)]
#[command(name = "rotor", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// More log output on stderr (-v info, -vv debug, -vvv trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Machine-readable JSON on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Args, Clone, Default)]
pub struct OpenRouterArgs {
    /// OpenRouter API base URL.
    #[arg(long, env = "OPENROUTER_BASE_URL", default_value = rotor_openrouter::DEFAULT_BASE_URL)]
    pub openrouter_url: String,
    /// Read the management key from this file (first line). Default: OPENROUTER_MANAGEMENT_KEY.
    #[arg(long, value_name = "FILE", conflicts_with = "management_key_from")]
    pub management_key_file: Option<PathBuf>,
    /// Read the management key from a secret store: `vault://MOUNT/PATH#field`,
    /// `aws://SECRET_ID#field` or `file://DIR#SECRET` (its current `api_key`).
    #[arg(long, value_name = "URI")]
    pub management_key_from: Option<String>,
}

/// Per-secret policy flags for `init` (stored in the document's `rotation` object).
#[derive(Debug, Args, Clone, Default)]
pub struct PolicyArgs {
    /// Name template of new keys (`{secret}`, `{date}`); rotor appends ` [rotor:<tag>]`.
    #[arg(long)]
    pub name_template: Option<String>,
    /// Spending limit in USD of new keys, `none` (unlimited) or `current`.
    #[arg(long)]
    pub limit: Option<String>,
    /// `daily`, `weekly`, `monthly`, `none` or `current`.
    #[arg(long)]
    pub limit_reset: Option<String>,
    /// `true`, `false` or `current`.
    #[arg(long)]
    pub include_byok_in_limit: Option<String>,
    /// Lifetime of new keys (`30d`) or `none`.
    #[arg(long)]
    pub expires_after: Option<String>,
    /// How long an old key stays alive after it stopped being current (`2h`).
    #[arg(long)]
    pub grace_period: Option<String>,
    /// `auth` or `completion`.
    #[arg(long)]
    pub test_mode: Option<String>,
    /// Model of the completion test.
    #[arg(long)]
    pub test_model: Option<String>,
    /// How long an old key's usage must stay flat before it is deleted (`30m`; `0s` = grace alone).
    #[arg(long)]
    pub observation_window: Option<String>,
    /// Disable a drained old key first and delete it `--disable-delay` later (`true`/`false`).
    #[arg(long)]
    pub disable_first: Option<bool>,
    /// How long a disabled old key stays before deletion (`1h`).
    #[arg(long)]
    pub disable_delay: Option<String>,
    /// After the grace period, how long to wait for traffic to drain before reporting the key as
    /// stuck (`7d`; it is never deleted without `rotor retire --force`).
    #[arg(long)]
    pub max_retirement_wait: Option<String>,
}

// Parsed once per process: the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Rotate a key a few times against an in-process OpenRouter emulator and a temporary file
    /// store, while a simulated application keeps using whatever key it reads. No credentials, no
    /// network.
    Demo {
        /// Number of rotations.
        #[arg(long, default_value_t = 3)]
        rotations: u32,
    },
    /// Create the first key and the secret. Refuses if the secret already has a current value.
    Init {
        target: String,
        #[command(flatten)]
        openrouter: OpenRouterArgs,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Rotate now: create, set, test and finish with a fresh token.
    Rotate {
        /// The secret (or use --config FILE --all).
        #[arg(required_unless_present = "all")]
        target: Option<String>,
        #[command(flatten)]
        fleet: FleetArgs,
        #[command(flatten)]
        openrouter: OpenRouterArgs,
        /// Finish the rotation that is already pending (with its own token) instead of failing.
        #[arg(long)]
        resume: bool,
        /// Give up the rotation that is pending: delete its new key at OpenRouter and clear
        /// AWSPENDING (the current key is untouched). For a rotation that cannot finish.
        #[arg(long, conflicts_with = "resume")]
        abandon: bool,
        /// aws:// only: run the four steps here instead of asking Secrets Manager to invoke the
        /// secret's rotation function.
        #[arg(long)]
        local: bool,
    },
    /// Run one rotation step for a token (recovery).
    Step {
        target: String,
        /// createSecret, setSecret, testSecret or finishSecret.
        #[arg(long)]
        step: String,
        /// The rotation token (version id) of the rotation.
        #[arg(long)]
        token: String,
        #[command(flatten)]
        openrouter: OpenRouterArgs,
    },
    /// Stages, keys (name, hash, age), whether each live key works. No key material.
    Status {
        /// The secret (or use --config FILE --all).
        #[arg(required_unless_present = "all")]
        target: Option<String>,
        #[command(flatten)]
        fleet: FleetArgs,
        #[command(flatten)]
        openrouter: OpenRouterArgs,
    },
    /// Run the schedules of a config file: rotate each secret when due, serve /healthz and
    /// /metrics, stop cleanly on SIGTERM.
    Daemon {
        /// The configuration file (rotor.toml).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Address for /healthz and /metrics (overrides [daemon] listen).
        #[arg(long)]
        listen: Option<String>,
        #[command(flatten)]
        openrouter: OpenRouterArgs,
    },
    /// Retire older keys whose grace period has passed and whose traffic has drained.
    Retire {
        /// The secret (or use --config FILE --all).
        #[arg(required_unless_present = "all")]
        target: Option<String>,
        #[command(flatten)]
        fleet: FleetArgs,
        /// Delete even keys that still receive traffic or are inside their grace period.
        #[arg(long, conflicts_with = "reenable")]
        force: bool,
        /// Re-enable this older key (undo a disable-first) and restart its retirement.
        #[arg(long, value_name = "HASH", conflicts_with = "all")]
        reenable: Option<String>,
        #[command(flatten)]
        openrouter: OpenRouterArgs,
    },
    /// Make the previous key current again; the failed key is marked for retirement.
    Rollback {
        target: String,
        #[command(flatten)]
        openrouter: OpenRouterArgs,
    },
    /// Emergency: rotate now and delete the old key(s) as soon as the new key passed its test
    /// (or, with --hash, delete one recorded key that is not current).
    Revoke {
        target: String,
        /// Delete only this recorded older key.
        #[arg(long)]
        hash: Option<String>,
        /// Do not ask for confirmation (scripts).
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        openrouter: OpenRouterArgs,
    },
    /// List OpenRouter keys that carry rotor's name tag but that no configured secret references.
    Sweep {
        /// Secrets to check (or use --config FILE).
        targets: Vec<String>,
        /// The configuration whose secrets are checked.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Delete the orphans found (never a key referenced by any stage of any secret).
        #[arg(long)]
        delete: bool,
        /// Do not ask for confirmation before deleting.
        #[arg(long)]
        yes: bool,
        /// Never delete keys younger than this (a rotation of a secret not given may have just
        /// created one).
        #[arg(long, value_name = "DURATION", default_value = "15m")]
        min_age: String,
        #[command(flatten)]
        openrouter: OpenRouterArgs,
    },
}

/// `--config FILE --all [--concurrency N]`: the same command on every secret of a config file.
#[derive(Debug, Args, Clone, Default)]
pub struct FleetArgs {
    /// The configuration file (rotor.toml) listing the secrets.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Every secret of --config.
    #[arg(long, requires = "config", conflicts_with = "target")]
    pub all: bool,
    /// Secrets handled at once with --all.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
}
