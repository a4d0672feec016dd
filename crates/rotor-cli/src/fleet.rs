//! Fleet operations: `--config FILE --all` (issue 6). Being implemented.

use crate::args::{FleetArgs, OpenRouterArgs};
use crate::error::{CliError, Exit};
use crate::output::Output;

/// Which operation to run on every secret.
#[derive(Debug, Clone, Copy)]
pub enum FleetOp {
    Rotate,
    Status,
    Retire { force: bool },
}

pub async fn run(
    _out: &Output,
    _op: FleetOp,
    fleet: &FleetArgs,
    _or: &OpenRouterArgs,
) -> Result<Exit, CliError> {
    let _ = fleet;
    Err(CliError::internal(
        "fleet operations are not implemented yet",
    ))
}
