//! The rotation engine: the four steps of AWS Secrets Manager's rotation contract, against
//! OpenRouter, on any [`SecretStore`].
//!
//! # How to use the engine
//!
//! ```no_run
//! # async fn demo(store: &dyn rotor_core::SecretStore) -> Result<(), Box<dyn std::error::Error>> {
//! use rotor_core::engine::{Engine, Step};
//! use rotor_core::policy::Policy;
//! use rotor_openrouter::{ApiKey, Client, ClientConfig};
//!
//! let client = Client::new(ClientConfig::new(
//!     "https://openrouter.ai/api/v1",
//!     ApiKey::new(std::env::var("OPENROUTER_MANAGEMENT_KEY")?),
//! ))?;
//! let engine = Engine::new(client, Policy::from_env()?);
//!
//! // First key and secret (refused if the secret already has a current value):
//! engine.init(store, "prod/app", None).await?;
//! // A whole rotation with a fresh token (CLI `rotor rotate`):
//! let report = engine.rotate(store, "prod/app").await?;
//! // Finish a rotation that failed half-way, with its own token (`rotor rotate --resume`):
//! # let _ = report;
//! engine.resume(store, "prod/app").await?;
//! // One step, as the AWS Lambda does for each event (token = ClientRequestToken):
//! engine.step(store, "prod/app", "createSecret".parse::<Step>()?, "3f6c…").await?;
//! // What is stored and alive, without key material (`rotor status --json`):
//! let status = engine.status(store, "prod/app").await?;
//! # let _ = status;
//! # Ok(()) }
//! ```
//!
//! Build the engine once and reuse it (it holds the OpenRouter client's connection pool).
//!
//! # Guarantees
//!
//! * Every step first performs the checks of AWS's rotation templates (rotation enabled; the token
//!   is a version; already Current → no-op; must be Pending) and is idempotent: re-running any step
//!   after a crash at any point converges.
//! * No key is forgotten: every rotor key of a secret that is alive at OpenRouter is recorded in the
//!   current document (its own key or `older_keys`) or in the pending one, except in the unavoidable
//!   window between `POST /keys` and the pending write; the re-run of createSecret closes that window
//!   by finding the key by its tag (see [`crate::policy::rotor_tag`]) and deleting it.
//! * The old key is not deleted at finish: it stays valid for its grace period, and a later
//!   createSecret retires it ([`Engine::retire_due_keys`]).
//! * Nothing logs or returns key material; each step logs one structured `tracing` event.

// Errors carry the secret, step, token and the underlying error so messages can say what to do;
// they are built only on the cold path, so their size does not matter.
#![allow(clippy::result_large_err)]

mod clock;
mod error;
pub mod ledger;
mod report;
// One file per step and concern, each an `impl Engine` block: the steps (`create`, `set`,
// `verify`, `finish`, run by `step`), whole operations (`rotate` and `resume`, `abandon`, `init`,
// `status`), ownership (`ledger`: leases and intents), `bounds`, shared `reads`, and the
// lifecycle (`retire`, `rollback`, `revoke`, `sweep`).
mod abandon;
mod bookkeeping;
mod bounds;
mod create;
mod dry_run;
mod finish;
mod init;
mod key_memo;
mod reads;
mod reenable;
mod retire;
mod retire_decision;
mod revoke;
mod rollback;
mod rotate;
mod set;
mod status;
mod step;
mod sweep;
mod verify;

pub use create::Retirement;
pub use dry_run::{DryRun, NewKeyPlan, PlanOp, PlannedChange};
use reads::PreviousKey;
use rotate::{pending_rotation, rotation_in_progress};
pub use step::Step;
use step::{StepDone, TokenState, check_token};

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use rotor_openrouter::{
    Client, CreateKeyRequest, CreatedKey, Key, ListKeysOptions, UpdateKeyRequest,
};

use serde::{Deserialize, Serialize};
use tracing::{info, warn};

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{EngineError, ErrorKind, Scope};
pub use ledger::{Intent, Lease, LedgerDocument, Ownership, is_ledger_document};
pub use report::{
    AbandonReport, InitReport, KeyState, KeyStatus, OlderKeyStatus, RetiredKey, RotationReport,
    SecretStatus, StepOutcome, StepReport, VersionStatus,
};
pub use retire::{
    DeleteReason, DueAction, KeyRetirement, ReenableReport, RetireDecision, RetireReport,
};
pub use revoke::RevokeReport;
pub use rollback::RollbackReport;
pub use sweep::{OrphanKey, References, SweepReport};

use crate::policy::{Policy, PolicyOverrides, TestMode, rotor_tag, tag_of_name};
use crate::read_cache::ReadCache;
use crate::record::{KeyRecord, OlderKey};
use crate::store::{SecretDescription, SecretStore, Stage, StoreError, VersionSelector};

/// The rotation engine. Cheap to clone; build once and reuse.
#[derive(Debug, Clone)]
pub struct Engine {
    client: Client,
    defaults: Policy,
    clock: Arc<dyn Clock>,
    /// This worker's identity in leases (see [`ledger`]).
    holder: String,
    /// A lone createSecret leaves its lease to its rotation's finishSecret (the rotation
    /// service's steps; see [`Engine::with_lease_handover`]).
    lease_handover: bool,
}

/// A worker identity: host, process id, and a random id (so two engines never share one).
fn worker_identity() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".to_owned());
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}/pid {}/{}", std::process::id(), &id[..8])
}

impl Engine {
    /// An engine using `client` (with the management key) and the policy `defaults`.
    pub fn new(client: Client, defaults: Policy) -> Self {
        Engine {
            client,
            defaults,
            clock: Arc::new(SystemClock),
            holder: worker_identity(),
            lease_handover: false,
        }
    }

    /// Replaces the clock (tests: a [`ManualClock`] lets grace periods pass).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Replaces the worker identity recorded in leases (tests and simulations name workers).
    pub fn with_holder(mut self, holder: impl Into<String>) -> Self {
        self.holder = holder.into();
        self
    }

    /// For the rotation service's steps (the Lambda): a lone createSecret that stored its pending
    /// document does not release its lease but hands it to the same rotation's finishSecret,
    /// which takes it over in the write that would otherwise take a free lease (one ledger
    /// write fewer per rotation; `ledger::may_take_over`). Meant for callers whose four steps
    /// follow each other within seconds: until finishSecret comes, or the lease expires
    /// ([`Policy::lease_ttl`]), every other worker is refused with
    /// [`EngineError::Busy`], as during the step itself.
    pub fn with_lease_handover(mut self, on: bool) -> Self {
        self.lease_handover = on;
        self
    }

    /// The policy defaults.
    pub fn defaults(&self) -> &Policy {
        &self.defaults
    }

    /// The OpenRouter client.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

fn store_err(scope: Scope, action: &str, source: StoreError) -> EngineError {
    EngineError::Store {
        scope,
        action: action.to_owned(),
        source,
    }
}

fn openrouter_error(scope: &Scope, action: &str, source: rotor_openrouter::Error) -> EngineError {
    EngineError::OpenRouter {
        scope: scope.clone(),
        action: action.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_names() {
        for step in Step::ALL {
            assert_eq!(step.as_str().parse::<Step>().unwrap(), step);
            assert_eq!(step.to_string(), step.as_str());
        }
        let err = "create_secret".parse::<Step>().unwrap_err();
        assert!(
            err.to_string()
                .contains("unknown rotation step \"create_secret\""),
            "{err}"
        );
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!("CreateSecret".parse::<Step>().is_err());
    }
}
