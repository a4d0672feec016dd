//! Guardrails, workspaces, `include_expired` and the newer `GET /key` fields, against the emulator
//! over real HTTP.

use std::time::{Duration, Instant};

use rotor_emulator::RunningEmulator;
use rotor_openrouter::{
    ApiKey, Client, ClientConfig, CreateGuardrailRequest, CreateKeyRequest, Error, LimitReset,
    ListKeysOptions, RetryPolicy, UpdateKeyRequest,
};

async fn setup() -> (RunningEmulator, Client) {
    let emu = rotor_testkit::emulator::start().await;
    let client = Client::new(
        ClientConfig::new(emu.base_url(), ApiKey::new(emu.management_key())).with_retry(
            RetryPolicy {
                max_attempts: 3,
                initial_backoff: Duration::from_millis(10),
                max_backoff: Duration::from_secs(1),
                max_elapsed: Duration::from_secs(10),
            },
        ),
    )
    .expect("client");
    (emu, client)
}

async fn create(client: &Client, name: &str) -> (String, ApiKey) {
    let created = client
        .create_key(&CreateKeyRequest {
            name: name.into(),
            ..Default::default()
        })
        .await
        .expect("create key");
    (created.data.hash, created.key)
}

#[tokio::test]
async fn guardrail_lifecycle_assignments_and_budgets() {
    let (emu, client) = setup().await;
    let g = client
        .create_guardrail(&CreateGuardrailRequest {
            name: "prod".into(),
            description: Some("openai only".into()),
            limit_usd: Some(1.0),
            reset_interval: Some(LimitReset::Daily),
            allowed_providers: Some(vec!["openai".into()]),
            enforce_zdr: Some(false),
            ..Default::default()
        })
        .await
        .expect("create guardrail");
    assert_eq!(g.name, "prod");
    assert_eq!(g.limit_usd, Some(1.0));
    assert_eq!(g.reset_interval, Some(LimitReset::Daily));
    assert_eq!(
        g.allowed_providers.as_deref(),
        Some(&["openai".to_owned()][..])
    );
    assert!(g.extra.contains_key("enforce_zdr_openai"), "{:?}", g.extra);
    assert_eq!(client.get_guardrail(&g.id).await.expect("get"), g);
    let listed = client.list_guardrails(None).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, g.id);

    let (h1, k1) = create(&client, "guarded").await;
    let (h2, _) = create(&client, "also guarded").await;
    assert_eq!(
        client
            .assign_keys_to_guardrail(&g.id, &[&h1, &h2])
            .await
            .expect("assign"),
        2
    );
    assert_eq!(
        client
            .assign_keys_to_guardrail(&g.id, &[&h1])
            .await
            .expect("assign again"),
        0
    );
    let assigned = client
        .list_guardrail_key_assignments(&g.id)
        .await
        .expect("assignments");
    let mut hashes: Vec<_> = assigned.iter().map(|a| a.key_hash.clone()).collect();
    hashes.sort();
    let mut want = vec![h1.clone(), h2.clone()];
    want.sort();
    assert_eq!(hashes, want);
    assert!(
        assigned
            .iter()
            .all(|a| a.guardrail_id == g.id && !a.key_label.is_empty())
    );
    assert_eq!(client.list_key_assignments().await.expect("all").len(), 2);
    assert_eq!(
        client
            .unassign_keys_from_guardrail(&g.id, &[&h2])
            .await
            .expect("unassign"),
        1
    );
    assert_eq!(client.list_key_assignments().await.expect("all").len(), 1);
    assert!(matches!(
        client.assign_keys_to_guardrail(&g.id, &[]).await,
        Err(Error::InvalidInput { .. })
    ));

    // GET /key shows the guardrail budget; once spent, completions are refused with 403.
    let me = client.current_key(&k1).await.expect("current key");
    assert_eq!(me.budgets.len(), 1, "{:?}", me.budgets);
    assert_eq!(me.budgets[0].scope, "api_key");
    assert_eq!(me.budgets[0].guardrail_id.as_deref(), Some(g.id.as_str()));
    assert_eq!(me.budgets[0].reset_interval, Some(LimitReset::Daily));
    assert!(me.budgets[0].resets_at.is_some());
    assert!(!me.budgets[0].is_spent());
    assert!(!me.allowed_data_regions.is_empty());
    assert!(me.workspace_id.is_some());
    emu.control()
        .add_guardrail_usage(&g.id, 1.0)
        .await
        .expect("spend");
    let me = client.current_key(&k1).await.expect("current key");
    let effective = me.effective_budget.expect("an effective budget");
    assert!(effective.is_spent(), "{effective:?}");
    assert_eq!(effective.guardrail_id.as_deref(), Some(g.id.as_str()));
    let refused = client
        .chat_completion(&k1, "openai/gpt-4o-mini")
        .await
        .expect_err("budget spent");
    assert!(matches!(refused, Error::Forbidden { .. }), "{refused:?}");

    client.delete_guardrail(&g.id).await.expect("delete");
    assert!(
        client
            .get_guardrail(&g.id)
            .await
            .expect_err("gone")
            .is_not_found()
    );
    assert!(client.list_guardrails(None).await.expect("list").is_empty());
    client
        .chat_completion(&k1, "openai/gpt-4o-mini")
        .await
        .expect("no guardrail any more");
}

