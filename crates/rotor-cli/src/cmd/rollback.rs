//! `rotor rollback TARGET`: make the previous key current again. User documentation:
//! docs/lifecycle.md.

use crate::args::OpenRouterArgs;
use crate::engine_setup::engine;
use crate::error::{CliError, Exit};
use crate::output::Output;
use crate::target::Target;

pub async fn run(out: &Output, target: &str, or: &OpenRouterArgs) -> Result<Exit, CliError> {
    let target = Target::parse(target)?;
    let store = target.open_store().await?;
    let engine = engine(or).await?;
    let r = engine.rollback(store.as_ref(), &target.secret_id()).await?;
    out.rollback(&target, &r);
    Ok(Exit::Ok)
}
