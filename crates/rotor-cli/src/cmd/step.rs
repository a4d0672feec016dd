//! `rotor step TARGET --step STEP --token T`: one step of a rotation, for recovery.

use rotor_core::engine::Step;

use crate::args::OpenRouterArgs;
use crate::backends::open;
use crate::engine_setup::engine;
use crate::error::{CliError, Exit};
use crate::output::Output;

pub async fn run(
    out: &Output,
    target: &str,
    step: &str,
    token: &str,
    or: &OpenRouterArgs,
) -> Result<Exit, CliError> {
    let step: Step = step
        .parse()
        .map_err(|e: rotor_core::engine::EngineError| CliError::usage(e.to_string()))?;
    let (target, store) = open(target).await?;
    let engine = engine(or).await?;
    let report = engine
        .step(store.as_ref(), &target.secret_id(), step, token)
        .await?;
    out.step(&target, &report);
    Ok(Exit::Ok)
}
