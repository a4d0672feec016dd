//! Async client for OpenRouter's API-key Management API (`/keys`, `/keys/{hash}`, `/key`).
//!
//! * Keys are [`ApiKey`]s: `Debug`/`Display` print only a redacted label; the plaintext is exposed
//!   only to build the `Authorization` header (and, by the caller, to write it to a secret store).
//! * Errors are typed by HTTP status ([`Error`]); their text never contains a key.
//! * Calls that are safe to repeat are retried with exponential back-off and jitter on 429
//!   (honouring `Retry-After`), 5xx and connection errors, bounded in count and total time
//!   ([`RetryPolicy`]). `POST /keys` is never retried: a lost response surfaces as
//!   [`Error::OutcomeUnknown`] and the caller recovers by the key's name.
//!
//! The base URL is configuration ([`ClientConfig::base_url`]); reading `OPENROUTER_BASE_URL` is the
//! application's job, not this crate's.

mod client;
mod error;
mod key;
pub mod models;
mod response;

pub use client::{Client, ClientConfig, DEFAULT_BASE_URL, MAX_PAGES, PAGE_SIZE, RetryPolicy};
pub use error::Error;
pub use key::ApiKey;
pub use models::{
    CompletionResponse, CreateKeyRequest, CreatedKey, CurrentKey, Key, LimitReset, ListKeysOptions,
    UpdateKeyRequest,
};
