//! The engine's verify.rs: testSecret, including a pending value equal to the current one and an expired key.

use std::time::Duration;

use rotor_core::engine::{Clock, ErrorKind, Step, StepOutcome};
use rotor_core::policy::{Policy, TestMode};
use rotor_core::{MemoryStore, SecretStore, Stage, VersionSelector};
use rotor_testkit::observe::{app_reads, mutations};
use rotor_testkit::{Env, SECRET};

use crate::init;

#[tokio::test]
async fn test_only_on_a_pending_value_equal_to_the_current_one() {
    // AWS RotateImmediately=false: only testSecret runs, on a pending copy of the current value.
    let env = Env::with_policy(Policy {
        test_mode: TestMode::Completion,
        ..Policy::default()
    })
    .await;
    let store = MemoryStore::new();
    init(&env, &store).await;
    let current = store
        .get_value(SECRET, &VersionSelector::Stage(Stage::Current))
        .await
        .unwrap();
    let token = "copy";
    store.begin_rotation(SECRET, token).await.unwrap();
    store
        .put_pending(SECRET, token, &current.value)
        .await
        .unwrap();
    let before = mutations(&env.control).await;
    let r = env
        .engine
        .step(&store, SECRET, Step::TestSecret, token)
        .await
        .expect("test on a copy");
    assert_eq!(r.outcome, StepOutcome::Passed);
    let set = env
        .engine
        .step(&store, SECRET, Step::SetSecret, token)
        .await
        .expect("set on a copy");
    assert_eq!(set.outcome, StepOutcome::Unchanged);
    assert_eq!(
        mutations(&env.control).await,
        before,
        "nothing changed at OpenRouter"
    );
}

#[tokio::test]
async fn expires_after_sets_the_new_keys_expiry_and_test_rejects_an_expired_key() {
    let env = Env::with_policy(Policy {
        expires_after: Some(Duration::from_secs(30 * 86400)),
        ..Policy::default()
    })
    .await;
    let store = MemoryStore::new();
    init(&env, &store).await;
    let start = env.clock.now();
    env.engine.rotate(&store, SECRET).await.expect("rotation");
    let rec = app_reads(&store, SECRET).await;
    let at_openrouter = env
        .client
        .get_key(&rec.key_hash)
        .await
        .unwrap()
        .expires_at
        .expect("expires_at set");
    let expected = start + chrono::Duration::days(30);
    assert!(
        (at_openrouter - expected).num_seconds().abs() <= 1,
        "{at_openrouter} vs {expected}"
    );
    assert_eq!(
        rec.expires_at.map(|t| t.timestamp()),
        Some(at_openrouter.timestamp())
    );

    // A pending key that has expired (by the engine's clock) fails testSecret.
    store.begin_rotation(SECRET, "late").await.unwrap();
    env.engine
        .step(&store, SECRET, Step::CreateSecret, "late")
        .await
        .unwrap();
    env.clock.advance(Duration::from_secs(31 * 86400));
    let err = env
        .engine
        .step(&store, SECRET, Step::TestSecret, "late")
        .await
        .expect_err("expired");
    assert_eq!(err.kind(), ErrorKind::KeyCheckFailed);
    assert!(err.to_string().contains("expired"), "{err}");
}