#[tokio::test]
async fn paged_lists_follow_every_page() {
    let (_emu, client) = setup().await;
    let g = client
        .create_guardrail(&CreateGuardrailRequest {
            name: "many".into(),
            ..Default::default()
        })
        .await
        .expect("guardrail");
    let mut hashes = Vec::new();
    for i in 0..105 {
        hashes.push(create(&client, &format!("k{i}")).await.0);
    }
    let refs: Vec<&str> = hashes.iter().map(String::as_str).collect();
    assert_eq!(
        client
            .assign_keys_to_guardrail(&g.id, &refs)
            .await
            .expect("assign"),
        105
    );
    let assigned = client
        .list_guardrail_key_assignments(&g.id)
        .await
        .expect("all pages");
    assert_eq!(assigned.len(), 105);
    let unique: std::collections::HashSet<_> = assigned.iter().map(|a| &a.key_hash).collect();
    assert_eq!(unique.len(), 105);
}

#[tokio::test]
async fn workspaces_and_moving_a_key() {
    let (emu, client) = setup().await;
    let workspaces = client.list_workspaces().await.expect("list");
    assert_eq!(workspaces.len(), 1, "the default workspace");
    let default = &workspaces[0];
    assert_eq!(
        client.get_workspace(&default.id).await.expect("get"),
        *default
    );
    // Made with the emulator's API directly: the client only reads workspaces.
    let made: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/workspaces", emu.base_url()))
        .bearer_auth(emu.management_key())
        .json(&serde_json::json!({"name": "Staging", "slug": "staging"}))
        .send()
        .await
        .expect("create workspace")
        .json()
        .await
        .expect("json");
    let staging = made["data"]["id"].as_str().expect("id").to_owned();
    assert_eq!(
        client.get_workspace("staging").await.expect("by slug").id,
        staging
    );
    assert_eq!(client.list_workspaces().await.expect("list").len(), 2);

    let (hash, _) = create(&client, "mover").await;
    let moved = client
        .update_key(
            &hash,
            &UpdateKeyRequest {
                workspace_id: Some(staging.clone()),
                ..Default::default()
            },
        )
        .await
        .expect("move");
    assert_eq!(moved.workspace_id, staging);
    assert!(
        client
            .list_keys(&ListKeysOptions::default())
            .await
            .expect("default workspace")
            .is_empty()
    );
    let there = client
        .list_keys(&ListKeysOptions {
            workspace_id: Some(staging.clone()),
            ..Default::default()
        })
        .await
        .expect("staging");
    assert_eq!(there.len(), 1);
    assert_eq!(there[0].hash, hash);
    let err = client
        .get_workspace("00000000-0000-4000-8000-000000000000")
        .await
        .expect_err("unknown");
    assert!(err.is_not_found());
}

#[tokio::test]
async fn expired_keys_are_listed_only_with_include_expired() {
    let (_emu, client) = setup().await;
    // Sub-second precision here; the client sends whole seconds.
    let expires = chrono::Utc::now() + chrono::Duration::milliseconds(2500);
    let short = client
        .create_key(&CreateKeyRequest {
            name: "short".into(),
            expires_at: Some(expires),
            ..Default::default()
        })
        .await
        .expect("create");
    assert_eq!(
        short.data.expires_at.map(|t| t.timestamp_subsec_millis()),
        Some(0),
        "sent with whole seconds"
    );
    create(&client, "long").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let keys = client
            .list_keys(&ListKeysOptions::default())
            .await
            .expect("list");
        if keys.len() == 1 {
            assert_eq!(keys[0].name, "long");
            break;
        }
        assert!(Instant::now() < deadline, "the key never expired");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let all = client
        .list_keys(&ListKeysOptions {
            include_expired: true,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(all.len(), 2);
    // Recovery by name sees expired keys too.
    let found = client
        .find_keys_by_name_prefix("short", None)
        .await
        .expect("find");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].hash, short.data.hash);
}
