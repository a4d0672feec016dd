//! `rotor retire`, `rollback`, `revoke`, `sweep` (issue 6). Being implemented.

use std::path::Path;

use crate::args::OpenRouterArgs;
use crate::error::{CliError, Exit};
use crate::output::Output;

fn todo_err(what: &str) -> CliError {
    CliError::internal(format!("rotor {what} is not implemented yet"))
}

pub async fn retire(
    _out: &Output,
    _target: &str,
    _force: bool,
    _or: &OpenRouterArgs,
) -> Result<Exit, CliError> {
    Err(todo_err("retire"))
}

pub async fn rollback(
    _out: &Output,
    _target: &str,
    _or: &OpenRouterArgs,
) -> Result<Exit, CliError> {
    Err(todo_err("rollback"))
}

pub async fn revoke(
    _out: &Output,
    _target: &str,
    _hash: Option<&str>,
    _yes: bool,
    _or: &OpenRouterArgs,
) -> Result<Exit, CliError> {
    Err(todo_err("revoke"))
}

pub async fn sweep(
    _out: &Output,
    _targets: &[String],
    _config: Option<&Path>,
    _delete: bool,
    _yes: bool,
    _or: &OpenRouterArgs,
) -> Result<Exit, CliError> {
    Err(todo_err("sweep"))
}
