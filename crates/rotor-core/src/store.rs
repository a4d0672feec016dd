//! The [`SecretStore`] trait: AWS Secrets Manager's staged versions, shared by every backend.
//!
//! A *secret* has *versions*, each identified by a version id. The version id of a rotation is its
//! rotation token (AWS's `ClientRequestToken`). A version holds one value (the JSON `KeyRecord`
//! document, as a [`SecretString`]) and zero or more *stage labels*. Each label is on at most one
//! version of a secret at a time:
//!
//! | [`Stage`]   | AWS label     | meaning                                                   |
//! |-------------|---------------|-----------------------------------------------------------|
//! | `Pending`   | `AWSPENDING`  | the rotation in progress; never read by applications      |
//! | `Current`   | `AWSCURRENT`  | what applications read                                    |
//! | `Previous`  | `AWSPREVIOUS` | the value that was current before the last promote       |
//!
//! The lifecycle of one rotation with token `T`:
//! 1. [`SecretStore::begin_rotation`] labels `T` Pending with no value (AWS's `RotateSecret` does this
//!    before it invokes the rotation Lambda).
//! 2. [`SecretStore::put_pending`] stores the new value for `T` (createSecret).
//! 3. The engine sets and tests the key (no store calls).
//! 4. [`SecretStore::promote`] moves Current from the old version to `T`; the old version becomes
//!    Previous, atomically (finishSecret).
//!
//! Every method is idempotent where the contract says so, so every engine step can be re-run after
//! a crash at any point. No method ever logs or returns key material outside a [`SecretString`].

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;

/// A stage label on a version. Each label is on at most one version of a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    /// `AWSPENDING`: the value being rotated in; applications never read it.
    Pending,
    /// `AWSCURRENT`: the value applications read.
    Current,
    /// `AWSPREVIOUS`: the value that was current before the last promote.
    Previous,
}

impl Stage {
    /// All stages, in lifecycle order.
    pub const ALL: [Stage; 3] = [Stage::Pending, Stage::Current, Stage::Previous];

    /// The AWS Secrets Manager label (`AWSPENDING`, `AWSCURRENT`, `AWSPREVIOUS`).
    pub fn aws_label(self) -> &'static str {
        match self {
            Stage::Pending => "AWSPENDING",
            Stage::Current => "AWSCURRENT",
            Stage::Previous => "AWSPREVIOUS",
        }
    }

    /// Parses an AWS label; other labels (custom staging labels) give `None`.
    pub fn from_aws_label(label: &str) -> Option<Stage> {
        match label {
            "AWSPENDING" => Some(Stage::Pending),
            "AWSCURRENT" => Some(Stage::Current),
            "AWSPREVIOUS" => Some(Stage::Previous),
            _ => None,
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.aws_label())
    }
}

/// One version of a secret as [`SecretStore::describe`] reports it (no value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    /// The version id (for a rotation: its rotation token).
    pub id: String,
    /// The stage labels on this version, sorted, possibly empty.
    pub stages: Vec<Stage>,
    /// When the version was created, where the backend records it.
    pub created_at: Option<DateTime<Utc>>,
}

impl VersionInfo {
    /// Whether `stage` is on this version.
    pub fn has(&self, stage: Stage) -> bool {
        self.stages.contains(&stage)
    }
}

/// What [`SecretStore::describe`] returns: versions and stages, no values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretDescription {
    /// The secret's identifier as the backend names it (ARN for AWS, `MOUNT/PATH` for Vault,
    /// the secret name for memory and file stores).
    pub secret_id: String,
    /// Whether rotation is enabled. `None` when the backend does not say; only an explicit
    /// `Some(false)` disables rotation (AWS templates check `RotationEnabled == false`).
    pub rotation_enabled: Option<bool>,
    /// When the last promote happened (AWS `LastRotatedDate`), where known.
    pub last_rotated: Option<DateTime<Utc>>,
    /// Every version the backend still lists, in no particular order.
    pub versions: Vec<VersionInfo>,
}

