//! `rotor status TARGET`: stages, keys, ages, and whether each key works.

use crate::args::OpenRouterArgs;
use crate::backends::open;
use crate::engine_setup::engine;
use crate::error::{CliError, Exit};
use crate::output::Output;

pub async fn run(out: &Output, target: &str, or: &OpenRouterArgs) -> Result<Exit, CliError> {
    let (target, store) = open(target).await?;
    let engine = engine(or).await?;
    let status = engine.status(store.as_ref(), &target.secret_id()).await?;
    out.status(&target, &status);
    Ok(Exit::Ok)
}
