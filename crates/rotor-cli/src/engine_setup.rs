//! The engine every command uses, and how engine errors become exit codes.

use rotor_core::engine::{Engine, EngineError, ErrorKind};
use rotor_core::policy::Policy;

use crate::args::OpenRouterArgs;
use crate::error::{CliError, Exit};

impl From<EngineError> for CliError {
    /// The documented exit codes: 2 bad input, 3 the secret's state forbids it, 4 upstream.
    fn from(e: EngineError) -> Self {
        let exit = match e.kind() {
            ErrorKind::InvalidInput => Exit::Usage,
            ErrorKind::Precondition | ErrorKind::Conflict => Exit::Precondition,
            ErrorKind::KeyCheckFailed | ErrorKind::Upstream => Exit::Upstream,
        };
        CliError {
            exit,
            message: e.to_string(),
        }
    }
}

/// The policy defaults (ROTOR_* variables) and an engine for the configured OpenRouter.
pub async fn engine(openrouter: &OpenRouterArgs) -> Result<Engine, CliError> {
    let defaults = Policy::from_env().map_err(|e| CliError::usage(e.to_string()))?;
    let client = crate::management::client(openrouter).await?;
    Ok(Engine::new(client, defaults))
}
