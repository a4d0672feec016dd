//! `rotor sweep [TARGETS…] [--config rotor.toml] [--delete]`: rotor keys at OpenRouter that no
//! secret references. User documentation: docs/lifecycle.md.

use std::path::Path;

use rotor_core::engine::References;

use super::confirm::confirm;
use crate::args::OpenRouterArgs;
use crate::engine_setup::engine;
use crate::error::{CliError, Exit};
use crate::output::Output;
use crate::target::Target;

/// `rotor sweep` options.
pub struct SweepArgs<'a> {
    pub config: Option<&'a Path>,
    pub delete: bool,
    pub yes: bool,
    pub min_age: &'a str,
}

pub async fn run(
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
                let mut c = CliError::from(e);
                c.message = format!("{}; the sweep deleted nothing", c.message);
                c
            })?;
        refs.hashes.extend(r.hashes);
        refs.tags.extend(r.tags);
        secrets.push(target.to_string());
        stores.push((store, target.secret_id()));
    }
    let listed = engine.sweep(secrets.clone(), &refs, min_age).await?;
    let shown: std::collections::BTreeSet<String> = listed
        .orphans
        .iter()
        .filter(|o| !o.too_new)
        .map(|o| o.key_hash.clone())
        .collect();
    let report = if args.delete && !shown.is_empty() {
        out.orphans_to_delete(&listed);
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
                let mut c = CliError::from(e);
                c.message = format!("{}; the sweep deleted nothing", c.message);
                c
            })?
    } else {
        listed
    };
    out.sweep(&report, args.delete);
    Ok(Exit::Ok)
}
