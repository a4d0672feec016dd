//! One function per subcommand: build what it needs, call the library, print the result.

use std::sync::Arc;
use std::time::Duration;

use rotor_core::SecretStore;
use rotor_core::engine::Step;
use rotor_core::policy::PolicyOverrides;
use serde_json::{Map, Value};

use crate::args::{ByokArg, Cli, Command, FleetArgs, LimitResetArg, OpenRouterArgs, PolicyArgs};
use crate::engine_setup::{engine, engine_error};
use crate::error::{CliError, Exit};
use crate::output::Output;
use crate::target::Target;

pub async fn run(cli: Cli) -> Result<Exit, CliError> {
    let out = Output::new(cli.global.json);
    if cli.global.dry_run {
        return dry_run(&out, cli.command).await;
    }
    match cli.command {
        Command::Demo { rotations } => crate::demo::run(rotations, &out).await,
        Command::Init {
            target,
            openrouter,
            policy,
        } => init(&out, &target, &openrouter, &policy).await,
        Command::Rotate {
            target: Some(target),
            fleet: FleetArgs { all: false, .. },
            openrouter,
            resume,
            abandon: false,
            local,
        } => rotate(&out, &target, &openrouter, resume, local).await,
        Command::Rotate {
            target: Some(target),
            fleet: FleetArgs { all: false, .. },
            openrouter,
            abandon: true,
            ..
        } => abandon(&out, &target, &openrouter).await,
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
            crate::fleet::run(&out, crate::fleet::FleetOp::Rotate, &fleet, &openrouter).await
        }
        Command::Step {
            target,
            step,
            token,
            openrouter,
        } => step_cmd(&out, &target, step.as_str(), &token, &openrouter).await,
        Command::Status {
            target: Some(target),
            fleet: FleetArgs { all: false, .. },
            openrouter,
        } => status(&out, &target, &openrouter).await,
        Command::Status {
            fleet, openrouter, ..
        } => crate::fleet::run(&out, crate::fleet::FleetOp::Status, &fleet, &openrouter).await,
        Command::Daemon {
            config,
            listen,
            openrouter,
        } => {
            let config = crate::config::require(config.as_deref(), "rotor daemon")?;
            crate::daemon::run(&out, &config, listen.as_deref(), &openrouter).await
        }
        Command::Retire {
            target: Some(target),
            fleet: FleetArgs { all: false, .. },
            force,
            reenable,
            openrouter,
        } => crate::lifecycle::retire(&out, &target, force, reenable.as_deref(), &openrouter).await,
        Command::Retire {
            fleet,
            force,
            openrouter,
            ..
        } => {
            crate::fleet::run(
                &out,
                crate::fleet::FleetOp::Retire { force },
                &fleet,
                &openrouter,
            )
            .await
        }
        Command::Rollback { target, openrouter } => {
            crate::lifecycle::rollback(&out, &target, &openrouter).await
        }
        Command::Revoke {
            target,
            hash,
            yes,
            openrouter,
        } => crate::lifecycle::revoke(&out, &target, hash.as_deref(), yes, &openrouter).await,
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
            let sweep = crate::lifecycle::SweepArgs {
                config: config.as_deref(),
                delete,
                yes,
                min_age: &min_age,
            };
            crate::lifecycle::sweep(&out, &targets, sweep, &openrouter).await
        }
        Command::Completions { shell } => {
            crate::help::completions(shell);
            Ok(Exit::Ok)
        }
        Command::Man => crate::help::man(),
    }
}

/// `--dry-run`: the plan of a mutating command; nothing changes.
async fn dry_run(out: &Output, command: Command) -> Result<Exit, CliError> {
    use rotor_core::engine::PlanOp;
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
            let overrides = overrides(&secret_id, &policy)?;
            crate::dry_run::one(out, &target, PlanOp::Init(overrides), &openrouter).await
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
            crate::dry_run::one(out, &target, op, &openrouter).await
        }
        Command::Rotate {
            fleet, openrouter, ..
        } => crate::dry_run::fleet(out, fleet.config.as_deref(), PlanOp::Rotate, &openrouter).await,
        Command::Retire {
            reenable: Some(_), ..
        } => unsupported("retire --reenable"),
        Command::Retire {
            target: Some(target),
            fleet: FleetArgs { all: false, .. },
            force,
            openrouter,
            ..
        } => crate::dry_run::one(out, &target, PlanOp::Retire { force }, &openrouter).await,
        Command::Retire {
            fleet,
            force,
            openrouter,
            ..
        } => {
            crate::dry_run::fleet(
                out,
                fleet.config.as_deref(),
                PlanOp::Retire { force },
                &openrouter,
            )
            .await
        }
        Command::Rollback { target, openrouter } => {
            crate::dry_run::one(out, &target, PlanOp::Rollback, &openrouter).await
        }
        Command::Revoke {
            target,
            hash,
            openrouter,
            ..
        } => {
            crate::dry_run::one(out, &target, PlanOp::Revoke { key_hash: hash }, &openrouter).await
        }
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
            let sweep = crate::lifecycle::SweepArgs {
                config: config.as_deref(),
                delete: false,
                yes: true,
                min_age: &min_age,
            };
            crate::lifecycle::sweep(out, &targets, sweep, &openrouter).await
        }
        Command::Step { .. } => unsupported("rotor step"),
        Command::Daemon { .. } => unsupported("rotor daemon"),
        Command::Demo { .. } => unsupported("rotor demo"),
        Command::Status { .. } | Command::Completions { .. } | Command::Man => {
            unsupported("a command that changes nothing")
        }
    }
}

async fn open(target: &str) -> Result<(Target, Arc<dyn SecretStore>), CliError> {
    let target = Target::parse(target)?;
    let store = target.open_store().await?;
    Ok((target, store))
}

