//! rotor's test kit: the one place test setup lives. A dev-dependency of every crate's tests,
//! never published.
//!
//! * [`Env`] — the OpenRouter emulator (in-process, real HTTP on 127.0.0.1), a client with
//!   fast retries, a [`ManualClock`](rotor_core::engine::ManualClock) and an engine on both.
//! * [`observe`] — what a user checks: what an application reads, which keys are alive, which
//!   keys the store records.
//! * [`stores`] — store fixtures: memory, file (in a temp dir), Vault/OpenBao (feature `vault`)
//!   and Secrets Manager on LocalStack/moto (feature `aws`). A missing service fails the test
//!   and names what to run (`tests/run`); nothing is skipped.
//! * [`logs`] — every tracing event captured as text.
//! * [`rotation`] — the rotation conformance suite (crash-resume, exactly-one-wins, abandon,
//!   retirement) that every backend runs, beside the store conformance suite in
//!   `rotor_core::conformance`.
//!
//! No helper prints key material: keys are compared by hash.

pub mod emulator;
pub mod logs;
pub mod observe;
pub mod rotation;
pub mod service;
pub mod stores;

pub use emulator::{Env, fast_client, fast_retry};

/// The secret most single-secret tests use.
pub const SECRET: &str = "prod/app";
/// The model completions are requested for when a test checks that a key works.
pub const MODEL: &str = "openai/gpt-4o-mini";
