//! `--dry-run`: plan a mutating command with the library (reads only) and print the plan.

use std::path::Path;

use rotor_core::engine::{DryRun, Engine, PlanOp, PlannedChange};
use serde_json::json;

use crate::args::OpenRouterArgs;
use crate::engine_setup::{engine, engine_error};
use crate::error::{CliError, Exit};
use crate::output::Output;
use crate::target::Target;

/// Plans `op` on one target and prints it. Exit 3 when the command would be refused.
pub async fn one(
    out: &Output,
    target: &str,
    op: PlanOp,
    or: &OpenRouterArgs,
) -> Result<Exit, CliError> {
    let engine = engine(or).await?;
    let plans = [plan(&engine, target, op).await?];
    print(out, &plans);
    Ok(exit_of(&plans))
}

/// Plans `op` on every secret of the configuration file (`--all --dry-run`).
pub async fn fleet(
    out: &Output,
    config: Option<&Path>,
    op: PlanOp,
    or: &OpenRouterArgs,
) -> Result<Exit, CliError> {
    let path = crate::config::require(config, "--all")?;
    let config = crate::config::RotorConfig::load(&path)?;
    let client = crate::management::client(&config.openrouter_args(or)).await?;
    let engine = Engine::new(client, config.policy()?);
    let mut plans = Vec::new();
    for s in &config.secrets {
        plans.push(plan(&engine, &s.target, op.clone()).await?);
    }
    print(out, &plans);
    Ok(exit_of(&plans))
}

async fn plan(engine: &Engine, target: &str, op: PlanOp) -> Result<DryRun, CliError> {
    let target = Target::parse(target)?;
    let store = target.open_store().await?;
    engine
        .dry_run(store.as_ref(), &target.secret_id(), op)
        .await
        .map_err(engine_error)
}

fn exit_of(plans: &[DryRun]) -> Exit {
    if plans.iter().any(|p| p.refused.is_some()) {
        Exit::Precondition
    } else {
        Exit::Ok
    }
}

fn print(out: &Output, plans: &[DryRun]) {
    if out.is_json() {
        out.print_json(&json!({ "dry_run": plans }));
        return;
    }
    for p in plans {
        println!(
            "dry run of `{}` on {} (nothing changed):",
            p.operation, p.secret_id
        );
        if let Some(why) = &p.refused {
            println!("  would be refused: {why}");
            continue;
        }
        if p.changes.is_empty() {
            println!("  nothing to do");
        }
        for c in &p.changes {
            match c {
                PlannedChange::CreateSecret => {
                    println!("  would create the secret with the new key as current")
                }
                PlannedChange::CreateKey { key } => {
                    println!("  would create key {:?}", key.name);
                    println!(
                        "    limit {}{}, include BYOK {}, expires {}, workspace {}",
                        key.limit
                            .map(|l| format!("${l}"))
                            .unwrap_or_else(|| "none".into()),
                        key.limit_reset
                            .map(|r| format!(" reset {r}"))
                            .unwrap_or_default(),
                        key.include_byok_in_limit,
                        key.expires_at
                            .map(|t| t.to_rfc3339())
                            .unwrap_or_else(|| "never".into()),
                        key.workspace_id.as_deref().unwrap_or("default"),
                    );
                    if !key.guardrails.is_empty() {
                        println!("    assigned to guardrails {}", key.guardrails.join(", "));
                    }
                }
                PlannedChange::Promote { replaces_key_hash } => println!(
                    "  would make the new key current; {replaces_key_hash} would become previous (alive through its grace period)"
                ),
                PlannedChange::Restore { key_hash } => {
                    println!("  would make the previous key {key_hash} current again")
                }
                PlannedChange::DisableKey { key_hash, reason } => {
                    println!("  would disable key {key_hash} ({reason})")
                }
                PlannedChange::DeleteKey { key_hash, reason } => {
                    println!("  would delete key {key_hash} ({reason})")
                }
                PlannedChange::ClearPending { token } => {
                    println!("  would give up the pending rotation {token}")
                }
            }
        }
    }
}
