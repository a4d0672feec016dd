//! The engine's step.rs: every step validates before its first write (clear error, nothing changed at OpenRouter or in the store), and OpenRouter failures at every call converge after retries.

use rotor_core::engine::{ErrorKind, Step};
use rotor_core::policy::{Policy, TestMode};
use rotor_core::{KeyRecord, MemoryStore, SecretStore, Stage, VersionSelector};
use rotor_emulator::control::FaultKind;
use rotor_openrouter::{CreateKeyRequest, UpdateKeyRequest};
use rotor_testkit::observe::{
    app_reads, assert_all_live_keys_recorded, assert_no_key_material, snapshot,
};
use rotor_testkit::rotation::PAST_GRACE;
use rotor_testkit::{Env, SECRET, fast_client};
use secrecy::SecretString;

use crate::{assert_refused, init, rotate_checked};

async fn app_pending_hash(store: &dyn SecretStore, token: &str) -> String {
    let v = store
        .get_value(
            SECRET,
            &VersionSelector::version_in_stage(token, Stage::Pending),
        )
        .await
        .unwrap();
    KeyRecord::parse(&v.value, SECRET).unwrap().key_hash
}

#[tokio::test]
async fn wrong_token_unknown_step_and_disabled_rotation_are_refused() {
    let env = Env::start().await;
    let store = MemoryStore::new();
    init(&env, &store).await;
    store.begin_rotation(SECRET, "real").await.unwrap();

    for step in Step::ALL {
        assert_refused(
            &env,
            &store,
            async || {
                env.engine
                    .step(&store, SECRET, step, "bogus")
                    .await
                    .unwrap_err()
            },
            &[SECRET, "bogus", step.as_str(), "not a version"],
        )
        .await;
    }
    let err = "rotateSecret".parse::<Step>().unwrap_err();
    assert!(err.to_string().contains("rotateSecret") && err.to_string().contains("createSecret"));

    // A version that is neither pending nor current: the previous one after a rotation.
    let old_current = store
        .describe(SECRET)
        .await
        .unwrap()
        .with_stage(Stage::Current)
        .unwrap()
        .id
        .clone();
    store.clear_pending(SECRET, "real").await.unwrap();
    env.engine
        .rotate_with_token(&store, SECRET, "next")
        .await
        .unwrap();
    assert_refused(
        &env,
        &store,
        async || {
            env.engine
                .step(&store, SECRET, Step::CreateSecret, &old_current)
                .await
                .unwrap_err()
        },
        &["AWSPENDING", "AWSPREVIOUS"],
    )
    .await;

    store.begin_rotation(SECRET, "later").await.unwrap();
    store.set_rotation_enabled(SECRET, Some(false)).unwrap();
    for step in Step::ALL {
        assert_refused(
            &env,
            &store,
            async || {
                env.engine
                    .step(&store, SECRET, step, "later")
                    .await
                    .unwrap_err()
            },
            &[SECRET, "rotation is disabled"],
        )
        .await;
    }
    store.clear_pending(SECRET, "later").await.unwrap();
    assert_refused(
        &env,
        &store,
        async || env.engine.rotate(&store, SECRET).await.unwrap_err(),
        &["rotation is disabled"],
    )
    .await;
}

#[tokio::test]
async fn malformed_documents_are_refused_without_echoing_them() {
    let env = Env::start().await;
    let leaked = env
        .client
        .create_key(&CreateKeyRequest {
            name: "by hand".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let k = leaked.key.expose().to_owned();
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            format!("{{\"api_key\": \"{k}\", oops"),
            vec!["not valid JSON", "line 1"],
        ),
        (
            format!(
                r#"{{"key": "{k}", "key_hash": "h", "key_name": "n", "created_at": "2026-01-01T00:00:00Z"}}"#
            ),
            vec!["\"api_key\""],
        ),
        (
            format!(
                r#"{{"api_key": ["{k}"], "key_hash": "h", "key_name": "n", "created_at": "2026-01-01T00:00:00Z"}}"#
            ),
            vec!["\"api_key\"", "sk-or-v1-"],
        ),
        (
            format!(
                r#"{{"api_key": "{k}", "key_hash": "h", "key_name": "n", "created_at": "{k}"}}"#
            ),
            vec!["\"created_at\""],
        ),
    ];
    for (i, (doc, needles)) in cases.into_iter().enumerate() {
        let store = MemoryStore::new();
        store
            .create_secret(SECRET, "v0", &SecretString::from(doc))
            .await
            .unwrap();
        let mut needles = needles;
        needles.extend([SECRET, "AWSCURRENT"]);
        let before = snapshot(&env, &store, SECRET).await;
        let err = env
            .engine
            .rotate(&store, SECRET)
            .await
            .expect_err("refused");
        let text = format!("{err} {err:?}");
        assert_no_key_material(
            &text,
            std::slice::from_ref(&leaked.key),
            &format!("error of case {i}"),
        );
        for n in &needles {
            assert!(
                text.contains(n),
                "case {i}: error should mention {n:?}: {err}"
            );
        }
        assert_eq!(err.kind(), ErrorKind::Precondition);
        assert_eq!(
            before,
            snapshot(&env, &store, SECRET).await,
            "case {i}: nothing changed"
        );
    }
}

