//! The CLI's errors and their exit codes.

use std::process::ExitCode;

/// Documented exit codes (README "Exit codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: done.
    Ok = 0,
    /// 1: an unexpected internal error.
    Internal = 1,
    /// 2: bad command line, target or configuration; nothing was done.
    Usage = 2,
    /// 3: the secret's state forbids it (not found, already initialised, rotation in progress or
    /// disabled, malformed document, conflict); nothing was changed.
    Precondition = 3,
    /// 4: OpenRouter or the secret store failed; safe to retry (steps are idempotent).
    Upstream = 4,
    /// 5: partly done: some secrets of a fleet operation failed, or an old key could not be
    /// retired because it still receives traffic.
    Partial = 5,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

/// An error the CLI reports on stderr before exiting with `exit`.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    pub exit: Exit,
    pub message: String,
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> Self {
        CliError {
            exit: Exit::Usage,
            message: message.into(),
        }
    }
    pub fn precondition(message: impl Into<String>) -> Self {
        CliError {
            exit: Exit::Precondition,
            message: message.into(),
        }
    }
    pub fn internal(message: impl Into<String>) -> Self {
        CliError {
            exit: Exit::Internal,
            message: message.into(),
        }
    }
}

impl From<rotor_core::StoreError> for CliError {
    fn from(e: rotor_core::StoreError) -> Self {
        use rotor_core::StoreError as S;
        let exit = match &e {
            S::NotFound { .. } | S::Conflict { .. } | S::Precondition { .. } | S::Denied { .. } => {
                Exit::Precondition
            }
            S::Transient { .. } | S::Backend { .. } => Exit::Upstream,
        };
        CliError {
            exit,
            message: e.to_string(),
        }
    }
}

impl From<rotor_openrouter::Error> for CliError {
    fn from(e: rotor_openrouter::Error) -> Self {
        let exit = match e {
            rotor_openrouter::Error::Config { .. } => Exit::Usage,
            _ => Exit::Upstream,
        };
        CliError {
            exit,
            message: e.to_string(),
        }
    }
}
