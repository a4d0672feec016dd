//! `rotor daemon --config rotor.toml`: runs the scheduler of `crate::daemon` until SIGTERM.

use std::path::Path;

use crate::args::OpenRouterArgs;
use crate::error::{CliError, Exit};
use crate::output::Output;

pub async fn run(
    out: &Output,
    config: Option<&Path>,
    listen: Option<&str>,
    or: &OpenRouterArgs,
) -> Result<Exit, CliError> {
    let config = crate::config::require(config, "rotor daemon")?;
    crate::daemon::run(out, &config, listen, or).await
}
