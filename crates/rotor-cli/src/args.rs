//! Command-line arguments (clap). The library crates do the work; this file only describes the CLI.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// rotor: zero-downtime rotation of OpenRouter API keys inside the secret stores you already run.
///
/// Targets: `file://DIR#SECRET` (local JSON files), `aws://SECRET_ID` (AWS Secrets Manager, name or
/// ARN), `vault://MOUNT/PATH` (Vault / OpenBao KV v2; VAULT_* or BAO_* variables, token from
/// VAULT_TOKEN or ~/.vault-token).
///
/// The management key comes from --management-key-file or --management-key-from, else
/// OPENROUTER_MANAGEMENT_KEY, else the config file's [openrouter] management_key_file or
/// management_key_from; never from a plain argument (shell history, `ps`).
///
/// Configuration file (the daemon, `--all` and `sweep` without targets): --config FILE, else
/// ROTOR_CONFIG, else ./rotor.toml when it exists. Every setting is taken from the first of:
/// command-line flags, environment variables (OPENROUTER_BASE_URL, OPENROUTER_MANAGEMENT_KEY,
/// ROTOR_*), the config file ([openrouter], [defaults]), built-in defaults.
///
/// Colors: NO_COLOR disables them. Logs go to stderr, as text or as JSON lines (--log-format).
#[derive(Debug, Parser)]
#[command(name = "rotor", version, propagate_version = true)]
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
    /// Show what a mutating command (init, rotate, rotate --abandon, retire, rollback, revoke,
    /// sweep --delete, and their --all forms) would create, promote, disable or delete, reading
    /// the store and OpenRouter, and change nothing.
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// Format of the log lines on stderr: `text` (for people) or `json` (one JSON object per
    /// line, for log pipelines).
    #[arg(
        long,
        global = true,
        value_enum,
        env = "ROTOR_LOG_FORMAT",
        default_value_t = LogFormat::Text
    )]
    pub log_format: LogFormat,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `--step`: the four steps of a Secrets Manager rotation, spelled as AWS spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StepArg {
    #[value(name = "createSecret")]
    Create,
    #[value(name = "setSecret")]
    Set,
    #[value(name = "testSecret")]
    Test,
    #[value(name = "finishSecret")]
    Finish,
}

/// Parses `--step` like `ValueEnum` (so help and completions list the values), with the
/// engine's wording when the step is unknown.
#[derive(Debug, Clone, Copy)]
pub struct StepParser;

impl clap::builder::TypedValueParser for StepParser {
    type Value = StepArg;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<StepArg, clap::Error> {
        let text = value.to_string_lossy();
        StepArg::from_str(&text, false).map_err(|_| {
            let shown: String = text.chars().take(40).collect();
            clap::Error::raw(
                clap::error::ErrorKind::InvalidValue,
                format!(
                    "unknown rotation step {shown:?}: expected createSecret, setSecret, \
                     testSecret or finishSecret\n"
                ),
            )
            .with_cmd(cmd)
        })
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(
            StepArg::value_variants()
                .iter()
                .filter_map(ValueEnum::to_possible_value),
        ))
    }
}

impl StepArg {
    /// The step's name as the engine parses it.
    pub fn as_str(self) -> &'static str {
        match self {
            StepArg::Create => "createSecret",
            StepArg::Set => "setSecret",
            StepArg::Test => "testSecret",
            StepArg::Finish => "finishSecret",
        }
    }
}

/// `--test-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TestModeArg {
    /// `GET /key` with the new key.
    Auth,
    /// `GET /key`, then one minimal chat completion.
    Completion,
}

impl TestModeArg {
    pub fn as_str(self) -> &'static str {
        match self {
            TestModeArg::Auth => "auth",
            TestModeArg::Completion => "completion",
        }
    }
}

/// `--limit-reset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LimitResetArg {
    Daily,
    Weekly,
    Monthly,
    /// The limit never resets.
    None,
    /// Copy the current key's setting.
    Current,
}

