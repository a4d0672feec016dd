//! The engine's init.rs: an existing secret, a failed store write, a lost create response.

use rotor_core::policy::{PolicyOverrides, Setting};
use rotor_core::{MemoryStore, SecretStore};
use rotor_emulator::control::FaultKind;
use rotor_testkit::observe::app_reads;
use rotor_testkit::{Env, SECRET};

use crate::{assert_refused, init};

#[tokio::test]
async fn init_refuses_an_existing_secret_and_deletes_its_key_when_storing_fails() {
    let env = Env::start().await;
    let store = MemoryStore::new();
    init(&env, &store).await;
    assert_refused(
        &env,
        &store,
        async || env.engine.init(&store, SECRET, None).await.unwrap_err(),
        &["already has a current value", "rotor rotate"],
    )
    .await;
    let overrides = PolicyOverrides {
        limit: Some(Setting::Value(Some(2.0))),
        ..Default::default()
    };
    let r = env
        .engine
        .init(&store, "other/secret", Some(overrides))
        .await
        .unwrap();
    assert_eq!(
        env.client.get_key(&r.key_hash).await.unwrap().limit,
        Some(2.0)
    );
    let rec = app_reads(&store, "other/secret").await;
    assert_eq!(rec.rotation.unwrap().limit, Some(Setting::Value(Some(2.0))));
}

#[tokio::test]
async fn init_with_a_lost_create_response_leaves_nothing_behind() {
    let env = Env::start().await;
    let store = MemoryStore::new();
    env.control
        .fail_next("POST", "/api/v1/keys", FaultKind::CommitThenDrop)
        .await
        .unwrap();
    let err = env
        .engine
        .init(&store, SECRET, None)
        .await
        .expect_err("lost response");
    assert!(err.is_retryable(), "{err}");
    assert!(
        env.live_rotor_keys().await.is_empty(),
        "the key init made was found by tag and deleted"
    );
    assert!(
        store.describe(SECRET).await.is_err(),
        "no secret was created"
    );
    init(&env, &store).await;
    assert_eq!(env.live_rotor_keys().await.len(), 1);
}
