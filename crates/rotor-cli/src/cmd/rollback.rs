//! `rotor rollback TARGET`: make the previous key current again. User documentation:
//! docs/lifecycle.md.

use chrono::Utc;
use serde_json::json;

use crate::args::OpenRouterArgs;
use crate::engine_setup::engine;
use crate::error::{CliError, Exit};
use crate::output::{Output, at};
use crate::target::Target;

pub async fn run(out: &Output, target: &str, or: &OpenRouterArgs) -> Result<Exit, CliError> {
    let target = Target::parse(target)?;
    let store = target.open_store().await?;
    let engine = engine(or).await?;
    let r = engine.rollback(store.as_ref(), &target.secret_id()).await?;
    if out.is_json() {
        out.print_json(&json!({"target": target.to_string(), "rollback": r}));
    } else {
        println!(
            "rolled back {target}: applications read key {} again{}",
            r.restored_key_hash,
            if r.reenabled {
                " (it was disabled and is enabled again)"
            } else {
                ""
            }
        );
        println!("  new current version {}", r.version_id);
        println!(
            "  the failed key {} stays alive until {} and is then retired like any older key (`rotor retire`)",
            r.failed_key_hash,
            at(r.failed_key_grace_ends_at, Utc::now())
        );
    }
    Ok(Exit::Ok)
}
