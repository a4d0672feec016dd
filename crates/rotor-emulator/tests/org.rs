//! Guardrails, workspaces, `include_expired`, `expires_at` validation and the shape of rate-limited
//! answers, over real HTTP.

mod common;

use std::time::{Duration, Instant};

use common::{Answer, assert_error, call, create_key};
use reqwest::{Method, StatusCode};
use rotor_emulator::{EmulatorConfig, RateLimit, RetryAfterMode, RunningEmulator};
use rotor_testkit::emulator::{start, start_with};
use serde_json::{Value, json};

fn completion(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1})
}

async fn mgmt(emu: &RunningEmulator, method: Method, path: &str, body: Option<Value>) -> Answer {
    call(
        method,
        &format!("{}{path}", emu.base_url()),
        Some(emu.management_key()),
        body,
    )
    .await
}

async fn create_guardrail(emu: &RunningEmulator, body: Value) -> Value {
    let a = mgmt(emu, Method::POST, "/guardrails", Some(body)).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    a.body["data"].clone()
}

async fn complete(emu: &RunningEmulator, key: &str, model: &str) -> Answer {
    call(
        Method::POST,
        &format!("{}/chat/completions", emu.base_url()),
        Some(key),
        Some(completion(model)),
    )
    .await
}

async fn assign(emu: &RunningEmulator, guardrail: &str, hashes: &[&str]) -> Answer {
    mgmt(
        emu,
        Method::POST,
        &format!("/guardrails/{guardrail}/assignments/keys"),
        Some(json!({ "key_hashes": hashes })),
    )
    .await
}

#[tokio::test]
async fn guardrail_crud_follows_the_sdk_shape() {
    let emu = start().await;
    let created = create_guardrail(
        &emu,
        json!({"name": "prod", "description": "production traffic", "limit_usd": 5.0,
               "reset_interval": "monthly", "allowed_providers": ["openai"],
               "allowed_models": ["openai/gpt-4o-mini"], "enforce_zdr": true,
               "allowed_data_regions": ["europe"], "some_future_field": 1}),
    )
    .await;
    let id = created["id"].as_str().expect("id").to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{created}");
    for (field, want) in [
        ("name", json!("prod")),
        ("description", json!("production traffic")),
        ("limit_usd", json!(5.0)),
        ("reset_interval", json!("monthly")),
        ("allowed_providers", json!(["openai"])),
        ("enforce_zdr", json!(true)),
        ("enforce_zdr_openai", json!(true)),
        ("include_byok_in_budgets", json!(false)),
        ("updated_at", Value::Null),
    ] {
        assert_eq!(created[field], want, "{field}: {created}");
    }
    assert!(created["created_at"].is_string() && created["workspace_id"].is_string());
    assert!(created.get("some_future_field").is_none());

    let got = mgmt(&emu, Method::GET, &format!("/guardrails/{id}"), None).await;
    assert_eq!(got.body["data"], created);
    let listed = mgmt(&emu, Method::GET, "/guardrails", None).await;
    assert_eq!(listed.body["total_count"], 1);
    assert_eq!(listed.body["data"][0]["id"], json!(id));

    let updated = mgmt(
        &emu,
        Method::PATCH,
        &format!("/guardrails/{id}"),
        Some(json!({"name": "prod-2", "allowed_models": null})),
    )
    .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(updated.body["data"]["name"], "prod-2");
    assert_eq!(updated.body["data"]["allowed_models"], Value::Null);
    assert_eq!(updated.body["data"]["limit_usd"], json!(5.0), "untouched");
    assert!(updated.body["data"]["updated_at"].is_string());

    // Validation: limit_usd and reset_interval go together; types are checked.
    for bad in [
        json!({"name": "x", "limit_usd": 1.0}),
        json!({"name": "x", "reset_interval": "daily"}),
        json!({"name": "x", "limit_usd": -1, "reset_interval": "daily"}),
        json!({"name": "x", "reset_interval": "hourly", "limit_usd": 1}),
        json!({"name": "x", "allowed_models": "openai/gpt-4o"}),
        json!({"name": "x", "allowed_data_regions": []}),
        json!({"name": "x", "allowed_data_regions": ["mars"]}),
        json!({"name": ""}),
        json!({"description": "no name"}),
    ] {
        let a = mgmt(&emu, Method::POST, "/guardrails", Some(bad.clone())).await;
        assert_error(&a, 400);
    }

    let deleted = mgmt(&emu, Method::DELETE, &format!("/guardrails/{id}"), None).await;
    assert_eq!(deleted.body, json!({"deleted": true}));
    let gone = mgmt(&emu, Method::GET, &format!("/guardrails/{id}"), None).await;
    assert_error(&gone, 404);
    let listed = mgmt(&emu, Method::GET, "/guardrails", None).await;
    assert_eq!(listed.body["total_count"], 0);

    // Another account sees none of it; an ordinary key may not manage guardrails.
    let other = emu.control().create_account().await.expect("account");
    let g = create_guardrail(&emu, json!({"name": "mine"})).await;
    let theirs = call(
        Method::GET,
        &format!(
            "{}/guardrails/{}",
            emu.base_url(),
            g["id"].as_str().unwrap_or_default()
        ),
        Some(&other.management_key),
        None,
    )
    .await;
    assert_error(&theirs, 404);
    let (_, key) = create_key(&emu, emu.management_key(), json!({"name": "app"})).await;
    let a = call(
        Method::GET,
        &format!("{}/guardrails", emu.base_url()),
        Some(&key),
        None,
    )
    .await;
    assert_error(&a, 403);
}

