//! The subcommands. `run` hands a parsed command line to its module under `cmd/` (one per
//! subcommand): each resolves its settings (target, store, engine), calls the library, and
//! prints the result through `crate::output`.

mod confirm;
mod daemon;
mod demo;
mod dry_run;
mod fleet;
mod help;
mod init;
mod retire;
mod revoke;
mod rollback;
mod rotate;
mod status;
mod step;
mod sweep;

use crate::args::{Cli, Command, FleetArgs};
use crate::error::{CliError, Exit};
use crate::output::Output;

pub async fn run(cli: Cli) -> Result<Exit, CliError> {
    let out = Output::new(cli.global.json);
    if cli.global.dry_run {
        return dry_run::run(&out, cli.command).await;
    }
    match cli.command {
        Command::Demo { rotations } => demo::run(rotations, &out).await,
        Command::Init {
            target,
            openrouter,
            policy,
        } => init::run(&out, &target, &openrouter, &policy).await,
        Command::Rotate {
            target: Some(target),
            fleet: FleetArgs { all: false, .. },
            openrouter,
            resume,
            abandon: false,
            local,
        } => rotate::rotate(&out, &target, &openrouter, resume, local).await,
        Command::Rotate {
            target: Some(target),
            fleet: FleetArgs { all: false, .. },
            openrouter,
            abandon: true,
            ..
        } => rotate::abandon(&out, &target, &openrouter).await,
        Command::Rotate {
            fleet,
            openrouter,
            resume,
            abandon,
            local,
            ..
        } => {
            if resume || local || abandon {
                return Err(CliError::usage(
                    "--resume, --abandon and --local apply to one target, not to --all",
                ));
            }
            fleet::run(&out, fleet::FleetOp::Rotate, &fleet, &openrouter).await
        }
        Command::Step {
            target,
            step,
            token,
            openrouter,
        } => step::run(&out, &target, step.as_str(), &token, &openrouter).await,
        Command::Status {
            target: Some(target),
            fleet: FleetArgs { all: false, .. },
            openrouter,
        } => status::run(&out, &target, &openrouter).await,
        Command::Status {
            fleet, openrouter, ..
        } => fleet::run(&out, fleet::FleetOp::Status, &fleet, &openrouter).await,
        Command::Daemon {
            config,
            listen,
            openrouter,
        } => daemon::run(&out, config.as_deref(), listen.as_deref(), &openrouter).await,
        Command::Retire {
            target: Some(target),
            fleet: FleetArgs { all: false, .. },
            force,
            reenable,
            openrouter,
        } => retire::run(&out, &target, force, reenable.as_deref(), &openrouter).await,
        Command::Retire {
            fleet,
            force,
            openrouter,
            ..
        } => fleet::run(&out, fleet::FleetOp::Retire { force }, &fleet, &openrouter).await,
        Command::Rollback { target, openrouter } => rollback::run(&out, &target, &openrouter).await,
        Command::Revoke {
            target,
            hash,
            yes,
            openrouter,
        } => revoke::run(&out, &target, hash.as_deref(), yes, &openrouter).await,
        Command::Sweep {
            targets,
            config,
            delete,
            yes,
            min_age,
            openrouter,
        } => {
            // Without targets, the config file is what names the secrets: discover it.
            let config = match (config, targets.is_empty()) {
                (None, true) => crate::config::discover(None),
                (config, _) => config,
            };
            let args = sweep::SweepArgs {
                config: config.as_deref(),
                delete,
                yes,
                min_age: &min_age,
            };
            sweep::run(&out, &targets, args, &openrouter).await
        }
        Command::Completions { shell } => {
            help::completions(shell);
            Ok(Exit::Ok)
        }
        Command::Man => help::man(),
    }
}
