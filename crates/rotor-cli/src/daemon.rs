//! `rotor daemon` (issue 5). Being implemented.

use std::path::Path;

use crate::args::OpenRouterArgs;
use crate::error::{CliError, Exit};
use crate::output::Output;

pub async fn run(
    _out: &Output,
    config: &Path,
    _listen: Option<&str>,
    _or: &OpenRouterArgs,
) -> Result<Exit, CliError> {
    let _ = crate::config::RotorConfig::load(config)?;
    Err(CliError::internal("rotor daemon is not implemented yet"))
}
