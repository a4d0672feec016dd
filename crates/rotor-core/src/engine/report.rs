//! What the engine reports: per step, per rotation, for init and for status. Serializable (for
//! `--json`), and free of key material.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::engine::Step;

/// What a step did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum StepOutcome {
    /// The token is already Current: the rotation finished earlier; nothing to do.
    AlreadyCurrent,
    /// createSecret: the pending version already holds a value; nothing to do.
    AlreadyCreated,
    /// createSecret: a new key was created and stored as pending.
    Created,
    /// setSecret: the key already had the policy's settings (or is the current key itself).
    Unchanged,
    /// setSecret: these settings were changed at OpenRouter.
    Updated { fields: Vec<String> },
    /// testSecret: the pending key works.
    Passed,
    /// finishSecret: the pending version is now Current.
    Promoted,
}

impl fmt::Display for StepOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepOutcome::AlreadyCurrent => f.write_str("already current"),
            StepOutcome::AlreadyCreated => f.write_str("already created"),
            StepOutcome::Created => f.write_str("created"),
            StepOutcome::Unchanged => f.write_str("unchanged"),
            StepOutcome::Updated { fields } => write!(f, "updated {}", fields.join(", ")),
            StepOutcome::Passed => f.write_str("passed"),
            StepOutcome::Promoted => f.write_str("promoted"),
        }
    }
}

/// An older key that a createSecret retired (deleted at OpenRouter).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetiredKey {
    pub key_hash: String,
    pub key_name: String,
    /// OpenRouter answered 404: the key had already been deleted.
    pub already_gone: bool,
}

/// The result of one step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepReport {
    pub secret_id: String,
    pub step: Step,
    pub token: String,
    #[serde(flatten)]
    pub outcome: StepOutcome,
    /// The pending key's hash (the new key), where the step knows it.
    pub key_hash: Option<String>,
    /// Older keys deleted by this step (createSecret only).
    pub retired: Vec<RetiredKey>,
    /// Unrecorded keys of an earlier attempt of this rotation, found by tag and deleted.
    pub cleaned_up: Vec<String>,
    pub duration_ms: u64,
}

/// The result of `rotate` or `resume`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RotationReport {
    pub secret_id: String,
    pub token: String,
    pub steps: Vec<StepReport>,
    /// The key now current.
    pub new_key_hash: Option<String>,
    /// Older keys deleted during the rotation.
    pub retired: Vec<RetiredKey>,
    /// Keys an interrupted earlier attempt created but never stored, deleted when this run took
    /// the secret's lease.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recovered: Vec<String>,
    pub duration_ms: u64,
}

/// The result of `abandon`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AbandonReport {
    pub secret_id: String,
    /// The abandoned rotation's token.
    pub token: String,
    /// Keys of the abandoned rotation deleted at OpenRouter.
    pub deleted_keys: Vec<String>,
}

/// The result of `init`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InitReport {
    pub secret_id: String,
    /// The first version's id.
    pub version_id: String,
    pub key_hash: String,
    pub key_name: String,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A key's state at OpenRouter, as seen with the management key.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum KeyState {
    /// Exists, enabled, not expired.
    Active { usage: f64, limit: Option<f64> },
    /// Exists but disabled: requests with it fail.
    Disabled,
    /// Exists but past its `expires_at`: requests with it fail.
    Expired,
    /// OpenRouter has no such key in this account (deleted, or another account's).
    Missing,
    /// The state could not be read.
    Unknown { error: String },
}

impl KeyState {
    /// Whether applications can use the key.
    pub fn works(&self) -> bool {
        matches!(self, KeyState::Active { .. })
    }
}

/// The key a version's document holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyStatus {
    pub key_hash: String,
    pub key_name: String,
    pub created_at: DateTime<Utc>,
    pub age_seconds: i64,
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(flatten)]
    pub state: KeyState,
}

/// One version of the secret that carries a stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionStatus {
    pub version_id: String,
    /// AWS labels: AWSCURRENT, AWSPENDING, AWSPREVIOUS.
    pub stages: Vec<String>,
    pub key: Option<KeyStatus>,
    /// Why `key` is missing (no value yet, unreadable document…).
    pub problem: Option<String>,
}

/// An older key recorded in the current document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OlderKeyStatus {
    pub key_hash: String,
    pub key_name: String,
    pub superseded_at: DateTime<Utc>,
    /// When its grace period ends and the next rotation may delete it.
    pub retirable_at: DateTime<Utc>,
    pub retirable_now: bool,
    #[serde(flatten)]
    pub state: KeyState,
}

/// `rotor status`: stages, keys, older keys. No key material.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SecretStatus {
    pub secret_id: String,
    pub backend: String,
    pub rotation_enabled: Option<bool>,
    pub last_rotated: Option<DateTime<Utc>>,
    /// The token of a rotation in progress (a Pending version that is not Current).
    pub pending_rotation: Option<String>,
    pub versions: Vec<VersionStatus>,
    pub older_keys: Vec<OlderKeyStatus>,
    pub grace_period_seconds: u64,
    /// Per older key: its usage trend and when it will be retired, or why not.
    pub retirement: Vec<crate::engine::KeyRetirement>,
    /// The policy's observation window (0: the grace period alone decides).
    pub observation_window_seconds: u64,
    /// Whether drained keys are disabled before they are deleted.
    pub disable_first: bool,
}
