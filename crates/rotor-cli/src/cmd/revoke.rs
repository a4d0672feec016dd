//! `rotor revoke TARGET [--hash H] [--yes]`: emergency rotation and deletion of old keys.
//! User documentation: docs/lifecycle.md.

use super::confirm::confirm;
use crate::args::OpenRouterArgs;
use crate::engine_setup::engine;
use crate::error::{CliError, Exit};
use crate::output::Output;
use crate::target::Target;

pub async fn run(
    out: &Output,
    target: &str,
    hash: Option<&str>,
    yes: bool,
    or: &OpenRouterArgs,
) -> Result<Exit, CliError> {
    let target = Target::parse(target)?;
    let question = match hash {
        Some(h) => format!("delete key {h} of {target} now?"),
        None => format!(
            "rotate {target} now and delete ALL its older keys at once (whoever still uses them loses access)?"
        ),
    };
    confirm(&question, yes)?;
    let store = target.open_store().await?;
    let engine = engine(or).await?;
    let secret_id = target.secret_id();
    let r = match hash {
        Some(h) => engine.revoke_key(store.as_ref(), &secret_id, h).await,
        None => engine.revoke(store.as_ref(), &secret_id).await,
    }?;
    out.revocation(&target, &r);
    Ok(Exit::Ok)
}