impl SecretDescription {
    /// The version with this id, if listed.
    pub fn version(&self, id: &str) -> Option<&VersionInfo> {
        self.versions.iter().find(|v| v.id == id)
    }

    /// The version carrying `stage`, if any.
    pub fn with_stage(&self, stage: Stage) -> Option<&VersionInfo> {
        self.versions.iter().find(|v| v.has(stage))
    }

    /// The stages on version `id` (empty when the version is unknown).
    pub fn stages_of(&self, id: &str) -> &[Stage] {
        self.version(id).map(|v| v.stages.as_slice()).unwrap_or(&[])
    }
}

/// What [`SecretStore::snapshot`] returns: the description and, where the backend read them on
/// the way, the value of every version it lists.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// What [`SecretStore::describe`] would return.
    pub description: SecretDescription,
    /// `Some`: every value [`SecretStore::get_value`] would return for the listed versions,
    /// read by the same requests (a listed version missing here has no value yet). `None`: the
    /// backend did not read values; ask [`SecretStore::get_value`].
    pub values: Option<Vec<SecretValue>>,
}

/// Which version [`SecretStore::get_value`] reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionSelector {
    /// The version that carries this stage.
    Stage(Stage),
    /// The version with this id; with `stage: Some(s)` the read fails with
    /// [`StoreError::NotFound`] unless that version also carries `s`.
    Version { id: String, stage: Option<Stage> },
}

impl VersionSelector {
    /// Shorthand for `Version { id, stage: Some(stage) }`.
    pub fn version_in_stage(id: impl Into<String>, stage: Stage) -> Self {
        VersionSelector::Version {
            id: id.into(),
            stage: Some(stage),
        }
    }
}

impl fmt::Display for VersionSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionSelector::Stage(s) => write!(f, "stage {s}"),
            VersionSelector::Version { id, stage: None } => write!(f, "version {id}"),
            VersionSelector::Version { id, stage: Some(s) } => {
                write!(f, "version {id} in stage {s}")
            }
        }
    }
}

/// A version's value as read from a store. The value is a [`SecretString`]: its `Debug` is redacted.
#[derive(Debug, Clone)]
pub struct SecretValue {
    /// The version id.
    pub version_id: String,
    /// The stage labels on the version at the time of the read.
    pub stages: Vec<Stage>,
    /// The stored document (JSON text of a `KeyRecord`).
    pub value: SecretString,
    /// When the version was created, where the backend records it.
    pub created_at: Option<DateTime<Utc>>,
}

/// A secret's *ledger* as stored: a small document, beside the versions, that only a
/// check-and-set write replaces. The engine keeps in it who owns the secret right now (the
/// lease) and what it is about to create at OpenRouter (intents), so any worker can take over
/// after a crash from the store alone (see `rotor_core::engine::ledger`). It never holds key
/// material, and applications never read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// The revision a check-and-set write must name to replace this document (opaque: a
    /// counter, a KV version, a Secrets Manager version id).
    pub revision: String,
    /// The document (JSON text the engine defines).
    pub document: String,
}

/// Typed store errors, so the engine can decide what is safe to retry. Messages name the secret
/// and what went wrong; they never contain a secret value.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The secret, the version, the stage, or the version's value does not exist.
    #[error("secret {secret}: {what} not found")]
    NotFound { secret: String, what: String },
    /// The write conflicts with the store's state: a different value already stored for the token,
    /// a lost check-and-set race, another rotation already pending, a secret that already exists.
    #[error("secret {secret}: conflict: {message}")]
    Conflict { secret: String, message: String },
    /// The store refuses the operation as configured (unsafe file permissions, a configuration that
    /// would prune a version the rotation relies on, an invalid secret name...).
    #[error("secret {secret}: precondition failed: {message}")]
    Precondition { secret: String, message: String },
    /// The store denied access (HTTP 403, AccessDenied).
    #[error("secret {secret}: access denied: {message}")]
    Denied { secret: String, message: String },
    /// A failure that is safe to retry (throttling, timeouts, connection errors, 5xx).
    #[error("secret {secret}: temporary backend failure: {message}")]
    Transient { secret: String, message: String },
    /// Any other backend failure.
    #[error("secret {secret}: backend error: {message}")]
    Backend { secret: String, message: String },
}

