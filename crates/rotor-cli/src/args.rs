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
}

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
        target: String,
        #[command(flatten)]
        openrouter: OpenRouterArgs,
        /// Finish the rotation that is already pending (with its own token) instead of failing.
        #[arg(long)]
        resume: bool,
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
        target: String,
        #[command(flatten)]
        openrouter: OpenRouterArgs,
    },
}
