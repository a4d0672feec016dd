//! [`EngineError`]: what went wrong in a rotation, with the secret, step and token it concerns and
//! what to do next. No message ever contains key material.

use std::fmt;

use crate::engine::Step;
use crate::record::RecordError;
use crate::store::StoreError;

/// Where an error happened: the secret, and the step and rotation token when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub secret: String,
    pub step: Option<Step>,
    pub token: Option<String>,
}

impl Scope {
    pub(crate) fn new(secret: &str, step: Option<Step>, token: Option<&str>) -> Self {
        Scope {
            secret: secret.to_owned(),
            step,
            token: token.map(str::to_owned),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "secret {}", self.secret)?;
        if let Some(step) = self.step {
            write!(f, ", {step}")?;
        }
        if let Some(token) = &self.token {
            write!(f, ", token {token}")?;
        }
        Ok(())
    }
}

/// The broad class of an error, for exit codes and retry decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The caller asked for something invalid (unknown step, bad policy value).
    InvalidInput,
    /// The secret's state does not allow the operation (not found, wrong token, rotation disabled,
    /// malformed document, key of another account).
    Precondition,
    /// Another rotation or writer got in the way.
    Conflict,
    /// The new key did not pass its test.
    KeyCheckFailed,
    /// OpenRouter or the store failed (possibly temporarily).
    Upstream,
}

/// Errors of the rotation engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A secret store call failed.
    #[error("{scope}: {action} failed: {source}{}", retry_hint(.source.is_retryable()))]
    Store {
        scope: Scope,
        action: String,
        source: StoreError,
    },

    /// An OpenRouter call failed.
    #[error("{scope}: {action} failed: {source}{}", retry_hint(.source.is_transient()))]
    OpenRouter {
        scope: Scope,
        action: String,
        source: rotor_openrouter::Error,
    },

    /// A stored document could not be parsed.
    #[error(
        "{scope}: the {which} document cannot be used: {source}; fix the stored value (rotor changed nothing)"
    )]
    Record {
        scope: Scope,
        which: String,
        source: RecordError,
    },

    /// The store says rotation is disabled for this secret.
    #[error(
        "{scope}: rotation is disabled for this secret; enable rotation first (rotor changed nothing)"
    )]
    RotationDisabled { scope: Scope },

    /// The token is not a version of the secret.
    #[error(
        "{scope}: the token is not a version of this secret (version has no stage for rotation); \
         check the token with `rotor status`, or start a new rotation with `rotor rotate`"
    )]
    UnknownToken { scope: Scope },

    /// The token's version is neither Pending nor Current.
    #[error(
        "{scope}: the version is not set as AWSPENDING (its stages: {stages}); it belongs to an \
         earlier or abandoned rotation: start a new rotation with `rotor rotate`"
    )]
    NotPending { scope: Scope, stages: String },

    /// The secret is not in a state that allows the operation.
    #[error("{scope}: {message}")]
    Precondition { scope: Scope, message: String },

    /// Another rotation or writer got in the way.
    #[error("{scope}: {message}")]
    Conflict { scope: Scope, message: String },

    /// A document refers to a key this management key cannot see (confused deputy guard).
    #[error(
        "{scope}: the {which} document's key (hash {key_hash}) does not exist in this OpenRouter \
         account: it belongs to another account, or it was deleted; rotor will not write a key of \
         this account into that secret. Check the management key and the secret (rotor changed nothing)"
    )]
    ForeignKey {
        scope: Scope,
        which: &'static str,
        key_hash: String,
    },

    /// The pending key failed testSecret.
    #[error("{scope}: the new key failed its test: {message}")]
    KeyCheck { scope: Scope, message: String },

    /// A create request was sent but its outcome is unknown; rotor cleaned up what it could find.
    #[error("{scope}: {message}")]
    OutcomeUnknown { scope: Scope, message: String },

    /// Invalid input from the caller (unknown step name, bad configuration).
    #[error("{message}")]
    InvalidInput { message: String },

    /// Another worker holds the secret's lease: nothing was changed.
    #[error(
        "{scope}: another worker ({holder}, running {operation}) holds this secret's lease until {until}; \
         rotor changed nothing. Wait for it to finish (or, if it crashed, for the lease to end) and retry"
    )]
    Busy {
        scope: Scope,
        holder: String,
        operation: String,
        until: chrono::DateTime<chrono::Utc>,
    },

    /// This worker's lease ended and another worker took the secret over; this worker stopped
    /// before its next action.
    #[error(
        "{scope}: this worker's lease on the secret ended and another worker took it over, so rotor \
         stopped before changing anything more; run `rotor status` and retry if needed"
    )]
    LeaseLost { scope: Scope },

    /// A rotation would leave more live keys (or a larger document) than the bounds allow.
    #[error("{scope}: {message}")]
    Bounds { scope: Scope, message: String },

    /// A step of `rotate`/`resume` failed; the rotation stays pending and can be resumed.
    #[error(
        "{source}; the rotation (token {token}) stays pending: resume it with `rotor rotate --resume` \
         or `rotor step --step {step} --token {token}` once the cause is fixed"
    )]
    RotationIncomplete {
        token: String,
        step: Step,
        source: Box<EngineError>,
    },
}

fn retry_hint(retryable: bool) -> &'static str {
    if retryable {
        " (temporary: retrying the same step is safe)"
    } else {
        ""
    }
}

impl EngineError {
    /// Whether repeating the same call (same step, same token) may succeed without any change.
    pub fn is_retryable(&self) -> bool {
        match self {
            EngineError::Store { source, .. } => source.is_retryable(),
            EngineError::OpenRouter { source, .. } => source.is_transient(),
            EngineError::OutcomeUnknown { .. } => true,
            EngineError::RotationIncomplete { source, .. } => source.is_retryable(),
            _ => false,
        }
    }

    /// The broad class of the error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            EngineError::InvalidInput { .. } => ErrorKind::InvalidInput,
            EngineError::Store {
                source: StoreError::Conflict { .. },
                ..
            }
            | EngineError::Conflict { .. }
            | EngineError::Busy { .. }
            | EngineError::LeaseLost { .. }
            | EngineError::Bounds { .. } => ErrorKind::Conflict,
            EngineError::Store {
                source: StoreError::NotFound { .. } | StoreError::Precondition { .. },
                ..
            }
            | EngineError::Record { .. }
            | EngineError::RotationDisabled { .. }
            | EngineError::UnknownToken { .. }
            | EngineError::NotPending { .. }
            | EngineError::Precondition { .. }
            | EngineError::ForeignKey { .. } => ErrorKind::Precondition,
            EngineError::KeyCheck { .. } => ErrorKind::KeyCheckFailed,
            EngineError::Store { .. }
            | EngineError::OpenRouter { .. }
            | EngineError::OutcomeUnknown { .. } => ErrorKind::Upstream,
            EngineError::RotationIncomplete { source, .. } => source.kind(),
        }
    }
}
