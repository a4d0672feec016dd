//! rotor-core: the staged-rotation model shared by every backend.
//!
//! * [`store`] — the [`SecretStore`] trait (AWS Secrets Manager's staged versions:
//!   Pending / Current / Previous) and its typed errors.
//! * [`memory`] — [`MemoryStore`], a complete in-process implementation (its state machine,
//!   shared with [`FileStore`], is `secret_state.rs`).
//! * [`file`] — [`FileStore`], JSON files on disk (the embedded default for local use).
//! * [`record`] — [`KeyRecord`], the JSON document stored as each version's value.
//! * [`policy`] — per-secret rotation policy and its defaults.
//! * [`engine`] — the four rotation steps against OpenRouter, plus `rotate`.
//! * `conformance` (feature `conformance`) — the shared test suite every backend runs.
//!
//! rotor-core does no network I/O of its own except through `rotor-openrouter`.

pub mod engine;
pub mod file;
pub mod memory;
pub mod policy;
pub mod read_cache;
pub mod record;
pub mod record_error;
mod secret_state;
pub mod store;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use engine::{Engine, EngineError, RotationReport, SecretStatus, Step, StepReport};
pub use file::FileStore;
pub use memory::MemoryStore;
pub use policy::{Policy, PolicyOverrides};
pub use record::{KeyRecord, OlderKey, RecordError};
pub use store::{
    LedgerEntry, SecretDescription, SecretStore, SecretValue, Snapshot, Stage, StoreError,
    VersionInfo, VersionSelector,
};
