//! The shared test suite every [`SecretStore`] backend runs unchanged (like `object_store`'s
//! integration tests): memory and file stores here, AWS (LocalStack) and Vault (OpenBao) in their
//! crates.
//!
//! Every function takes the store as `&dyn SecretStore` and a *prefix*: the secrets it creates
//! are named `{prefix}-{case}`, so the prefix must be fresh for every run against a shared backend
//! (e.g. `format!("conf-{}", uuid::Uuid::new_v4().simple())`). Secret names use only
//! `[A-Za-z0-9-]` after the prefix, which every backend accepts. Tokens are UUIDs (AWS wants
//! 32–64 characters).
//!
//! The functions panic with a message naming the backend, the secret, the step and what was
//! expected. They never print a value: values are compared in place and reported as "differs".
//! They use only the trait, never a backend's internals, and allow what the contract allows:
//! Pending may linger on the promoted (Current) version (AWS clears it asynchronously), versions
//! without a stage may or may not still be listed, `secret_id` may be an ARN.
//!
//! ```no_run
//! # async fn conformance() {
//! // In a backend's tests: `#[tokio::test(flavor = "multi_thread")]`.
//! let store = rotor_core::MemoryStore::new(); // or the backend under test
//! let prefix = format!("conf-{}", uuid::Uuid::new_v4().simple());
//! rotor_core::conformance::run_all(&store, &prefix).await;
//! # }
//! ```

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use crate::store::{SecretDescription, SecretStore, Stage, StoreError, VersionSelector};

mod ledger;
mod races;
mod reopen;
mod secrets;
mod stages;

pub use ledger::{ledger_check_and_set, racing_ledger_writes};
pub use races::{racing_promotes, racing_promotes_spawned};
pub use reopen::survives_reopen;
pub use secrets::{create_and_read, create_is_idempotent, missing_secret, values_are_byte_exact};
pub use stages::{
    begin_rotation, clear_pending, promote_is_idempotent, promote_moves_stages,
    promote_requires_a_value, promote_with_stale_from_conflicts, put_pending, rollback,
};

/// How many racing promote pairs [`run_all`] runs.
pub const DEFAULT_RACE_ITERATIONS: usize = 20;

/// Runs every single-store check: [`create_and_read`], [`create_is_idempotent`],
/// [`missing_secret`], [`begin_rotation`], [`put_pending`], [`promote_moves_stages`],
/// [`promote_is_idempotent`], [`promote_with_stale_from_conflicts`],
/// [`promote_requires_a_value`], [`clear_pending`], [`rollback`], [`values_are_byte_exact`],
/// [`racing_promotes`], [`ledger_check_and_set`] and [`racing_ledger_writes`]. Persistent stores also run [`survives_reopen`].
pub async fn run_all(store: &dyn SecretStore, prefix: &str) {
    run_all_but_ledger_races(store, prefix).await;
    racing_ledger_writes(store, prefix).await;
}

/// [`run_all`] without [`racing_ledger_writes`], for an emulator whose concurrent label moves
/// are not atomic (LocalStack: see docs/aws.md); the sequential check-and-set
/// cases still run.
pub async fn run_all_but_ledger_races(store: &dyn SecretStore, prefix: &str) {
    create_and_read(store, prefix).await;
    create_is_idempotent(store, prefix).await;
    missing_secret(store, prefix).await;
    begin_rotation(store, prefix).await;
    put_pending(store, prefix).await;
    promote_moves_stages(store, prefix).await;
    promote_is_idempotent(store, prefix).await;
    promote_with_stale_from_conflicts(store, prefix).await;
    promote_requires_a_value(store, prefix).await;
    clear_pending(store, prefix).await;
    rollback(store, prefix).await;
    values_are_byte_exact(store, prefix).await;
    racing_promotes(store, prefix, DEFAULT_RACE_ITERATIONS).await;
    ledger_check_and_set(store, prefix).await;
}

