//! The engine's set.rs: setSecret copies the current key's settings and restores the policy on the new key.

use rotor_core::engine::{ErrorKind, Step, StepOutcome};
use rotor_core::policy::is_rotor_key_name;
use rotor_core::{MemoryStore, SecretStore};
use rotor_openrouter::UpdateKeyRequest;
use rotor_testkit::observe::app_reads;
use rotor_testkit::{Env, SECRET};

use crate::init;

#[tokio::test]
async fn default_limit_copies_the_current_keys_settings() {
    let env = Env::start().await;
    let store = MemoryStore::new();
    let k0 = init(&env, &store).await;
    let patch = UpdateKeyRequest {
        limit: Some(Some(12.0)),
        limit_reset: Some(Some(rotor_openrouter::LimitReset::Weekly)),
        include_byok_in_limit: Some(true),
        ..Default::default()
    };
    env.client.update_key(&k0.key_hash, &patch).await.unwrap();
    env.engine.rotate(&store, SECRET).await.unwrap();
    let k1 = env
        .client
        .get_key(&app_reads(&store, SECRET).await.key_hash)
        .await
        .unwrap();
    assert_eq!(k1.limit, Some(12.0));
    assert_eq!(k1.limit_reset, Some(rotor_openrouter::LimitReset::Weekly));
    assert!(k1.include_byok_in_limit);
}

#[tokio::test]
async fn set_restores_the_policy_and_re_enables_a_disabled_new_key() {
    let env = Env::start().await;
    let store = MemoryStore::new();
    init(&env, &store).await;
    let token = "tampered";
    store.begin_rotation(SECRET, token).await.unwrap();
    let created = env
        .engine
        .step(&store, SECRET, Step::CreateSecret, token)
        .await
        .unwrap();
    let hash = created.key_hash.unwrap();
    let tamper = UpdateKeyRequest {
        name: Some("renamed".into()),
        disabled: Some(true),
        limit: Some(Some(1.0)),
        ..Default::default()
    };
    env.client.update_key(&hash, &tamper).await.unwrap();
    let err = env
        .engine
        .step(&store, SECRET, Step::TestSecret, token)
        .await
        .expect_err("disabled key fails its test");
    assert_eq!(err.kind(), ErrorKind::KeyCheckFailed);
    assert!(err.to_string().contains("disabled"), "{err}");

    let set = env
        .engine
        .step(&store, SECRET, Step::SetSecret, token)
        .await
        .unwrap();
    match set.outcome {
        StepOutcome::Updated { fields } => {
            assert_eq!(fields, vec!["name", "limit", "disabled"]);
        }
        other => panic!("expected an update, got {other:?}"),
    }
    let key = env.client.get_key(&hash).await.unwrap();
    assert!(!key.disabled);
    assert_eq!(
        key.limit, None,
        "the first key is unlimited, so is the new one"
    );
    assert!(is_rotor_key_name(&key.name));
    env.engine
        .step(&store, SECRET, Step::TestSecret, token)
        .await
        .expect("test passes again");
    let again = env
        .engine
        .step(&store, SECRET, Step::SetSecret, token)
        .await
        .unwrap();
    assert_eq!(again.outcome, StepOutcome::Unchanged);
}
