//! Typed errors by HTTP status. Messages never contain a key.

use std::time::Duration;

/// What went wrong with a Management API call. The `message` fields carry OpenRouter's own error
/// message (from the `{"error":{"code","message"}}` envelope, parsed leniently) and never a key.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400: the request was invalid.
    #[error("OpenRouter rejected the request (400): {message}")]
    BadRequest { message: String },
    /// 401: missing, unknown, deleted, expired or disabled key.
    #[error("OpenRouter did not accept the key (401): {message}")]
    Unauthorized { message: String },
    /// 403: e.g. an ordinary key on `/keys*`, or a management key on completions.
    #[error("OpenRouter refused the operation (403): {message}")]
    Forbidden { message: String },
    /// 404: no such key (or already deleted).
    #[error("OpenRouter has no such resource (404): {message}")]
    NotFound { message: String },
    /// 429 after the retry budget was spent (or on a call that is never retried).
    #[error("OpenRouter rate limit exceeded (429){}: {message}", retry_after.map(|d| format!(", retry after {}s", d.as_secs())).unwrap_or_default())]
    RateLimited {
        retry_after: Option<Duration>,
        message: String,
    },
    /// 5xx after the retry budget was spent.
    #[error("OpenRouter server error ({status}): {message}")]
    Server { status: u16, message: String },
    /// Any other unexpected status.
    #[error("OpenRouter answered with unexpected status {status}: {message}")]
    UnexpectedStatus { status: u16, message: String },
    /// The call timed out.
    #[error("request to OpenRouter timed out: {message}")]
    Timeout { message: String },
    /// The connection failed (refused, reset, DNS, TLS...).
    #[error("could not reach OpenRouter: {message}")]
    Connection { message: String },
    /// `POST /keys` was sent but no response arrived: a key may or may not have been created.
    /// Recover by listing keys and finding it by `name`.
    #[error(
        "creating OpenRouter key {name:?}: the request was sent but no response arrived, so the key may or may not exist; look it up by name before creating another: {message}"
    )]
    OutcomeUnknown { name: String, message: String },
    /// The response body could not be parsed.
    #[error("could not parse OpenRouter's response: {message}")]
    Decode { message: String },
    /// Invalid client configuration (base URL...).
    #[error("invalid OpenRouter client configuration: {message}")]
    Config { message: String },
    /// An argument was rejected before any request was sent (e.g. an empty key hash).
    #[error("invalid argument for an OpenRouter call: {message}")]
    InvalidInput { message: String },
    /// `GET /keys` kept returning non-empty pages past the client's page cap (or the same page
    /// again): the server seems to ignore `offset`.
    #[error("listing OpenRouter keys did not end: {message}")]
    Pagination { message: String },
}

impl Error {
    /// The HTTP status, for errors that came with one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::BadRequest { .. } => Some(400),
            Error::Unauthorized { .. } => Some(401),
            Error::Forbidden { .. } => Some(403),
            Error::NotFound { .. } => Some(404),
            Error::RateLimited { .. } => Some(429),
            Error::Server { status, .. } | Error::UnexpectedStatus { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether this is a 404 (for a key: it does not exist or was already deleted).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }

    /// Whether this is [`Error::OutcomeUnknown`]: a create may or may not have taken effect.
    pub fn is_outcome_unknown(&self) -> bool {
        matches!(self, Error::OutcomeUnknown { .. })
    }

    /// The `Retry-After` delay of a 429, when OpenRouter sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether the failure is temporary (rate limit, server error, timeout, connection):
    /// a later attempt of an idempotent call may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::RateLimited { .. }
                | Error::Server { .. }
                | Error::Timeout { .. }
                | Error::Connection { .. }
        )
    }
}
