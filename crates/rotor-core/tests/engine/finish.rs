//! The engine's finish.rs: the key AWSPREVIOUS holds stays alive until the promote, and retiring it after the promote.

use rotor_core::engine::Step;
use rotor_core::{KeyRecord, MemoryStore, SecretStore, Stage, VersionSelector};
use rotor_emulator::control::FaultKind;
use rotor_testkit::observe::{app_reads, assert_all_live_keys_recorded};
use rotor_testkit::rotation::PAST_GRACE;
use rotor_testkit::{Env, SECRET};

use crate::{init, rotate_checked};

/// Between createSecret and finishSecret the key AWSPREVIOUS holds is still alive: an application
/// reading AWSPREVIOUS at any moment gets a key that works (never a deleted one).
#[tokio::test]
async fn the_key_awsprevious_holds_works_at_every_step() {
    let env = Env::start().await;
    let store = MemoryStore::new();
    init(&env, &store).await;
    rotate_checked(&env, &store, "r1").await;
    for round in 2..5 {
        env.clock.advance(PAST_GRACE);
        let token = format!("r{round}");
        store.begin_rotation(SECRET, &token).await.unwrap();
        for step in Step::ALL {
            env.engine
                .step(&store, SECRET, step, &token)
                .await
                .expect("step");
            let previous = store
                .get_value(SECRET, &VersionSelector::Stage(Stage::Previous))
                .await
                .expect("AWSPREVIOUS");
            let previous = KeyRecord::parse(&previous.value, SECRET).unwrap();
            assert!(
                env.key_works(&previous.api_key).await,
                "round {round}, after {step}: AWSPREVIOUS holds a key that no longer works"
            );
        }
        assert!(
            env.live_rotor_keys().await.len() <= 2,
            "at most two live keys"
        );
    }
}

/// A failure to retire the former AWSPREVIOUS key after the promote does not fail finishSecret;
/// the key stays alive and recorded, and the next rotation retires it.
#[tokio::test]
async fn a_failed_retirement_after_promote_leaves_the_key_recorded_for_later() {
    let env = Env::start().await;
    let store = MemoryStore::new();
    let k0 = init(&env, &store).await;
    rotate_checked(&env, &store, "r1").await;
    env.clock.advance(PAST_GRACE);
    store.begin_rotation(SECRET, "r2").await.unwrap();
    for step in [Step::CreateSecret, Step::SetSecret, Step::TestSecret] {
        env.engine
            .step(&store, SECRET, step, "r2")
            .await
            .expect("step");
    }
    let fault = rotor_emulator::control::Fault {
        method: "DELETE".into(),
        path: "/api/v1/keys/*".into(),
        count: 3,
        kind: FaultKind::Status {
            status: 500,
            retry_after: None,
        },
    };
    env.control.inject_fault(&fault).await.unwrap();
    env.engine
        .step(&store, SECRET, Step::FinishSecret, "r2")
        .await
        .expect("finish succeeds although the retirement failed");
    env.control.clear_faults().await.unwrap();
    assert!(env.key_works(&k0.api_key).await, "not deleted yet");
    let current = app_reads(&store, SECRET).await;
    assert!(
        current.older_keys.iter().any(|k| k.key_hash == k0.key_hash),
        "still recorded"
    );
    assert_all_live_keys_recorded(&env, &store, SECRET, "after the failed retirement").await;
    env.clock.advance(PAST_GRACE);
    rotate_checked(&env, &store, "r3").await;
    assert!(
        !env.key_works(&k0.api_key).await,
        "retired by the next rotation"
    );
}