/// Builds the document's `rotation` object from `init`'s policy flags (validated by the same
/// parser that reads stored documents).
fn overrides(secret_id: &str, p: &PolicyArgs) -> Result<Option<PolicyOverrides>, CliError> {
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_owned(), v);
    };
    if let Some(v) = &p.name_template {
        put("name_template", Value::String(v.clone()));
    }
    if let Some(v) = &p.limit {
        put(
            "limit",
            match v.as_str() {
                "none" | "unlimited" => Value::Null,
                "current" => Value::String("current".into()),
                n => serde_json::from_str::<serde_json::Number>(n)
                    .map(Value::Number)
                    .map_err(|_| {
                        CliError::usage(format!(
                            "--limit {v:?}: expected a number of USD, `none` or `current`"
                        ))
                    })?,
            },
        );
    }
    if let Some(v) = p.limit_reset {
        put(
            "limit_reset",
            match v {
                LimitResetArg::None => Value::Null,
                v => Value::String(v.as_str().to_owned()),
            },
        );
    }
    if let Some(v) = p.include_byok_in_limit {
        put(
            "include_byok_in_limit",
            match v {
                ByokArg::True => Value::Bool(true),
                ByokArg::False => Value::Bool(false),
                ByokArg::Current => Value::String(v.as_str().to_owned()),
            },
        );
    }
    if let Some(v) = &p.expires_after {
        put(
            "expires_after",
            if v == "none" {
                Value::Null
            } else {
                Value::String(v.clone())
            },
        );
    }
    if let Some(v) = &p.grace_period {
        put("grace_period", Value::String(v.clone()));
    }
    if let Some(v) = p.test_mode {
        put("test_mode", Value::String(v.as_str().to_owned()));
    }
    if let Some(v) = &p.test_model {
        put("test_model", Value::String(v.clone()));
    }
    for (name, v) in [
        ("observation_window", &p.observation_window),
        ("disable_delay", &p.disable_delay),
        ("max_retirement_wait", &p.max_retirement_wait),
    ] {
        if let Some(v) = v {
            put(name, Value::String(v.clone()));
        }
    }
    if let Some(v) = p.disable_first {
        put("disable_first", Value::Bool(v));
    }
    if m.is_empty() {
        return Ok(None);
    }
    PolicyOverrides::from_json(Value::Object(m), secret_id)
        .map(Some)
        .map_err(|e| CliError::usage(format!("invalid policy flag: {e}")))
}

async fn init(
    out: &Output,
    target: &str,
    or: &OpenRouterArgs,
    policy: &PolicyArgs,
) -> Result<Exit, CliError> {
    let (target, store) = open(target).await?;
    let secret_id = target.secret_id();
    let overrides = overrides(&secret_id, policy)?;
    let engine = engine(or).await?;
    let report = engine
        .init(store.as_ref(), &secret_id, overrides)
        .await
        .map_err(engine_error)?;
    out.init(&target, &report);
    Ok(Exit::Ok)
}

async fn rotate(
    out: &Output,
    target: &str,
    or: &OpenRouterArgs,
    resume: bool,
    local: bool,
) -> Result<Exit, CliError> {
    let parsed = Target::parse(target)?;
    if let (Target::Aws { secret_id }, false) = (&parsed, local) {
        if resume {
            return Err(CliError::usage(
                "--resume runs the steps here: use it with --local (Secrets Manager resumes its own rotations with the same token)",
            ));
        }
        let store = rotor_aws::SecretsManagerStore::from_env().await;
        let req =
            rotor_aws::request_rotation(store.client(), secret_id, Some(Duration::from_secs(300)))
                .await
                .map_err(|e| match e {
                    rotor_aws::RotationRequestError::NoRotationFunction { .. } => {
                        CliError::precondition(e.to_string())
                    }
                    rotor_aws::RotationRequestError::Store(s) => CliError::from(s),
                })?;
        out.aws_rotation(&parsed, &req);
        return Ok(match req.outcome {
            rotor_aws::RotationOutcome::Completed | rotor_aws::RotationOutcome::Requested => {
                Exit::Ok
            }
            rotor_aws::RotationOutcome::StillPending => Exit::Upstream,
        });
    }
    let store = parsed.open_store().await?;
    let secret_id = parsed.secret_id();
    let engine = engine(or).await?;
    let report = if resume {
        engine.resume(store.as_ref(), &secret_id).await
    } else {
        engine.rotate(store.as_ref(), &secret_id).await
    }
    .map_err(engine_error)?;
    out.rotation(&parsed, &report);
    Ok(Exit::Ok)
}

async fn abandon(out: &Output, target: &str, or: &OpenRouterArgs) -> Result<Exit, CliError> {
    let (target, store) = open(target).await?;
    let engine = engine(or).await?;
    let report = engine
        .abandon(store.as_ref(), &target.secret_id())
        .await
        .map_err(engine_error)?;
    if out.is_json() {
        out.print_json(&serde_json::json!({"target": target.to_string(), "abandoned": report}));
    } else {
        println!("abandoned the rotation {} of {target}", report.token);
        for h in &report.deleted_keys {
            println!("  deleted its key {h}");
        }
    }
    Ok(Exit::Ok)
}

async fn step_cmd(
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
        .await
        .map_err(engine_error)?;
    out.step(&target, &report);
    Ok(Exit::Ok)
}

async fn status(out: &Output, target: &str, or: &OpenRouterArgs) -> Result<Exit, CliError> {
    let (target, store) = open(target).await?;
    let engine = engine(or).await?;
    let status = engine
        .status(store.as_ref(), &target.secret_id())
        .await
        .map_err(engine_error)?;
    out.status(&target, &status);
    Ok(Exit::Ok)
}
