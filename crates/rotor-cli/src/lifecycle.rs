//! `rotor retire`, `rollback`, `revoke`, `sweep`: parse, ask, call the engine, print.
//! User documentation: docs/lifecycle.md.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use chrono::Utc;
use rotor_core::engine::{References, RetireReport};
use serde_json::json;

use crate::args::OpenRouterArgs;
use crate::engine_setup::{engine, engine_error};
use crate::error::{CliError, Exit};
use crate::output::{Output, age, at, short};
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

pub async fn retire(
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
        let r = engine
            .reenable(store.as_ref(), &secret_id, hash)
            .await
            .map_err(engine_error)?;
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
    let r = engine
        .retire(store.as_ref(), &secret_id, force)
        .await
        .map_err(engine_error)?;
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

pub async fn rollback(out: &Output, target: &str, or: &OpenRouterArgs) -> Result<Exit, CliError> {
    let target = Target::parse(target)?;
    let store = target.open_store().await?;
    let engine = engine(or).await?;
    let r = engine
        .rollback(store.as_ref(), &target.secret_id())
        .await
        .map_err(engine_error)?;
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

/// Asks on the terminal; refuses (exit 2) when there is no terminal to ask and no `--yes`.
fn confirm(question: &str, yes: bool) -> Result<(), CliError> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::usage(format!(
            "{question}: refusing without confirmation because stdin is not a terminal; pass --yes to confirm (nothing was deleted)"
        )));
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::usage(format!("cannot read the confirmation: {e}")))?;
    if matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        Err(CliError::usage("not confirmed: nothing was deleted"))
    }
}

pub async fn revoke(
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
    }
    .map_err(engine_error)?;
    if out.is_json() {
        out.print_json(&json!({"target": target.to_string(), "revoke": r}));
    } else {
        if let Some(rot) = &r.rotation {
            println!("rotated {target} (token {})", rot.token);
        }
        println!("  current key: {}", r.current_key_hash);
        if r.deleted.is_empty() {
            println!("  no older key to delete");
        }
        for k in &r.deleted {
            println!(
                "  deleted key {} {:?}{}",
                k.key_hash,
                k.key_name,
                if k.already_gone {
                    " (was already gone)"
                } else {
                    ""
                }
            );
        }
    }
    Ok(Exit::Ok)
}

/// `rotor sweep` options.
pub struct SweepArgs<'a> {
    pub config: Option<&'a Path>,
    pub delete: bool,
    pub yes: bool,
    pub min_age: &'a str,
}

pub async fn sweep(
    out: &Output,
    targets: &[String],
    args: SweepArgs<'_>,
    or: &OpenRouterArgs,
) -> Result<Exit, CliError> {
    let min_age = humantime::parse_duration(args.min_age).map_err(|e| {
        CliError::usage(format!(
            "--min-age {:?}: {e}; use forms like 0s, 15m, 2h",
            args.min_age
        ))
    })?;
    let mut all: Vec<String> = targets.to_vec();
    let engine = match args.config {
        Some(path) => {
            let config = crate::config::RotorConfig::load(path)?;
            all.extend(config.secrets.iter().map(|s| s.target.clone()));
            let client = crate::management::client(&config.openrouter_args(or)).await?;
            rotor_core::engine::Engine::new(client, config.policy()?)
        }
        None => engine(or).await?,
    };
    if all.is_empty() {
        return Err(CliError::usage(
            "rotor sweep needs the secrets whose keys must be kept: give targets or --config FILE",
        ));
    }
    let mut refs = References::default();
    let mut secrets = Vec::new();
    let mut stores = Vec::new();
    for t in &all {
        let target = Target::parse(t)?;
        let store = target.open_store().await?;
        let r = engine
            .references(store.as_ref(), &target.secret_id())
            .await
            .map_err(|e| {
                let mut c = engine_error(e);
                c.message = format!("{}; the sweep deleted nothing", c.message);
                c
            })?;
        refs.hashes.extend(r.hashes);
        refs.tags.extend(r.tags);
        secrets.push(target.to_string());
        stores.push((store, target.secret_id()));
    }
    let listed = engine
        .sweep(secrets.clone(), &refs, min_age)
        .await
        .map_err(engine_error)?;
    let shown: std::collections::BTreeSet<String> = listed
        .orphans
        .iter()
        .filter(|o| !o.too_new)
        .map(|o| o.key_hash.clone())
        .collect();
    let report = if args.delete && !shown.is_empty() {
        if !out.is_json() {
            print_orphans(&listed, false);
        }
        confirm(
            &format!(
                "delete {} orphaned rotor key(s) at OpenRouter?",
                shown.len()
            ),
            args.yes,
        )?;
        // After the confirmation: under every secret's lease, references are read again and
        // only the keys shown above that are still orphaned are deleted.
        let held: Vec<(&dyn rotor_core::SecretStore, String)> = stores
            .iter()
            .map(|(s, id)| (s.as_ref(), id.clone()))
            .collect();
        engine
            .sweep_confirmed(&held, secrets, &shown, min_age)
            .await
            .map_err(|e| {
                let mut c = engine_error(e);
                c.message = format!("{}; the sweep deleted nothing", c.message);
                c
            })?
    } else {
        listed
    };
    if out.is_json() {
        out.print_json(&json!({"sweep": report}));
    } else {
        print_orphans(&report, args.delete);
    }
    Ok(Exit::Ok)
}

fn print_orphans(r: &rotor_core::engine::SweepReport, delete: bool) {
    println!(
        "{} rotor key(s) in the account, {} referenced by {} secret(s), {} orphaned",
        r.rotor_keys,
        r.referenced,
        r.secrets.len(),
        r.orphans.len()
    );
    for o in &r.orphans {
        println!(
            "  {} {:?}  age {}  usage ${:.4}{}{}",
            o.key_hash,
            o.key_name,
            age(o.age_seconds),
            o.usage,
            if o.disabled { "  disabled" } else { "" },
            if o.deleted {
                "  DELETED"
            } else if o.too_new {
                "  (younger than --min-age: kept)"
            } else {
                ""
            }
        );
    }
    if !delete && r.orphans.iter().any(|o| !o.too_new) {
        println!("  (listed only: `--delete` deletes them)");
    }
}
