//! Async client for OpenRouter's Management API: keys (`/keys`, `/keys/{hash}`, `/key`),
//! guardrails and their key assignments (`/guardrails*`), workspaces (`/workspaces*`).
//!
//! * Keys are [`ApiKey`]s: `Debug`/`Display` print only a redacted label; the plaintext is exposed
//!   only to build the `Authorization` header (and, by the caller, to write it to a secret store).
//! * Errors are typed by HTTP status ([`Error`]); their text never contains a key.
//! * Responses decode forward-compatibly: unknown fields are ignored, an unknown `limit_reset` or
//!   `reset_interval` is [`LimitReset::Other`], budget scopes and data regions are strings.
//! * Calls that are safe to repeat are retried with exponential back-off and jitter on 429
//!   (honouring `Retry-After`), 5xx and connection errors, bounded in count and total time
//!   ([`RetryPolicy`]). `POST /keys` is retried only when nothing was created for certain (a 429,
//!   a failure to connect); any other failure surfaces as [`Error::OutcomeUnknown`] and the caller
//!   recovers by the key's name ([`Client::find_keys_by_name_prefix`]).
//! * One rate-limit gate per management key and base URL, shared by every client of the process
//!   (clones included): a 429 (`Retry-After`, else `X-RateLimit-Reset`) or `X-RateLimit-Remaining:
//!   0` holds back every management call until the limit resets (at most
//!   [`MAX_RATE_LIMIT_WAIT`] at a time). [`Client::rate_limit_status`] tells a progress display
//!   that requests are "waiting for the rate limit". Calls made with an ordinary key
//!   (`GET /key`, completions) do not go through it.
//!
//! What is retried (bounded by [`RetryPolicy::max_attempts`] and [`RetryPolicy::max_elapsed`],
//! full-jitter exponential back-off, a `Retry-After` is a floor capped by
//! [`RetryPolicy::max_backoff`]):
//!
//! | call | 429 | 5xx | timeout / lost response | connect failure |
//! |---|---|---|---|---|
//! | `GET /keys`, `GET /keys/{hash}`, `PATCH /keys/{hash}`, `DELETE /keys/{hash}`, `GET /key`, `GET`/`DELETE /guardrails*`, guardrail key (un)assignment, `GET /workspaces*` | retried | retried | retried | retried |
//! | `POST /chat/completions` (costs money), `POST /guardrails` | retried | no | no | retried |
//! | `POST /keys` | retried | no ([`Error::OutcomeUnknown`]) | no ([`Error::OutcomeUnknown`]) | retried |
//!
//! A `DELETE` whose earlier attempt may have taken effect (lost response or 5xx) and whose retry
//! gets 404 returns `Ok(())`; a 404 on the first attempt is [`Error::NotFound`].
//!
//! The base URL is configuration ([`ClientConfig::base_url`]); reading `OPENROUTER_BASE_URL` is the
//! application's job, not this crate's.

mod client;
mod error;
mod key;
pub mod models;
mod rate_limit;
mod response;

pub use client::{
    Client, ClientConfig, DEFAULT_BASE_URL, MAX_PAGES, PAGE_OVERLAP, PAGE_SIZE, RetryPolicy,
};
pub use error::Error;
pub use key::ApiKey;
pub use models::{
    CompletionResponse, CreateGuardrailRequest, CreateKeyRequest, CreatedKey, CurrentKey,
    Guardrail, Key, KeyAssignment, KeyBudget, LimitReset, ListKeysOptions, UpdateKeyRequest,
    Workspace,
};
pub use rate_limit::{MAX_RATE_LIMIT_WAIT, RateLimitStatus};