#[tokio::test]
async fn key_assignments_bulk_assign_list_and_unassign() {
    let emu = start().await;
    let mk = emu.management_key().to_owned();
    let g1 = create_guardrail(&emu, json!({"name": "g1"})).await;
    let g2 = create_guardrail(&emu, json!({"name": "g2"})).await;
    let (g1, g2) = (
        g1["id"].as_str().unwrap_or_default(),
        g2["id"].as_str().unwrap_or_default(),
    );
    let (a, _) = create_key(&emu, &mk, json!({"name": "a"})).await;
    let (b, _) = create_key(&emu, &mk, json!({"name": "b"})).await;
    let (ha, hb) = (
        a["hash"].as_str().unwrap_or_default(),
        b["hash"].as_str().unwrap_or_default(),
    );

    let r = assign(&emu, g1, &[ha, hb]).await;
    assert_eq!(r.body, json!({"assigned_count": 2}), "{}", r.body);
    let r = assign(&emu, g1, &[ha]).await;
    assert_eq!(r.body, json!({"assigned_count": 0}), "already assigned");
    assert_eq!(assign(&emu, g2, &[ha]).await.body["assigned_count"], 1);
    assert_error(&assign(&emu, g1, &[]).await, 400);
    assert_error(&assign(&emu, g1, &["0".repeat(64).as_str()]).await, 400);
    assert_error(
        &assign(&emu, "00000000-0000-4000-8000-000000000000", &[ha]).await,
        404,
    );

    let of_g1 = mgmt(
        &emu,
        Method::GET,
        &format!("/guardrails/{g1}/assignments/keys"),
        None,
    )
    .await;
    assert_eq!(of_g1.body["total_count"], 2, "{}", of_g1.body);
    let first = &of_g1.body["data"][0];
    for field in [
        "id",
        "guardrail_id",
        "key_hash",
        "key_name",
        "key_label",
        "created_at",
    ] {
        assert!(first[field].is_string(), "{field}: {first}");
    }
    assert!(first.get("assigned_by").is_some());
    let mut hashes: Vec<&str> = of_g1.body["data"]
        .as_array()
        .map(|d| d.iter().filter_map(|x| x["key_hash"].as_str()).collect())
        .unwrap_or_default();
    hashes.sort_unstable();
    let mut want = vec![ha, hb];
    want.sort_unstable();
    assert_eq!(hashes, want);
    let paged = mgmt(
        &emu,
        Method::GET,
        &format!("/guardrails/{g1}/assignments/keys?offset=1&limit=1"),
        None,
    )
    .await;
    assert_eq!(paged.body["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(paged.body["total_count"], 2);

    let all = mgmt(&emu, Method::GET, "/guardrails/assignments/keys", None).await;
    assert_eq!(all.body["total_count"], 3, "{}", all.body);

    let r = mgmt(
        &emu,
        Method::POST,
        &format!("/guardrails/{g1}/assignments/keys/remove"),
        Some(json!({"key_hashes": [hb]})),
    )
    .await;
    assert_eq!(r.body, json!({"unassigned_count": 1}), "{}", r.body);
    let of_g1 = mgmt(
        &emu,
        Method::GET,
        &format!("/guardrails/{g1}/assignments/keys"),
        None,
    )
    .await;
    assert_eq!(of_g1.body["total_count"], 1);
    assert_eq!(of_g1.body["data"][0]["key_hash"], json!(ha));

    // A deleted key's assignments are no longer listed.
    mgmt(&emu, Method::DELETE, &format!("/keys/{ha}"), None).await;
    let all = mgmt(&emu, Method::GET, "/guardrails/assignments/keys", None).await;
    assert_eq!(all.body["total_count"], 0, "{}", all.body);
}

#[tokio::test]
async fn guardrails_restrict_models_and_providers_with_403() {
    let emu = start().await;
    let mk = emu.management_key().to_owned();
    let (data, key) = create_key(&emu, &mk, json!({"name": "app"})).await;
    let hash = data["hash"].as_str().unwrap_or_default();
    assert_eq!(
        complete(&emu, &key, "anthropic/claude-3.5-sonnet")
            .await
            .status,
        StatusCode::OK
    );

    let models = create_guardrail(&emu, json!({"name": "models", "allowed_models": ["openai/gpt-4o-mini", "anthropic/claude-3.5-sonnet"]})).await;
    assign(&emu, models["id"].as_str().unwrap_or_default(), &[hash]).await;
    assert_eq!(
        complete(&emu, &key, "openai/gpt-4o-mini").await.status,
        StatusCode::OK
    );
    assert_eq!(
        complete(&emu, &key, "openai/gpt-4o-mini:free").await.status,
        StatusCode::OK
    );
    let refused = complete(&emu, &key, "meta-llama/llama-3-8b").await;
    assert!(assert_error(&refused, 403).contains("not allowed"));

    let providers = create_guardrail(
        &emu,
        json!({"name": "providers", "allowed_providers": ["openai"]}),
    )
    .await;
    assign(&emu, providers["id"].as_str().unwrap_or_default(), &[hash]).await;
    assert_eq!(
        complete(&emu, &key, "openai/gpt-4o-mini").await.status,
        StatusCode::OK
    );
    let refused = complete(&emu, &key, "anthropic/claude-3.5-sonnet").await;
    assert!(assert_error(&refused, 403).contains("Provider"));

    // Unassigning lifts the restriction; a refused completion costs nothing.
    let usage_before = emu.control().keys().await.expect("keys")[0].usage;
    mgmt(
        &emu,
        Method::POST,
        &format!(
            "/guardrails/{}/assignments/keys/remove",
            providers["id"].as_str().unwrap_or_default()
        ),
        Some(json!({"key_hashes": [hash]})),
    )
    .await;
    assert_eq!(
        complete(&emu, &key, "anthropic/claude-3.5-sonnet")
            .await
            .status,
        StatusCode::OK
    );
    let usage_after = emu.control().keys().await.expect("keys")[0].usage;
    assert!(
        (usage_after - usage_before - 0.001).abs() < 1e-9,
        "{usage_before} -> {usage_after}"
    );
}

#[tokio::test]
async fn a_spent_guardrail_budget_refuses_with_403_and_shows_in_get_key() {
    let emu = start().await;
    let mk = emu.management_key().to_owned();
    let base = emu.base_url();
    // The key's own limit is generous; the guardrail's is not.
    let (data, key) = create_key(&emu, &mk, json!({"name": "app", "limit": 100.0})).await;
    let hash = data["hash"].as_str().unwrap_or_default();
    let g = create_guardrail(&emu, json!({"name": "budget", "limit_usd": 1.0, "reset_interval": "daily", "allowed_data_regions": ["europe", "us"]})).await;
    let gid = g["id"].as_str().unwrap_or_default();
    assign(&emu, gid, &[hash]).await;

    let me = call(Method::GET, &format!("{base}/key"), Some(&key), None).await;
    let budgets = me.body["data"]["budgets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(budgets.len(), 2, "guardrail then key limit: {}", me.body);
    assert_eq!(budgets[0]["scope"], "api_key");
    assert_eq!(budgets[0]["guardrail_id"], json!(gid));
    assert_eq!(budgets[0]["limit_usd"], json!(1.0));
    assert_eq!(budgets[0]["reset_interval"], "daily");
    assert!(budgets[0]["resets_at"].is_string());
    assert_eq!(budgets[1]["scope"], "key_limit");
    assert_eq!(
        me.body["data"]["effective_budget"]["scope"], "api_key",
        "least remaining"
    );
    assert_eq!(
        me.body["data"]["allowed_data_regions"],
        json!(["europe", "us"])
    );

    assert_eq!(
        complete(&emu, &key, "openai/gpt-4o-mini").await.status,
        StatusCode::OK
    );
    emu.control()
        .add_guardrail_usage(gid, 0.9995)
        .await
        .expect("usage");
    let refused = complete(&emu, &key, "openai/gpt-4o-mini").await;
    assert!(
        assert_error(&refused, 403).contains("budget"),
        "{}",
        refused.body
    );

    let me = call(Method::GET, &format!("{base}/key"), Some(&key), None).await;
    let eff = &me.body["data"]["effective_budget"];
    assert_eq!(eff["guardrail_id"], json!(gid), "{}", me.body);
    assert_eq!(eff["remaining_usd"], json!(0.0));
    assert!(
        (eff["spend_usd"].as_f64().unwrap_or(0.0) - 1.0005).abs() < 1e-9,
        "{eff}"
    );

    // The key's own limit still answers 402 (no guardrail involved).
    let (_, limited) = create_key(&emu, &mk, json!({"name": "tiny", "limit": 0.0})).await;
    assert_error(&complete(&emu, &limited, "openai/gpt-4o-mini").await, 402);
    // Key usage added through the control counts against the key's guardrails too.
    let (d2, k2) = create_key(&emu, &mk, json!({"name": "other"})).await;
    let g2 = create_guardrail(
        &emu,
        json!({"name": "b2", "limit_usd": 0.5, "reset_interval": "weekly"}),
    )
    .await;
    let h2 = d2["hash"].as_str().unwrap_or_default();
    assign(&emu, g2["id"].as_str().unwrap_or_default(), &[h2]).await;
    emu.control().add_usage(h2, 0.5).await.expect("usage");
    assert_error(&complete(&emu, &k2, "openai/gpt-4o-mini").await, 403);
}

#[tokio::test]
async fn workspaces_create_list_get_delete_and_keys_move() {
    let emu = start().await;
    let mk = emu.management_key().to_owned();
    let listed = mgmt(&emu, Method::GET, "/workspaces", None).await;
    assert_eq!(
        listed.body["total_count"], 1,
        "the default workspace: {}",
        listed.body
    );
    let default = listed.body["data"][0].clone();
    for field in ["id", "name", "slug", "created_at", "default_guardrail_id"] {
        assert!(default[field].is_string(), "{field}: {default}");
    }
    assert!(default["io_logging_sampling_rate"].is_number());
    for field in [
        "is_data_discount_logging_enabled",
        "is_observability_broadcast_enabled",
        "is_observability_io_logging_enabled",
    ] {
        assert!(default[field].is_boolean(), "{field}");
    }

    let created = mgmt(
        &emu,
        Method::POST,
        "/workspaces",
        Some(json!({"name": "Staging", "slug": "staging", "description": "pre-prod"})),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let ws = created.body["data"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(created.body["data"]["slug"], "staging");
    for bad in [
        json!({"name": "x", "slug": "Bad Slug"}),
        json!({"name": "x", "slug": "-x"}),
        json!({"name": "x", "slug": "a--b"}),
        json!({"name": "x", "slug": "staging"}),
        json!({"slug": "no-name"}),
    ] {
        assert_error(
            &mgmt(&emu, Method::POST, "/workspaces", Some(bad)).await,
            400,
        );
    }
    let got = mgmt(&emu, Method::GET, &format!("/workspaces/{ws}"), None).await;
    assert_eq!(got.body["data"]["name"], "Staging");
    let by_slug = mgmt(&emu, Method::GET, "/workspaces/staging", None).await;
    assert_eq!(by_slug.body["data"]["id"], json!(ws));
    assert_eq!(
        mgmt(&emu, Method::GET, "/workspaces", None).await.body["total_count"],
        2
    );

    // A key moves with PATCH workspace_id; it is then listed in its new workspace only.
    let (data, key) = create_key(&emu, &mk, json!({"name": "mover"})).await;
    let hash = data["hash"].as_str().unwrap_or_default();
    assert_eq!(data["workspace_id"], default["id"]);
    let moved = mgmt(
        &emu,
        Method::PATCH,
        &format!("/keys/{hash}"),
        Some(json!({"workspace_id": ws})),
    )
    .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    assert_eq!(moved.body["data"]["workspace_id"], json!(ws));
    assert_eq!(
        mgmt(&emu, Method::GET, "/keys", None).await.body["data"],
        json!([])
    );
    let there = mgmt(&emu, Method::GET, &format!("/keys?workspace_id={ws}"), None).await;
    assert_eq!(there.body["data"][0]["hash"], json!(hash));
    let me = call(
        Method::GET,
        &format!("{}/key", emu.base_url()),
        Some(&key),
        None,
    )
    .await;
    assert_eq!(me.body["data"]["workspace_id"], json!(ws));
    for bad in [
        json!({"workspace_id": "not-a-uuid"}),
        json!({"workspace_id": "00000000-0000-4000-8000-000000000000"}),
    ] {
        assert_error(
            &mgmt(&emu, Method::PATCH, &format!("/keys/{hash}"), Some(bad)).await,
            400,
        );
    }
    // Guardrails are per workspace.
    let g = mgmt(
        &emu,
        Method::POST,
        "/guardrails",
        Some(json!({"name": "ws-g", "workspace_id": ws})),
    )
    .await;
    assert_eq!(g.body["data"]["workspace_id"], json!(ws));
    assert_eq!(
        mgmt(&emu, Method::GET, "/guardrails", None).await.body["total_count"],
        0
    );
    assert_eq!(
        mgmt(
            &emu,
            Method::GET,
            &format!("/guardrails?workspace_id={ws}"),
            None
        )
        .await
        .body["total_count"],
        1
    );

    // Deleting a workspace: its keys stop working; the default one needs confirmation.
    let deleted = mgmt(&emu, Method::DELETE, &format!("/workspaces/{ws}"), None).await;
    assert_eq!(deleted.body, json!({"deleted": true}));
    assert_error(
        &mgmt(&emu, Method::GET, &format!("/workspaces/{ws}"), None).await,
        404,
    );
    assert_error(
        &call(
            Method::GET,
            &format!("{}/key", emu.base_url()),
            Some(&key),
            None,
        )
        .await,
        401,
    );
    let default_id = default["id"].as_str().unwrap_or_default();
    assert_error(
        &mgmt(
            &emu,
            Method::DELETE,
            &format!("/workspaces/{default_id}"),
            None,
        )
        .await,
        400,
    );
    let confirmed = mgmt(
        &emu,
        Method::DELETE,
        &format!("/workspaces/{default_id}?confirm_default_workspace_deletion=true"),
        None,
    )
    .await;
    assert_eq!(confirmed.status, StatusCode::OK);
    assert_error(
        &mgmt(
            &emu,
            Method::POST,
            "/keys",
            Some(json!({"name": "homeless"})),
        )
        .await,
        400,
    );
}

#[tokio::test]
async fn expired_keys_are_listed_only_with_include_expired() {
    let emu = start().await;
    let mk = emu.management_key().to_owned();
    let expires = (chrono::Utc::now() + chrono::Duration::seconds(2))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (short, _) = create_key(&emu, &mk, json!({"name": "short", "expires_at": expires})).await;
    let (_, _) = create_key(&emu, &mk, json!({"name": "long"})).await;
    assert_eq!(
        mgmt(&emu, Method::GET, "/keys", None).await.body["data"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let listed = mgmt(&emu, Method::GET, "/keys", None).await;
        if listed.body["data"].as_array().map(Vec::len) == Some(1) {
            assert_eq!(listed.body["data"][0]["name"], "long");
            break;
        }
        assert!(Instant::now() < deadline, "the key never expired");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let all = mgmt(&emu, Method::GET, "/keys?include_expired=true", None).await;
    let names: Vec<&str> = all.body["data"]
        .as_array()
        .map(|d| d.iter().filter_map(|k| k["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["long", "short"]);
    assert_eq!(
        mgmt(&emu, Method::GET, "/keys?include_expired=false", None)
            .await
            .body["data"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_error(
        &mgmt(&emu, Method::GET, "/keys?include_expired=yes", None).await,
        400,
    );
    // Still readable by hash.
    let got = mgmt(
        &emu,
        Method::GET,
        &format!("/keys/{}", short["hash"].as_str().unwrap_or_default()),
        None,
    )
    .await;
    assert_eq!(got.status, StatusCode::OK);
}

#[tokio::test]
async fn expires_at_must_be_utc_with_seconds_and_in_the_future() {
    let emu = start().await;
    for ok in [
        "2099-12-31T23:59:59Z",
        "2099-12-31T23:59:59.123Z",
        "2099-12-31T23:59:59+00:00",
    ] {
        let a = mgmt(
            &emu,
            Method::POST,
            "/keys",
            Some(json!({"name": "ok", "expires_at": ok})),
        )
        .await;
        assert_eq!(a.status, StatusCode::CREATED, "{ok}: {}", a.body);
    }
    for (bad, says) in [
        ("2099-12-31T23:59Z", "seconds"),
        ("2099-12-31T23:59:59-05:00", "UTC"),
        ("2099-12-31T23:59:59", "ISO 8601"),
        ("2099-12-31", "ISO 8601"),
        ("2099-12-31 23:59:59Z", "ISO 8601"),
        ("2099-13-31T23:59:59Z", "ISO 8601"),
        ("2000-01-01T00:00:00Z", "future"),
    ] {
        let a = mgmt(
            &emu,
            Method::POST,
            "/keys",
            Some(json!({"name": "bad", "expires_at": bad})),
        )
        .await;
        let message = assert_error(&a, 400);
        assert!(
            message.starts_with("Invalid request parameters"),
            "{message}"
        );
        assert!(message.contains(says), "{bad}: {message}");
    }
    let a = mgmt(
        &emu,
        Method::POST,
        "/keys",
        Some(json!({"name": "bad", "expires_at": 4102444800u64})),
    )
    .await;
    assert_error(&a, 400);
}

#[tokio::test]
async fn rate_limited_answers_have_openrouters_shape_and_retry_after_every_other_time() {
    let emu = start_with(EmulatorConfig {
        rate_limit: Some(RateLimit {
            requests: 2,
            per: Duration::from_secs(30),
        }),
        ..Default::default()
    })
    .await;
    let first = mgmt(&emu, Method::GET, "/keys", None).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.headers["x-ratelimit-limit"], "2");
    assert_eq!(first.headers["x-ratelimit-remaining"], "1");
    let reset: i64 = first.headers["x-ratelimit-reset"]
        .to_str()
        .ok()
        .and_then(|s| s.parse().ok())
        .expect("reset ms");
    let now_ms = chrono::Utc::now().timestamp_millis();
    assert!(
        reset > now_ms && reset <= now_ms + 31_000,
        "reset {reset} vs now {now_ms}"
    );
    let second = mgmt(&emu, Method::GET, "/keys", None).await;
    assert_eq!(second.headers["x-ratelimit-remaining"], "0");

    let mut with_retry_after = Vec::new();
    for _ in 0..4 {
        let a = mgmt(&emu, Method::GET, "/keys", None).await;
        assert_eq!(assert_error(&a, 429), "Rate limit exceeded");
        assert_eq!(a.headers["x-ratelimit-remaining"], "0");
        assert_eq!(a.headers["x-ratelimit-limit"], "2");
        assert_eq!(
            a.headers["x-ratelimit-reset"].to_str().ok(),
            Some(reset.to_string().as_str())
        );
        let meta = &a.body["error"]["metadata"]["headers"];
        assert_eq!(meta["X-RateLimit-Remaining"], "0", "{}", a.body);
        assert_eq!(meta["X-RateLimit-Reset"], json!(reset.to_string()));
        with_retry_after.push(a.headers.contains_key("retry-after"));
    }
    assert_eq!(with_retry_after, [true, false, true, false]);

    // Ordinary keys are not limited and carry no rate-limit headers.
    emu.control().reset().await.expect("reset");
    let (_, key) = create_key(&emu, emu.management_key(), json!({"name": "app"})).await;
    let c = complete(&emu, &key, "openai/gpt-4o-mini").await;
    assert_eq!(c.status, StatusCode::OK);
    assert!(!c.headers.contains_key("x-ratelimit-remaining"));
}

#[tokio::test]
async fn retry_after_can_be_always_or_never() {
    for (mode, want) in [
        (RetryAfterMode::Always, [true, true]),
        (RetryAfterMode::Never, [false, false]),
    ] {
        let emu = start_with(EmulatorConfig {
            rate_limit: Some(RateLimit {
                requests: 1,
                per: Duration::from_secs(30),
            }),
            retry_after: mode,
            ..Default::default()
        })
        .await;
        mgmt(&emu, Method::GET, "/key", None).await;
        let mut seen = Vec::new();
        for _ in 0..2 {
            let a = mgmt(&emu, Method::GET, "/key", None).await;
            assert_error(&a, 429);
            seen.push(a.headers.contains_key("retry-after"));
        }
        assert_eq!(seen, want, "{mode:?}");
    }
}