impl LimitResetArg {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitResetArg::Daily => "daily",
            LimitResetArg::Weekly => "weekly",
            LimitResetArg::Monthly => "monthly",
            LimitResetArg::None => "none",
            LimitResetArg::Current => "current",
        }
    }
}

/// `--include-byok-in-limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ByokArg {
    True,
    False,
    /// Copy the current key's setting.
    Current,
}

impl ByokArg {
    pub fn as_str(self) -> &'static str {
        match self {
            ByokArg::True => "true",
            ByokArg::False => "false",
            ByokArg::Current => "current",
        }
    }
}

#[derive(Debug, Args, Clone, Default)]
pub struct OpenRouterArgs {
    /// OpenRouter API base URL. Default: the config file's [openrouter] base_url, else
    /// https://openrouter.ai/api/v1.
    #[arg(long, value_name = "URL", env = "OPENROUTER_BASE_URL")]
    pub openrouter_url: Option<String>,
    /// Read the management key from this file (first line). Default: OPENROUTER_MANAGEMENT_KEY.
    #[arg(long, value_name = "FILE", conflicts_with = "management_key_from")]
    pub management_key_file: Option<PathBuf>,
    /// Read the management key from a secret store: `vault://MOUNT/PATH#field`,
    /// `aws://SECRET_ID#field` or `file://DIR#SECRET` (its current `api_key`).
    #[arg(long, value_name = "URI")]
    pub management_key_from: Option<String>,
}

impl OpenRouterArgs {
    /// `--openrouter-url` / OPENROUTER_BASE_URL, else OpenRouter's public API.
    pub fn base_url(&self) -> &str {
        self.openrouter_url
            .as_deref()
            .unwrap_or(rotor_openrouter::DEFAULT_BASE_URL)
    }
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
    /// When the spending limit resets.
    #[arg(long, value_enum)]
    pub limit_reset: Option<LimitResetArg>,
    /// Whether BYOK usage counts against the limit.
    #[arg(long, value_enum)]
    pub include_byok_in_limit: Option<ByokArg>,
    /// Lifetime of new keys (`30d`) or `none`.
    #[arg(long)]
    pub expires_after: Option<String>,
    /// How long an old key stays alive after it stopped being current (`2h`).
    #[arg(long)]
    pub grace_period: Option<String>,
    /// How the new key is tested before it becomes current.
    #[arg(long, value_enum)]
    pub test_mode: Option<TestModeArg>,
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
        /// The step to run.
        #[arg(long, value_parser = StepParser)]
        step: StepArg,
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
    ///
    /// Schedules are `every = "30d"` or `cron` in UTC: 5 fields (min hour day-of-month month
    /// day-of-week, weekday 0 or 7 = Sunday), or 6/7 fields with seconds first (and a year
    /// last). See docs/daemon.md.
    Daemon {
        /// The configuration file. Default: ROTOR_CONFIG, else ./rotor.toml.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
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
        /// The configuration whose secrets are checked. Without targets: default ROTOR_CONFIG,
        /// else ./rotor.toml.
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
    /// Print a shell completion script to stdout.
    ///
    /// bash: `rotor completions bash > /etc/bash_completion.d/rotor`; zsh: `rotor completions zsh
    /// > "${fpath[1]}/_rotor"`; fish: `rotor completions fish > ~/.config/fish/completions/rotor.fish`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to stdout: `rotor man > rotor.1` or `rotor man | man -l -`.
    Man,
}

/// `--config FILE --all [--concurrency N]`: the same command on every secret of a config file.
#[derive(Debug, Args, Clone, Default)]
pub struct FleetArgs {
    /// The configuration file listing the secrets. Default with --all: ROTOR_CONFIG, else
    /// ./rotor.toml.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Every secret of the configuration file.
    #[arg(long, conflicts_with = "target")]
    pub all: bool,
    /// Secrets handled at once with --all.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
}
