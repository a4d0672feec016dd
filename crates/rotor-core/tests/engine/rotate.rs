//! The engine's rotate.rs and step.rs: a rotation end to end, re-runs of every step, a second rotation while one is pending, carried fields and overrides.

use std::collections::BTreeSet;
use std::time::Duration;

use rotor_core::engine::{ErrorKind, Step, StepOutcome};
use rotor_core::policy::is_rotor_key_name;
use rotor_core::{FileStore, KeyRecord, MemoryStore, SecretStore, Stage, VersionSelector};
use rotor_openrouter::CreateKeyRequest;
use rotor_testkit::observe::{
    app_reads, assert_all_live_keys_recorded, assert_no_key_material, snapshot,
};
use rotor_testkit::{Env, SECRET};
use secrecy::SecretString;

use crate::init;

#[tokio::test]
async fn rotation_switches_the_application_to_a_new_key_and_the_old_one_keeps_working() {
    let env = Env::start().await;
    let store = MemoryStore::new();
    let first = init(&env, &store).await;
    assert!(is_rotor_key_name(&first.key_name));
    assert!(env.key_works(&first.api_key).await);

    let report = env.engine.rotate(&store, SECRET).await.expect("rotation");
    let outcomes: Vec<_> = report.steps.iter().map(|s| s.outcome.clone()).collect();
    assert_eq!(outcomes[0], StepOutcome::Created);
    assert_eq!(outcomes[2], StepOutcome::Passed);
    assert_eq!(outcomes[3], StepOutcome::Promoted);

    let second = app_reads(&store, SECRET).await;
    assert_ne!(second.key_hash, first.key_hash);
    assert_eq!(
        report.new_key_hash.as_deref(),
        Some(second.key_hash.as_str())
    );
    assert!(env.key_works(&second.api_key).await, "the new key works");
    assert!(
        env.key_works(&first.api_key).await,
        "the old key still works after finish"
    );
    assert_eq!(second.older_keys.len(), 1);
    assert_eq!(second.older_keys[0].key_hash, first.key_hash);
    assert_eq!(
        env.live_rotor_keys().await,
        BTreeSet::from([first.key_hash.clone(), second.key_hash.clone()])
    );

    // The previous version is still readable as AWSPREVIOUS.
    let prev = store
        .get_value(SECRET, &VersionSelector::Stage(Stage::Previous))
        .await
        .expect("previous");
    assert_eq!(
        KeyRecord::parse(&prev.value, SECRET).unwrap().key_hash,
        first.key_hash
    );

    // Status: no key material, both keys active, the older key retirable in 2 h.
    let status = env.engine.status(&store, SECRET).await.expect("status");
    let json = serde_json::to_string(&status).unwrap();
    assert_no_key_material(
        &json,
        &[first.api_key.clone(), second.api_key.clone()],
        "status",
    );
    assert!(status.pending_rotation.is_none());
    assert_eq!(status.older_keys.len(), 1);
    assert!(status.older_keys[0].state.works());
    assert!(!status.older_keys[0].retirable_now);
    let current = status
        .versions
        .iter()
        .find(|v| v.stages.contains(&"AWSCURRENT".to_owned()))
        .unwrap();
    assert!(current.key.as_ref().unwrap().state.works());
}

#[tokio::test]
async fn every_step_re_run_is_a_no_op() {
    let env = Env::start().await;
    let store = MemoryStore::new();
    init(&env, &store).await;
    let token = "rerun-token";
    store.begin_rotation(SECRET, token).await.unwrap();
    for step in Step::ALL {
        let first = env
            .engine
            .step(&store, SECRET, step, token)
            .await
            .expect("first run");
        let before = snapshot(&env, &store, SECRET).await;
        let again = env
            .engine
            .step(&store, SECRET, step, token)
            .await
            .expect("re-run");
        let after = snapshot(&env, &store, SECRET).await;
        assert_eq!(before, after, "{step} re-run changed something");
        assert_eq!(again.key_hash, first.key_hash);
        let expected = match step {
            Step::CreateSecret => StepOutcome::AlreadyCreated,
            Step::SetSecret => StepOutcome::Unchanged,
            Step::TestSecret => StepOutcome::Passed,
            Step::FinishSecret => StepOutcome::AlreadyCurrent,
        };
        assert_eq!(again.outcome, expected, "{step}");
    }
    // After finish, every step is a no-op for this token.
    let before = snapshot(&env, &store, SECRET).await;
    for step in Step::ALL {
        let r = env
            .engine
            .step(&store, SECRET, step, token)
            .await
            .expect("after finish");
        assert_eq!(r.outcome, StepOutcome::AlreadyCurrent);
    }
    assert_eq!(before, snapshot(&env, &store, SECRET).await);
    // rotate_with_token with the finished token is a no-op too.
    env.engine
        .rotate_with_token(&store, SECRET, token)
        .await
        .expect("re-run of a finished rotation");
    assert_eq!(before, snapshot(&env, &store, SECRET).await);
}