impl StoreError {
    /// Whether repeating the same call may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Transient { .. })
    }

    /// The secret the error is about.
    pub fn secret(&self) -> &str {
        match self {
            StoreError::NotFound { secret, .. }
            | StoreError::Conflict { secret, .. }
            | StoreError::Precondition { secret, .. }
            | StoreError::Denied { secret, .. }
            | StoreError::Transient { secret, .. }
            | StoreError::Backend { secret, .. } => secret,
        }
    }

    pub fn not_found(secret: impl Into<String>, what: impl Into<String>) -> Self {
        StoreError::NotFound {
            secret: secret.into(),
            what: what.into(),
        }
    }
    pub fn conflict(secret: impl Into<String>, message: impl Into<String>) -> Self {
        StoreError::Conflict {
            secret: secret.into(),
            message: message.into(),
        }
    }
    pub fn precondition(secret: impl Into<String>, message: impl Into<String>) -> Self {
        StoreError::Precondition {
            secret: secret.into(),
            message: message.into(),
        }
    }
}

/// A secret store with AWS Secrets Manager's staged versions. Object safe: backends are chosen at
/// run time as `Arc<dyn SecretStore>`.
///
/// Contract shared by all implementations (checked by `rotor_core::conformance`):
/// * Each stage label is on at most one version of a secret.
/// * Values are opaque strings; a store never inspects, logs or returns them outside
///   [`SecretValue::value`].
/// * A version's value, once stored, never changes.
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// A short backend name for logs and status output: `memory`, `file`, `aws`, `vault`.
    fn backend(&self) -> &'static str;

    /// Whether [`begin_rotation`](Self::begin_rotation) refuses a second rotation across
    /// processes (its Pending mark lives in the store). Secrets Manager cannot hold an empty
    /// version outside `RotateSecret`, so its store says `false`, and the engine then checks
    /// again for another rotation right before storing a new key.
    fn begin_rotation_is_exclusive(&self) -> bool {
        true
    }

    /// The largest value (document) the backend accepts, in bytes, where it has a limit
    /// (Secrets Manager: 65,536). The engine refuses a rotation whose document would not fit
    /// before it creates a key.
    fn max_value_bytes(&self) -> Option<usize> {
        None
    }

    /// Versions, their stages, rotation settings. `NotFound` if the secret does not exist.
    async fn describe(&self, secret_id: &str) -> Result<SecretDescription, StoreError>;

    /// [`describe`](Self::describe), plus the values of the listed versions where the backend
    /// reads them anyway (Vault). The default describes and reads no value.
    async fn snapshot(&self, secret_id: &str) -> Result<Snapshot, StoreError> {
        Ok(Snapshot {
            description: self.describe(secret_id).await?,
            values: None,
        })
    }

    /// The secret as it is right after this store's own last successful
    /// [`begin_rotation`](Self::begin_rotation) or [`put_pending`](Self::put_pending) of
    /// `secret_id`, when the store knows it without reading: the view its check-and-set write
    /// started from, plus that write (Vault). Taken once: a second call returns `None`. The
    /// engine's read cache installs it instead of reading again; it is as fresh as the reads
    /// the write started from, which the lease keeps valid (read_cache.rs). Default: `None`
    /// (the cache reads again).
    fn snapshot_after_write(&self, _secret_id: &str) -> Option<Snapshot> {
        None
    }

    /// The value of version `id` of `secret_id` as this store already knows it, without asking
    /// the backend: a backend whose versions never change once written (Secrets Manager) may
    /// remember the values it read or wrote. The `stages` of the result may be out of date; the
    /// engine's read cache asks only for the version a fresh description names and takes the
    /// stages from that description. Default: `None`.
    fn remembered_value(&self, _secret_id: &str, _id: &str) -> Option<SecretValue> {
        None
    }

    /// Reads one version's value. `NotFound` when the secret, the version or the stage does not
    /// exist, or when the version exists but has no value yet (a Pending version created by
    /// [`begin_rotation`](Self::begin_rotation) before createSecret stored its value).
    async fn get_value(
        &self,
        secret_id: &str,
        selector: &VersionSelector,
    ) -> Result<SecretValue, StoreError>;

    /// Creates a new secret whose first version `token` holds `value` and carries Current.
    /// Idempotent: if the secret exists with `token` as Current holding the same value, `Ok`.
    /// Any other existing secret: `Conflict` (nothing changed).
    async fn create_secret(
        &self,
        secret_id: &str,
        token: &str,
        value: &SecretString,
    ) -> Result<(), StoreError>;

    /// Starts a rotation the way AWS's `RotateSecret` does before it invokes the Lambda: version
    /// `token` exists and carries Pending, without a value.
    /// * `token` already carries Pending (with or without a value), or carries Current: `Ok`, no change.
    /// * another version carries Pending and not Current (a rotation in progress): `Conflict`,
    ///   naming that version. (Pending left on the Current version after a finished rotation, which
    ///   AWS clears asynchronously, does not block: the label moves to `token`.)
    /// * `token` names an existing version that carries neither Pending nor Current: `Conflict`.
    /// * `NotFound` if the secret does not exist.
    async fn begin_rotation(&self, secret_id: &str, token: &str) -> Result<(), StoreError>;

    /// Stores `value` as version `token` and labels it Pending (createSecret). If another version
    /// carried Pending, the label moves to `token` (AWS `PutSecretValue` semantics).
    /// * `token` already holds exactly `value`: `Ok`, no change (idempotent re-run).
    /// * `token` already holds a different value: `Conflict`, nothing changed.
    /// * `NotFound` if the secret does not exist.
    async fn put_pending(
        &self,
        secret_id: &str,
        token: &str,
        value: &SecretString,
    ) -> Result<(), StoreError>;

    /// Moves Current from version `from` to version `token` in one atomic step (finishSecret,
    /// and rollback: promoting the Previous version). Version `from` becomes Previous (the label
    /// leaves whatever version had it). Pending is removed from `token` (AWS removes it
    /// asynchronously; callers must not rely on the timing). Checked in this order (so the loser of
    /// a race always gets `Conflict`, even if the winner's promote made its version unlabeled):
    /// * `NotFound` if the secret does not exist.
    /// * `token` already carries Current: `Ok`, no change.
    /// * Current is not on `from` (another promote won the race): `Conflict`, nothing changed.
    /// * `token` unknown or without a value: `NotFound`, nothing changed.
    async fn promote(&self, secret_id: &str, token: &str, from: &str) -> Result<(), StoreError>;

    /// Removes Pending from version `token`: abandons a rotation, or tidies up after a promote (what
    /// AWS does by itself after finishSecret). Other labels on `token` stay. A version left with no
    /// stage may be forgotten by the store. `Ok`, no change, if `token` does not carry Pending
    /// (including an unknown `token`). `NotFound` if the secret does not exist.
    async fn clear_pending(&self, secret_id: &str, token: &str) -> Result<(), StoreError>;

    /// The secret's ledger, `None` when none was ever written. `NotFound` if the secret does
    /// not exist. Always reads the latest revision (no cache).
    async fn read_ledger(&self, secret_id: &str) -> Result<Option<LedgerEntry>, StoreError>;

    /// Replaces the ledger with `document` if its revision is still `expected` (`None`: no
    /// ledger was ever written), and returns the new revision. A check-and-set:
    /// * the revision moved on (another writer came first): `Conflict`, nothing changed;
    /// * `NotFound` if the secret does not exist.
    ///
    /// Writing the ledger never changes a version, a stage, or what `describe` lists.
    async fn write_ledger(
        &self,
        secret_id: &str,
        expected: Option<&str>,
        document: &str,
    ) -> Result<String, StoreError>;
}
