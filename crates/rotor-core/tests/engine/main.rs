//! The rotation engine against the OpenRouter emulator (real HTTP on 127.0.0.1) with the memory and
//! file stores, one module per engine file (`crates/rotor-core/src/engine/*.rs`). Assertions are
//! what a user checks: what an application reads from the store, whether a key works at
//! completions, which rotor keys are alive, what the documents record. Setup (emulator, client,
//! clock, engine) comes from `rotor_testkit`; crash-resume, exactly-one-wins, abandon and
//! retirement are the rotation conformance suite (`tests/rotation_conformance.rs`).
//!
//! No assertion message prints key material: values are compared by hash, keys by their hash.

mod create;
mod finish;
mod init;
mod retire;
mod rotate;
mod set;
mod step;
mod verify;

use rotor_core::engine::{EngineError, Step};
use rotor_core::{KeyRecord, SecretStore};
use rotor_testkit::observe::{app_reads, assert_all_live_keys_recorded, snapshot};
use rotor_testkit::{Env, SECRET};

async fn init(env: &Env, store: &dyn SecretStore) -> KeyRecord {
    env.engine.init(store, SECRET, None).await.expect("init");
    app_reads(store, SECRET).await
}

/// Runs the four steps one by one, checking the no-orphan invariant after each.
async fn rotate_checked(env: &Env, store: &dyn SecretStore, token: &str) {
    store
        .begin_rotation(SECRET, token)
        .await
        .expect("begin rotation");
    for step in Step::ALL {
        env.engine
            .step(store, SECRET, step, token)
            .await
            .unwrap_or_else(|e| panic!("{step}: {e}"));
        assert_all_live_keys_recorded(env, store, SECRET, &format!("after {step}")).await;
    }
}

/// Refusals: a clear error naming `needles`, not retryable, and nothing changed at OpenRouter or
/// in the store.
async fn assert_refused(
    env: &Env,
    store: &dyn SecretStore,
    run: impl AsyncFnOnce() -> EngineError,
    needles: &[&str],
) {
    let before = snapshot(env, store, SECRET).await;
    let err = run().await;
    let msg = err.to_string();
    for n in needles {
        assert!(msg.contains(n), "error should mention {n:?}: {msg}");
    }
    assert!(!err.is_retryable(), "{msg}");
    assert_eq!(
        before,
        snapshot(env, store, SECRET).await,
        "nothing changed: {msg}"
    );
}