/// A fresh rotation token (a UUID).
pub fn new_token() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A realistic `KeyRecord`-like document with a fresh random `api_key`, plus fields rotor does not
/// know, non-ASCII text, escapes and a newline (to catch any store that re-encodes values).
pub fn sample_document(label: &str) -> SecretString {
    let key: [u8; 32] = rand::random();
    let hash: [u8; 32] = rand::random();
    SecretString::from(format!(
        "{{\"api_key\":\"sk-or-v1-{}\",\"key_hash\":\"{}\",\"key_name\":\"{label} rotated \
         2026-11-28 · ключ 🔑\",\"created_at\":\"2026-11-28T10:00:00Z\",\"expires_at\":null,\
         \"rotation\":{{\"grace_period\":\"2h\"}},\"team\":{{\"note\":\"on call: \\\"ops\\\"\\n\
         night \\\\ shift\",\"quota\":12.5}}}}",
        hex::encode(key),
        hex::encode(hash)
    ))
}

fn same(a: &SecretString, b: &SecretString) -> bool {
    a.expose_secret() == b.expose_secret()
}

fn kind(err: &StoreError) -> &'static str {
    match err {
        StoreError::NotFound { .. } => "NotFound",
        StoreError::Conflict { .. } => "Conflict",
        StoreError::Precondition { .. } => "Precondition",
        StoreError::Denied { .. } => "Denied",
        StoreError::Transient { .. } => "Transient",
        StoreError::Backend { .. } => "Backend",
    }
}

/// One secret under test.
struct Case<'a> {
    store: &'a dyn SecretStore,
    secret: String,
}

impl<'a> Case<'a> {
    fn new(store: &'a dyn SecretStore, prefix: &str, case: &str) -> Self {
        Case {
            store,
            secret: format!("{prefix}-{case}"),
        }
    }

    fn fail(&self, message: impl std::fmt::Display) -> ! {
        panic!(
            "conformance ({} store, secret {}): {message}",
            self.store.backend(),
            self.secret
        )
    }

    fn ok<T>(&self, step: &str, result: Result<T, StoreError>) -> T {
        match result {
            Ok(v) => v,
            Err(e) => self.fail(format!("{step}: expected Ok, got {} error: {e}", kind(&e))),
        }
    }

    fn err<T>(&self, step: &str, expected: &str, result: Result<T, StoreError>) -> StoreError {
        match result {
            Ok(_) => self.fail(format!("{step}: expected a {expected} error, got Ok")),
            Err(e) if kind(&e) == expected => e,
            Err(e) => self.fail(format!(
                "{step}: expected a {expected} error, got {}: {e}",
                kind(&e)
            )),
        }
    }

