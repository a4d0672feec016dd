//! `rotor retire TARGET [--force] [--reenable HASH]`: usage-aware retirement of older keys.
//! User documentation: docs/lifecycle.md.

use crate::args::OpenRouterArgs;
use crate::engine_setup::engine;
use crate::error::{CliError, Exit};
use crate::output::Output;
use crate::target::Target;

pub async fn run(
    out: &Output,
    target: &str,
    force: bool,
    reenable: Option<&str>,
    or: &OpenRouterArgs,
) -> Result<Exit, CliError> {
    let target = Target::parse(target)?;
    let store = target.open_store().await?;
    let engine = engine(or).await?;
    let secret_id = target.secret_id();
    if let Some(hash) = reenable {
        let r = engine.reenable(store.as_ref(), &secret_id, hash).await?;
        out.reenable(&target, &r);
        return Ok(Exit::Ok);
    }
    let r = engine.retire(store.as_ref(), &secret_id, force).await?;
    out.retirement(&target, &r);
    if r.stuck {
        eprintln!(
            "rotor: error: {target}: an old key still receives traffic past max_retirement_wait and was not deleted (exit 5)"
        );
        return Ok(Exit::Partial);
    }
    Ok(Exit::Ok)
}
