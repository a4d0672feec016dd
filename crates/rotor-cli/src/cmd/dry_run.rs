//! `--dry-run`: plan a mutating command with the library (reads only) and print the plan.

use std::path::Path;

use rotor_core::engine::{DryRun, Engine, PlanOp};

use crate::args::{Command, FleetArgs, OpenRouterArgs};
use crate::engine_setup::engine;
use crate::error::{CliError, Exit};
use crate::output::Output;
use crate::target::Target;

/// `--dry-run`: the plan of a mutating command; nothing changes.
pub async fn run(out: &Output, command: Command) -> Result<Exit, CliError> {
    let unsupported = |what: &str| {
        Err(CliError::usage(format!(
            "--dry-run does not apply to {what}: it shows what init, rotate, rotate --abandon, retire, \
             rollback, revoke and sweep --delete would do"
        )))
    };
    match command {
        Command::Init {
            target,
            openrouter,
            policy,
        } => {
            let secret_id = Target::parse(&target)?.secret_id();
            let overrides = super::init::overrides(&secret_id, &policy)?;
            plan_one(out, &target, PlanOp::Init(overrides), &openrouter).await
        }
        Command::Rotate { resume: true, .. } => unsupported("rotate --resume"),
        Command::Rotate {
            target: Some(target),
            fleet: FleetArgs { all: false, .. },
            openrouter,
            abandon,
            ..
        } => {
            let op = if abandon {
                PlanOp::Abandon
            } else {
                PlanOp::Rotate
            };
            plan_one(out, &target, op, &openrouter).await
        }
        Command::Rotate {
            fleet, openrouter, ..
        } => plan_fleet(out, fleet.config.as_deref(), PlanOp::Rotate, &openrouter).await,
        Command::Retire {
            reenable: Some(_), ..
        } => unsupported("retire --reenable"),
        Command::Retire {
            target: Some(target),
            fleet: FleetArgs { all: false, .. },
            force,
            openrouter,
            ..
        } => plan_one(out, &target, PlanOp::Retire { force }, &openrouter).await,
        Command::Retire {
            fleet,
            force,
            openrouter,
            ..
        } => {
            plan_fleet(
                out,
                fleet.config.as_deref(),
                PlanOp::Retire { force },
                &openrouter,
            )
            .await
        }
        Command::Rollback { target, openrouter } => {
            plan_one(out, &target, PlanOp::Rollback, &openrouter).await
        }
        Command::Revoke {
            target,
            hash,
            openrouter,
            ..
        } => plan_one(out, &target, PlanOp::Revoke { key_hash: hash }, &openrouter).await,
        Command::Sweep {
            targets,
            config,
            min_age,
            openrouter,
            ..
        } => {
            let config = match (config, targets.is_empty()) {
                (None, true) => crate::config::discover(None),
                (config, _) => config,
            };
            // The listing is the plan: it deletes nothing.
            let sweep = super::sweep::SweepArgs {
                config: config.as_deref(),
                delete: false,
                yes: true,
                min_age: &min_age,
            };
            super::sweep::run(out, &targets, sweep, &openrouter).await
        }
        Command::Step { .. } => unsupported("rotor step"),
        Command::Daemon { .. } => unsupported("rotor daemon"),
        Command::Demo { .. } => unsupported("rotor demo"),
        Command::Status { .. } | Command::Completions { .. } | Command::Man => {
            unsupported("a command that changes nothing")
        }
    }
}

/// Plans `op` on one target and prints it. Exit 3 when the command would be refused.
async fn plan_one(
    out: &Output,
    target: &str,
    op: PlanOp,
    or: &OpenRouterArgs,
) -> Result<Exit, CliError> {
    let engine = engine(or).await?;
    let plans = [plan(&engine, target, op).await?];
    out.plans(&plans);
    Ok(exit_of(&plans))
}

/// Plans `op` on every secret of the configuration file (`--all --dry-run`).
async fn plan_fleet(
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
    out.plans(&plans);
    Ok(exit_of(&plans))
}

async fn plan(engine: &Engine, target: &str, op: PlanOp) -> Result<DryRun, CliError> {
    let target = Target::parse(target)?;
    let store = target.open_store().await?;
    Ok(engine
        .dry_run(store.as_ref(), &target.secret_id(), op)
        .await?)
}

fn exit_of(plans: &[DryRun]) -> Exit {
    if plans.iter().any(|p| p.refused.is_some()) {
        Exit::Precondition
    } else {
        Exit::Ok
    }
}
