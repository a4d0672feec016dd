//! Where the management key comes from: `--management-key-file`, or `--management-key-from URI`
//! (a secret store), else OPENROUTER_MANAGEMENT_KEY (a config file's `[openrouter]` source is
//! merged in as if it were a flag only when the variable is not set: see
//! `RotorConfig::openrouter_args`). Never a plain command-line argument.

use rotor_openrouter::{ApiKey, Client, ClientConfig};

use crate::args::OpenRouterArgs;
use crate::error::CliError;

/// Resolves the management key as documented in `rotor --help`.
pub async fn management_key(args: &OpenRouterArgs) -> Result<ApiKey, CliError> {
    if let Some(path) = &args.management_key_file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            CliError::usage(format!(
                "cannot read the management key file {}: {e}",
                path.display()
            ))
        })?;
        let first = text.lines().next().unwrap_or("").trim().to_owned();
        if first.is_empty() {
            return Err(CliError::usage(format!(
                "the management key file {} is empty",
                path.display()
            )));
        }
        return Ok(ApiKey::new(first));
    }
    if let Some(uri) = &args.management_key_from {
        return crate::backends::read_management_key(uri).await;
    }
    match std::env::var("OPENROUTER_MANAGEMENT_KEY") {
        Ok(k) if !k.trim().is_empty() => Ok(ApiKey::new(k)),
        _ => Err(CliError::usage(
            "no OpenRouter management key: set OPENROUTER_MANAGEMENT_KEY, or pass \
             --management-key-file FILE or --management-key-from URI (never the key itself)",
        )),
    }
}

/// An OpenRouter client for the configured base URL and management key.
pub async fn client(args: &OpenRouterArgs) -> Result<Client, CliError> {
    let key = management_key(args).await?;
    Client::new(ClientConfig::new(args.base_url().to_owned(), key)).map_err(CliError::from)
}
