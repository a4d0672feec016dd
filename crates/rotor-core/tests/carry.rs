//! A rotation carries everything the current key has: its guardrails (assigned to the new key
//! before it is tested) and its workspace (the new key lives there, and recovery looks there);
//! and a key that cannot spend fails testSecret. Against the in-process emulator over HTTP.

use rotor_core::engine::ErrorKind;
use rotor_core::{KeyRecord, MemoryStore, SecretStore};
use rotor_emulator::control::FaultKind;
use rotor_openrouter::{Client, CreateGuardrailRequest, LimitReset, UpdateKeyRequest};
use rotor_testkit::Env;
use rotor_testkit::emulator::status;
use rotor_testkit::observe::app_reads;

const SECRET: &str = "team/app";

async fn current(store: &dyn SecretStore) -> KeyRecord {
    app_reads(store, SECRET).await
}

async fn guardrails_of(client: &Client, hash: &str) -> Vec<String> {
    let mut g: Vec<String> = client
        .list_key_assignments()
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.key_hash == hash)
        .map(|a| a.guardrail_id)
        .collect();
    g.sort();
    g
}

#[tokio::test(flavor = "multi_thread")]
async fn the_new_key_gets_the_current_keys_guardrails_before_it_is_tested() {
    let env = Env::start().await;
    let (client, engine) = (&env.client, &env.engine);
    let store = MemoryStore::new();
    let first = engine.init(&store, SECRET, None).await.unwrap();
    let guardrail = client
        .create_guardrail(&CreateGuardrailRequest {
            name: "team models".into(),
            allowed_models: Some(vec!["openai/gpt-4o-mini".into()]),
            ..Default::default()
        })
        .await
        .unwrap();
    client
        .assign_keys_to_guardrail(&guardrail.id, &[first.key_hash.as_str()])
        .await
        .unwrap();
    let report = engine.rotate(&store, SECRET).await.unwrap();
    let new_hash = report.new_key_hash.unwrap();
    assert_ne!(new_hash, first.key_hash);
    assert_eq!(
        guardrails_of(client, &new_hash).await,
        vec![guardrail.id.clone()],
        "the new key carries the current key's guardrail"
    );
    let set = &report.steps[1];
    assert!(
        format!("{:?}", set.outcome).contains(&guardrail.id),
        "setSecret reports the assignment: {:?}",
        set.outcome
    );
    // A re-run of setSecret changes nothing.
    let again = engine.rotate(&store, SECRET).await.unwrap();
    assert_eq!(
        guardrails_of(client, again.new_key_hash.as_deref().unwrap()).await,
        vec![guardrail.id]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_blocked_by_a_spent_guardrail_budget_fails_its_test_and_nothing_is_promoted() {
    let env = Env::start().await;
    let (emu, client, engine) = (&env.emulator, &env.client, &env.engine);
    let store = MemoryStore::new();
    let first = engine.init(&store, SECRET, None).await.unwrap();
    let guardrail = client
        .create_guardrail(&CreateGuardrailRequest {
            name: "team budget".into(),
            limit_usd: Some(5.0),
            reset_interval: Some(LimitReset::Monthly),
            ..Default::default()
        })
        .await
        .unwrap();
    client
        .assign_keys_to_guardrail(&guardrail.id, &[first.key_hash.as_str()])
        .await
        .unwrap();
    emu.control()
        .add_guardrail_usage(&guardrail.id, 5.0)
        .await
        .unwrap();
    let err = engine.rotate(&store, SECRET).await.expect_err("blocked");
    assert_eq!(err.kind(), ErrorKind::KeyCheckFailed, "{err}");
    let text = err.to_string();
    assert!(text.contains("spent"), "{text}");
    assert!(text.contains(&guardrail.id), "{text}");
    assert_eq!(
        current(&store).await.key_hash,
        first.key_hash,
        "Current is unchanged"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_in_a_workspace_rotates_into_it_and_a_dropped_create_there_leaves_no_orphan() {
    let env = Env::start().await;
    let (emu, client, engine) = (&env.emulator, &env.client, &env.engine);
    let store = MemoryStore::new();
    let first = engine.init(&store, SECRET, None).await.unwrap();
    // The team's workspace, and the current key moved into it.
    let ws: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/workspaces", emu.base_url()))
        .bearer_auth(emu.management_key())
        .json(&serde_json::json!({"name": "Team", "slug": "team"}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    let workspace = ws["data"]["id"].as_str().expect("workspace id").to_owned();
    client
        .update_key(
            &first.key_hash,
            &UpdateKeyRequest {
                workspace_id: Some(workspace.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    // The create lands in the workspace but its response is lost, and rotor cannot look at
    // once (the listing fails too): the intent stays for the next run.
    env.fault("POST", "/api/v1/keys", 1, FaultKind::CommitThenDrop)
        .await;
    env.fault("GET", "/api/v1/keys", 5, status(503, None)).await;
    let err = engine
        .rotate(&store, SECRET)
        .await
        .expect_err("lost create");
    assert!(err.is_retryable(), "{err}");
    emu.control().clear_faults().await.unwrap();
    let in_workspace = client
        .list_keys(&rotor_openrouter::ListKeysOptions {
            include_disabled: true,
            include_expired: true,
            workspace_id: Some(workspace.clone()),
        })
        .await
        .unwrap();
    assert_eq!(
        in_workspace.len(),
        2,
        "the lost key exists, in the workspace"
    );
    // The next run recovers from the intent, listing the workspace, then rotates there.
    let report = engine.resume(&store, SECRET).await.expect("resume");
    let deleted: Vec<_> = report
        .recovered
        .iter()
        .chain(report.steps.iter().flat_map(|s| s.cleaned_up.iter()))
        .collect();
    assert_eq!(deleted.len(), 1, "the lost key was deleted: {report:?}");
    let new = client
        .get_key(report.new_key_hash.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(
        new.workspace_id, workspace,
        "the new key lives in the workspace"
    );
    let live = env.live_keys().await;
    let doc = current(&store).await;
    for hash in &live {
        assert!(
            doc.referenced_hashes().any(|h| h == hash),
            "live key {hash} is recorded"
        );
    }
    assert_eq!(live.len(), 2, "the current and the previous key");
}