#[tokio::test]
async fn a_document_whose_key_belongs_to_another_account_is_refused() {
    let env = Env::start().await;
    let other = env.control.create_account().await.unwrap();
    let other_client = fast_client(&env.base_url, &other.management_key);
    let foreign = other_client
        .create_key(&CreateKeyRequest {
            name: "other account [rotor:00000000]".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let doc = serde_json::json!({
        "api_key": foreign.key.expose(), "key_hash": foreign.data.hash, "key_name": foreign.data.name,
        "created_at": foreign.data.created_at, "expires_at": null,
    });
    let store = MemoryStore::new();
    store
        .create_secret(SECRET, "v0", &SecretString::from(doc.to_string()))
        .await
        .unwrap();
    assert_refused(
        &env,
        &store,
        async || env.engine.rotate(&store, SECRET).await.unwrap_err(),
        &[SECRET, "another account", &foreign.data.hash],
    )
    .await;
    store.begin_rotation(SECRET, "t").await.unwrap();
    assert_refused(
        &env,
        &store,
        async || {
            env.engine
                .step(&store, SECRET, Step::CreateSecret, "t")
                .await
                .unwrap_err()
        },
        &["createSecret", "another account"],
    )
    .await;

    // A pending document with another account's key: set refuses, test fails, nothing changes.
    let store = MemoryStore::new();
    init(&env, &store).await;
    store.begin_rotation(SECRET, "p").await.unwrap();
    store
        .put_pending(SECRET, "p", &SecretString::from(doc.to_string()))
        .await
        .unwrap();
    assert_refused(
        &env,
        &store,
        async || {
            env.engine
                .step(&store, SECRET, Step::SetSecret, "p")
                .await
                .unwrap_err()
        },
        &["pending", "another account"],
    )
    .await;
    assert_refused(
        &env,
        &store,
        async || {
            env.engine
                .step(&store, SECRET, Step::TestSecret, "p")
                .await
                .unwrap_err()
        },
        &["testSecret", "no key with hash"],
    )
    .await;
}

#[tokio::test]
async fn openrouter_failures_at_every_call_converge_after_retries_without_orphans() {
    let env = Env::with_policy(Policy {
        test_mode: TestMode::Completion,
        ..Policy::default()
    })
    .await;
    let store = MemoryStore::new();
    init(&env, &store).await;
    rotate_checked(&env, &store, "warm-up").await;
    // More failures than the client's 3 attempts, so the engine sees them.
    let server_error = FaultKind::Status {
        status: 500,
        retry_after: None,
    };
    let faults: Vec<(&str, &str, u32, FaultKind)> = vec![
        ("GET", "/api/v1/keys/*", 3, server_error.clone()),
        ("POST", "/api/v1/keys", 1, FaultKind::CommitThenDrop),
        ("POST", "/api/v1/keys", 1, server_error.clone()),
        ("PATCH", "/api/v1/keys/*", 3, server_error.clone()),
        ("GET", "/api/v1/key", 3, server_error.clone()),
        ("POST", "/api/v1/chat/completions", 1, server_error.clone()),
    ];
    for (i, (method, path, count, kind)) in faults.into_iter().enumerate() {
        env.clock.advance(PAST_GRACE);
        let token = format!("fault-{i}-{method}-{}", path.replace('/', "_"));
        store.begin_rotation(SECRET, &token).await.unwrap();
        let mut failures = 0;
        for step in Step::ALL {
            if step == Step::SetSecret && method == "PATCH" {
                // Give set something to change, so it calls PATCH.
                let hash = app_pending_hash(&store, &token).await;
                let patch = UpdateKeyRequest {
                    name: Some("drifted".into()),
                    ..Default::default()
                };
                env.client.update_key(&hash, &patch).await.unwrap();
            }
            if (step == Step::CreateSecret
                && ["/api/v1/keys", "/api/v1/keys/*"].contains(&path)
                && method != "PATCH")
                || (step == Step::SetSecret && method == "PATCH")
                || (step == Step::TestSecret
                    && ["/api/v1/key", "/api/v1/chat/completions"].contains(&path))
            {
                let fault = rotor_emulator::control::Fault {
                    method: method.into(),
                    path: path.into(),
                    count,
                    kind: kind.clone(),
                };
                env.control.inject_fault(&fault).await.unwrap();
            }
            for attempt in 0..5 {
                let result = env.engine.step(&store, SECRET, step, &token).await;
                assert_all_live_keys_recorded(
                    &env,
                    &store,
                    SECRET,
                    &format!("{token} {step} attempt {attempt}"),
                )
                .await;
                match result {
                    Ok(_) => break,
                    Err(e) => {
                        assert!(
                            e.is_retryable(),
                            "{token} {step}: a temporary failure must be retryable: {e}"
                        );
                        failures += 1;
                    }
                }
                assert!(attempt < 4, "{token} {step} did not converge");
            }
        }
        assert!(failures >= 1, "{token}: the fault was seen by the engine");
        env.control.clear_faults().await.unwrap();
        let current = app_reads(&store, SECRET).await;
        assert!(
            env.key_works(&current.api_key).await,
            "{token}: the application's key works"
        );
        assert!(
            env.live_rotor_keys().await.len() <= 2,
            "{token}: at most current and previous alive"
        );
    }
}