#[tokio::test]
async fn rotation_on_the_file_store_and_unknown_fields_and_overrides_are_carried_forward() {
    let env = Env::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path().join("secrets")).expect("file store");
    // A secret written by hand: a key, a team field, and per-secret policy.
    let created = env
        .client
        .create_key(&CreateKeyRequest {
            name: "hand-made".into(),
            limit: Some(3.0),
            ..Default::default()
        })
        .await
        .unwrap();
    let doc = serde_json::json!({
        "api_key": created.key.expose(),
        "key_hash": created.data.hash,
        "key_name": created.data.name,
        "created_at": created.data.created_at,
        "expires_at": null,
        "rotation": { "grace_period": "30m", "limit": 7.5, "limit_reset": "monthly", "test_mode": "completion" },
        "team": { "region": "eu", "tier": 2 },
    });
    store
        .create_secret(SECRET, "v0", &SecretString::from(doc.to_string()))
        .await
        .unwrap();
    let usage_before = env.client.get_key(&created.data.hash).await.unwrap().usage;

    env.engine
        .rotate(&store, SECRET)
        .await
        .expect("first rotation");
    let rec = app_reads(&store, SECRET).await;
    assert_eq!(
        rec.extra.get("team"),
        doc.get("team"),
        "unknown fields are preserved"
    );
    assert_eq!(
        rec.rotation.as_ref().unwrap().grace_period,
        Some(Duration::from_secs(1800))
    );
    let new_key = env.client.get_key(&rec.key_hash).await.unwrap();
    assert_eq!(new_key.limit, Some(7.5));
    assert_eq!(
        new_key.limit_reset,
        Some(rotor_openrouter::LimitReset::Monthly)
    );
    assert!(
        new_key.usage > 0.0,
        "completion test mode made one completion with the new key"
    );
    assert_eq!(
        env.client.get_key(&created.data.hash).await.unwrap().usage,
        usage_before
    );
    // The hand-made key is recorded as older, and retired after the per-secret grace of 30 min.
    assert_eq!(rec.older_keys[0].key_hash, created.data.hash);
    env.clock.advance(Duration::from_secs(31 * 60));
    let report = env
        .engine
        .rotate(&store, SECRET)
        .await
        .expect("second rotation");
    assert_eq!(report.retired.len(), 1);
    assert!(!env.key_works(&created.key).await);
    let rec2 = app_reads(&store, SECRET).await;
    assert_eq!(rec2.extra.get("team"), doc.get("team"));
    assert!(rec2.older_keys.iter().any(|k| k.key_hash == rec.key_hash));
    assert_all_live_keys_recorded(&env, &store, SECRET, "end").await;

    // The file on disk is what applications read.
    let reopened = FileStore::open(dir.path().join("secrets")).unwrap();
    assert_eq!(app_reads(&reopened, SECRET).await.key_hash, rec2.key_hash);
}

#[tokio::test]
async fn a_second_rotation_while_one_is_pending_is_refused_and_resume_finishes_the_first() {
    let env = Env::start().await;
    let store = MemoryStore::new();
    init(&env, &store).await;
    store.begin_rotation(SECRET, "first").await.unwrap();
    env.engine
        .step(&store, SECRET, Step::CreateSecret, "first")
        .await
        .unwrap();
    let before = snapshot(&env, &store, SECRET).await;

    let err = env
        .engine
        .rotate(&store, SECRET)
        .await
        .expect_err("conflict");
    assert_eq!(err.kind(), ErrorKind::Conflict);
    let msg = err.to_string();
    assert!(
        msg.contains("token first") && msg.contains("--resume") && msg.contains("--token first"),
        "{msg}"
    );
    assert_eq!(
        before,
        snapshot(&env, &store, SECRET).await,
        "nothing changed"
    );

    let report = env.engine.resume(&store, SECRET).await.expect("resume");
    assert_eq!(report.token, "first");
    assert_eq!(report.steps[0].outcome, StepOutcome::AlreadyCreated);
    assert_eq!(
        app_reads(&store, SECRET).await.key_hash,
        report.new_key_hash.unwrap()
    );
    let err = env
        .engine
        .resume(&store, SECRET)
        .await
        .expect_err("nothing to resume");
    assert_eq!(err.kind(), ErrorKind::Precondition);
}
