//! `rotor init TARGET [policy flags]`: the first key and the secret that holds it.

use rotor_core::policy::PolicyOverrides;
use serde_json::{Map, Value};

use crate::args::{ByokArg, LimitResetArg, OpenRouterArgs, PolicyArgs};
use crate::backends::open;
use crate::engine_setup::engine;
use crate::error::{CliError, Exit};
use crate::output::Output;

/// Builds the document's `rotation` object from `init`'s policy flags (validated by the same
/// parser that reads stored documents).
pub fn overrides(secret_id: &str, p: &PolicyArgs) -> Result<Option<PolicyOverrides>, CliError> {
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

pub async fn run(
    out: &Output,
    target: &str,
    or: &OpenRouterArgs,
    policy: &PolicyArgs,
) -> Result<Exit, CliError> {
    let (target, store) = open(target).await?;
    let secret_id = target.secret_id();
    let overrides = overrides(&secret_id, policy)?;
    let engine = engine(or).await?;
    let report = engine.init(store.as_ref(), &secret_id, overrides).await?;
    out.init(&target, &report);
    Ok(Exit::Ok)
}