    /// `describe`, checking that each stage is on at most one version.
    async fn describe(&self, step: &str) -> SecretDescription {
        let desc = self.ok(step, self.store.describe(&self.secret).await);
        for stage in Stage::ALL {
            let holders: Vec<&str> = desc
                .versions
                .iter()
                .filter(|v| v.has(stage))
                .map(|v| v.id.as_str())
                .collect();
            if holders.len() > 1 {
                self.fail(format!(
                    "{step}: {stage} is on several versions: {holders:?}"
                ));
            }
        }
        let mut ids: Vec<&str> = desc.versions.iter().map(|v| v.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() != desc.versions.len() {
            self.fail(format!("{step}: describe lists a version twice"));
        }
        desc
    }

    /// The stage → version mapping, for before/after comparisons.
    async fn stage_map(&self, step: &str) -> BTreeMap<Stage, String> {
        let desc = self.describe(step).await;
        Stage::ALL
            .into_iter()
            .filter_map(|s| desc.with_stage(s).map(|v| (s, v.id.clone())))
            .collect()
    }

    async fn holder(&self, step: &str, stage: Stage) -> Option<String> {
        self.describe(step)
            .await
            .with_stage(stage)
            .map(|v| v.id.clone())
    }

    /// Reads `selector` and checks the version id, that the version carries `stage` when the
    /// selector names one, and the value (byte-exact).
    async fn expect_value(
        &self,
        step: &str,
        selector: VersionSelector,
        id: &str,
        value: &SecretString,
    ) {
        let got = self.ok(
            &format!("{step}: get_value({selector})"),
            self.store.get_value(&self.secret, &selector).await,
        );
        if got.version_id != id {
            self.fail(format!(
                "{step}: get_value({selector}) returned version {}, expected {id}",
                got.version_id
            ));
        }
        let stage = match &selector {
            VersionSelector::Stage(s) => Some(*s),
            VersionSelector::Version { stage, .. } => *stage,
        };
        if let Some(stage) = stage {
            if !got.stages.contains(&stage) {
                self.fail(format!(
                    "{step}: get_value({selector}) reports stages {:?} without {stage}",
                    got.stages
                ));
            }
        }
        if !same(&got.value, value) {
            self.fail(format!(
                "{step}: get_value({selector}) returned a value that differs from the one stored \
                 ({} bytes instead of {})",
                got.value.expose_secret().len(),
                value.expose_secret().len()
            ));
        }
    }

    async fn expect_current(&self, step: &str, id: &str, value: &SecretString) {
        self.expect_value(step, VersionSelector::Stage(Stage::Current), id, value)
            .await;
        self.expect_value(
            step,
            VersionSelector::version_in_stage(id, Stage::Current),
            id,
            value,
        )
        .await;
    }

    async fn expect_not_found(&self, step: &str, selector: VersionSelector) {
        let result = self.store.get_value(&self.secret, &selector).await;
        self.err(
            &format!("{step}: get_value({selector})"),
            "NotFound",
            result,
        );
    }

    async fn create(&self, token: &str, value: &SecretString) {
        let result = self.store.create_secret(&self.secret, token, value).await;
        if let Err(StoreError::Conflict { .. }) = &result {
            self.fail("create_secret: the secret already exists; give the suite a fresh prefix")
        }
        self.ok("create_secret", result);
    }

    /// begin_rotation + put_pending for a fresh token; returns (token, value).
    async fn stage_pending(&self, label: &str) -> (String, SecretString) {
        let token = new_token();
        let value = sample_document(label);
        self.ok(
            "begin_rotation",
            self.store.begin_rotation(&self.secret, &token).await,
        );
        self.ok(
            "put_pending",
            self.store.put_pending(&self.secret, &token, &value).await,
        );
        (token, value)
    }

    /// A whole rotation from `from`: begin, put, promote. Returns (token, value).
    async fn rotate(&self, from: &str, label: &str) -> (String, SecretString) {
        let (token, value) = self.stage_pending(label).await;
        self.ok(
            "promote",
            self.store.promote(&self.secret, &token, from).await,
        );
        (token, value)
    }

    /// After `new` was promoted from `old`: new is Current (Pending may linger on it), old is
    /// Previous only, `older` (the former Previous) carries nothing, no other Pending.
    async fn expect_promoted(&self, step: &str, new: &str, old: &str, older: Option<&str>) {
        let desc = self.describe(step).await;
        let new_stages = desc.stages_of(new);
        if !new_stages.contains(&Stage::Current) || new_stages.contains(&Stage::Previous) {
            self.fail(format!(
                "{step}: promoted version {new} has stages {new_stages:?}, expected AWSCURRENT \
                 (and possibly a lingering AWSPENDING)"
            ));
        }
        if desc.stages_of(old) != [Stage::Previous] {
            self.fail(format!(
                "{step}: formerly current version {old} has stages {:?}, expected [AWSPREVIOUS]",
                desc.stages_of(old)
            ));
        }
        if let Some(older) = older {
            if !desc.stages_of(older).is_empty() {
                self.fail(format!(
                    "{step}: former previous version {older} still has stages {:?}",
                    desc.stages_of(older)
                ));
            }
        }
        if let Some(p) = desc.with_stage(Stage::Pending) {
            if p.id != new {
                self.fail(format!(
                    "{step}: AWSPENDING is on {} after promoting {new}",
                    p.id
                ));
            }
        }
    }
}
