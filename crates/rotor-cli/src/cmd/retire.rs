//! `rotor retire TARGET [--force] [--reenable HASH]`: usage-aware retirement of older keys.
//! User documentation: docs/lifecycle.md.

use chrono::Utc;
use rotor_core::engine::RetireReport;
use serde_json::json;

use crate::args::OpenRouterArgs;
use crate::engine_setup::engine;
use crate::error::{CliError, Exit};
use crate::output::{Output, at, short};
use crate::target::Target;

fn print_retirement(target: &Target, r: &RetireReport) {
    let now = Utc::now();
    println!("retire {target}");
    if r.keys.is_empty() {
        println!("  no older keys recorded: nothing to retire");
    }
    for k in &r.keys {
        println!(
            "  key {} {:?}: {}",
            short(&k.key_hash),
            k.key_name,
            crate::output::decision_text(k, &target.to_string(), now)
        );
        if let Some(trend) = k.usage_trend() {
            println!("      usage {trend}");
        }
    }
    if let Some(v) = &r.saved_version {
        println!(
            "  retirement state saved (bookkeeping version {v}; applications read the same key)"
        );
    }
    if let Some(n) = &r.note {
        println!("  note: {n}");
    }
    if r.observing().next().is_some() {
        println!(
            "  rotor samples usage only when it runs: run `rotor retire {target}` again after the time shown (or let the daemon do it)"
        );
    }
}

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
        if out.is_json() {
            out.print_json(&json!({"target": target.to_string(), "reenable": r}));
        } else {
            println!(
                "re-enabled key {} of {target}{}; its retirement restarts: grace period until {}",
                r.key_hash,
                if r.was_disabled {
                    ""
                } else {
                    " (it was not disabled)"
                },
                at(r.grace_ends_at, Utc::now())
            );
        }
        return Ok(Exit::Ok);
    }
    let r = engine.retire(store.as_ref(), &secret_id, force).await?;
    if out.is_json() {
        out.print_json(&json!({"target": target.to_string(), "retire": r}));
    } else {
        print_retirement(&target, &r);
    }
    if r.stuck {
        eprintln!(
            "rotor: error: {target}: an old key still receives traffic past max_retirement_wait and was not deleted (exit 5)"
        );
        return Ok(Exit::Partial);
    }
    Ok(Exit::Ok)
}
