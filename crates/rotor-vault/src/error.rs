//! Errors of configuration, authentication and direct reads. Store operations return
//! [`rotor_core::StoreError`]; this module also maps vaultrs errors onto it.
//!
//! No message ever contains a token, a secret id (AppRole) or a stored value: vaultrs errors are
//! described by their status code and Vault's own error strings, never by response bodies.

use rotor_core::StoreError;
use vaultrs::error::ClientError;

/// What went wrong configuring, authenticating, or reading a single field.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// A `vault://MOUNT/PATH[#field]` target or `MOUNT/PATH` id that cannot be parsed.
    #[error("invalid Vault target {target:?}: {message}")]
    InvalidTarget { target: String, message: String },
    /// Invalid configuration (environment variable, address, CA file...).
    #[error("invalid Vault configuration: {message}")]
    Config { message: String },
    /// Logging in or renewing the token failed.
    #[error("Vault authentication ({method}) failed: {message}")]
    Auth {
        method: &'static str,
        message: String,
    },
    /// A read through the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl VaultError {
    pub(crate) fn config(message: impl Into<String>) -> Self {
        VaultError::Config {
            message: message.into(),
        }
    }
}

/// A short, value-free description of a vaultrs error: status code, Vault's error strings,
/// or the kind of transport failure. Response bodies are never included (they may hold data).
pub(crate) fn describe_client_error(err: &ClientError) -> String {
    use rustify_errors::Kind;
    match err {
        ClientError::APIError { code, errors } if errors.is_empty() => format!("HTTP {code}"),
        ClientError::APIError { code, errors } => format!("HTTP {code}: {}", errors.join("; ")),
        ClientError::RestClientError { source } => match rustify_errors::kind(source) {
            Kind::Status(code) => format!("HTTP {code}"),
            Kind::Transport(m) => format!("request failed: {m}"),
            Kind::Other(m) => m,
        },
        ClientError::JsonParseError { .. } => "could not parse Vault's response as JSON".to_owned(),
        ClientError::ResponseEmptyError | ClientError::ResponseDataEmptyError => {
            "Vault's response had no data".to_owned()
        }
        other => other.to_string(),
    }
}

/// The HTTP status of a vaultrs error, where it carries one.
pub(crate) fn status_of(err: &ClientError) -> Option<u16> {
    match err {
        ClientError::APIError { code, .. } => Some(*code),
        ClientError::RestClientError { source } => match rustify_errors::kind(source) {
            rustify_errors::Kind::Status(code) => Some(code),
            _ => None,
        },
        _ => None,
    }
}

/// Whether the error is Vault's check-and-set mismatch.
pub(crate) fn is_cas_mismatch(err: &ClientError) -> bool {
    matches!(err, ClientError::APIError { code: 400, errors }
        if errors.iter().any(|e| e.contains("check-and-set")))
}

/// Maps a vaultrs error of operation `op` on secret `secret` to a typed store error.
pub(crate) fn store_error(secret: &str, op: &str, err: &ClientError) -> StoreError {
    let detail = describe_client_error(err);
    let transport = matches!(err, ClientError::RestClientError { source }
        if matches!(rustify_errors::kind(source), rustify_errors::Kind::Transport(_)));
    match status_of(err) {
        Some(403) => StoreError::Denied {
            secret: secret.to_owned(),
            message: format!(
                "{op}: {detail}; the token's policy must allow it (see deploy/vault/rotor-policy.hcl), \
                 or the token expired"
            ),
        },
        Some(404) => StoreError::not_found(secret, format!("{op} ({detail})")),
        Some(code) if code == 412 || code == 429 || code >= 500 => StoreError::Transient {
            secret: secret.to_owned(),
            message: format!("{op}: {detail}; retry later"),
        },
        _ if transport => StoreError::Transient {
            secret: secret.to_owned(),
            message: format!("{op}: {detail}; check VAULT_ADDR and that Vault is reachable"),
        },
        _ => StoreError::Backend {
            secret: secret.to_owned(),
            message: format!("{op}: {detail}"),
        },
    }
}

/// Classification of rustify's transport errors without touching response bodies.
mod rustify_errors {
    use rustify::errors::ClientError as RestError;

    pub(crate) enum Kind {
        Status(u16),
        Transport(String),
        Other(String),
    }

    pub(crate) fn kind(err: &RestError) -> Kind {
        match err {
            RestError::ServerResponseError { code, .. } => Kind::Status(*code),
            RestError::RequestError { source, .. } | RestError::ResponseError { source } => {
                Kind::Transport(chain(source))
            }
            RestError::ResponseParseError { .. } | RestError::ResponseConversionError { .. } => {
                Kind::Other("could not parse Vault's response".into())
            }
            _ => Kind::Other("the HTTP request to Vault failed".into()),
        }
    }

    /// A transport error's cause chain (connection refused, timeout, TLS...): no bodies in it.
    fn chain(err: &anyhow::Error) -> String {
        let mut parts: Vec<String> = Vec::new();
        for cause in err.chain() {
            let text = cause.to_string();
            if !parts.iter().any(|p| p.contains(&text)) {
                parts.push(text);
            }
        }
        parts.join(": ")
    }
}
