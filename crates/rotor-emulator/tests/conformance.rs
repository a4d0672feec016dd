//! Conformance with OpenRouter's Management API reference, over real HTTP.

mod common;

use std::time::{Duration, Instant};

use common::{
    assert_current_key_object, assert_error, assert_key_object, call, create_key, is_hex64,
};
use reqwest::{Method, StatusCode};
use rotor_emulator::{EmulatorConfig, RateLimit};
use rotor_testkit::emulator::{start, start_with};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn completion() -> Value {
    json!({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1})
}

#[tokio::test]
async fn create_answers_201_with_every_field_and_a_well_formed_key() {
    let emu = start().await;
    let mk = emu.management_key().to_owned();
    let a = call(
        Method::POST,
        &format!("{}/keys", emu.base_url()),
        Some(&mk),
        Some(json!({"name": "app", "limit": 50, "limit_reset": "monthly", "include_byok_in_limit": true,
                    "expires_at": "2099-12-31T23:59:59Z", "creator_user_id": "user_x"})),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED);
    let data = &a.body["data"];
    assert_key_object(data);
    let key = a.body["key"].as_str().expect("top-level key");
    assert!(
        key.starts_with("sk-or-v1-") && key.len() == 73 && is_hex64(&key[9..]),
        "key format"
    );
    assert!(
        data.get("key").is_none(),
        "the key is at the top level only"
    );
    let hash = data["hash"].as_str().unwrap_or_default();
    assert_ne!(
        hash,
        hex::encode(Sha256::digest(key.as_bytes())),
        "hash must not be derivable from the key"
    );
    assert_eq!(
        data["label"],
        json!(format!("sk-or-v1-{}...{}", &key[9..12], &key[69..]))
    );
    assert_eq!(data["name"], "app");
    assert_eq!(data["limit"], json!(50.0));
    assert_eq!(data["limit_remaining"], json!(50.0));
    assert_eq!(data["limit_reset"], "monthly");
    assert_eq!(data["include_byok_in_limit"], true);
    assert_eq!(data["updated_at"], Value::Null);
    assert_eq!(data["usage"], json!(0.0));
    assert_eq!(data["creator_user_id"], "user_x");
    assert_eq!(data["expires_at"], "2099-12-31T23:59:59Z");
    // Both UTC spellings are accepted.
    create_key(
        &emu,
        &mk,
        json!({"name": "b", "expires_at": "2099-01-01T00:00:00.5+00:00"}),
    )
    .await;
}

#[tokio::test]
async fn list_is_newest_first_and_paginates_by_100() {
    let emu = start().await;
    let mk = emu.management_key().to_owned();
    let mut created = Vec::new();
    for i in 0..205 {
        let (data, _) = create_key(&emu, &mk, json!({"name": format!("k{i}")})).await;
        created.push(data["hash"].as_str().unwrap_or_default().to_owned());
    }
    let mut listed = Vec::new();
    let mut sizes = Vec::new();
    for offset in [0, 100, 200, 300] {
        let a = call(
            Method::GET,
            &format!("{}/keys?offset={offset}", emu.base_url()),
            Some(&mk),
            None,
        )
        .await;
        assert_eq!(a.status, StatusCode::OK);
        let page = a.body["data"].as_array().expect("data is an array").clone();
        sizes.push(page.len());
        for k in &page {
            assert_key_object(k);
            listed.push(k["hash"].as_str().unwrap_or_default().to_owned());
        }
    }
    assert_eq!(sizes, [100, 100, 5, 0]);
    created.reverse();
    assert_eq!(listed, created, "every key exactly once, newest first");
}

#[tokio::test]
async fn disabled_keys_are_hidden_unless_asked() {
    let emu = start().await;
    let mk = emu.management_key().to_owned();
    let (a, _) = create_key(&emu, &mk, json!({"name": "a"})).await;
    let (b, _) = create_key(&emu, &mk, json!({"name": "b"})).await;
    let hash_b = b["hash"].as_str().unwrap_or_default();
    let patched = call(
        Method::PATCH,
        &format!("{}/keys/{hash_b}", emu.base_url()),
        Some(&mk),
        Some(json!({"disabled": true})),
    )
    .await;
    assert_eq!(patched.body["data"]["disabled"], true);
    let names = |v: &Value| -> Vec<String> {
        v["data"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|k| k["name"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    let default = call(
        Method::GET,
        &format!("{}/keys", emu.base_url()),
        Some(&mk),
        None,
    )
    .await;
    assert_eq!(names(&default.body), ["a"]);
    let explicit = call(
        Method::GET,
        &format!("{}/keys?include_disabled=false", emu.base_url()),
        Some(&mk),
        None,
    )
    .await;
    assert_eq!(names(&explicit.body), ["a"]);
    let all = call(
        Method::GET,
        &format!("{}/keys?include_disabled=true", emu.base_url()),
        Some(&mk),
        None,
    )
    .await;
    assert_eq!(names(&all.body), ["b", "a"]);
    assert_eq!(a["disabled"], false);
}

#[tokio::test]
async fn get_patch_and_delete_follow_the_reference() {
    let emu = start().await;
    let mk = emu.management_key().to_owned();
    let base = emu.base_url();
    let (data, key) = create_key(
        &emu,
        &mk,
        json!({"name": "app", "limit": 10, "limit_reset": "daily"}),
    )
    .await;
    let hash = data["hash"].as_str().unwrap_or_default().to_owned();
    let url = format!("{base}/keys/{hash}");

    let got = call(Method::GET, &url, Some(&mk), None).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_key_object(&got.body["data"]);
    assert_eq!(got.body["data"], data);

    // Only the given fields change; unknown fields are ignored; updated_at is set.
    let p = call(
        Method::PATCH,
        &url,
        Some(&mk),
        Some(json!({"name": "renamed", "colour": "blue"})),
    )
    .await;
    assert_eq!(p.status, StatusCode::OK);
    let d = &p.body["data"];
    assert_key_object(d);
    assert_eq!(d["name"], "renamed");
    assert_eq!(d["limit"], json!(10.0));
    assert_eq!(d["limit_reset"], "daily");
    assert!(d["updated_at"].is_string());
    assert_eq!(d["created_at"], data["created_at"]);
    // limit: null clears the limit, and limit_remaining with it.
    let p = call(
        Method::PATCH,
        &url,
        Some(&mk),
        Some(json!({"limit": null, "limit_reset": null})),
    )
    .await;
    assert_eq!(
        (
            p.body["data"]["limit"].clone(),
            p.body["data"]["limit_remaining"].clone()
        ),
        (Value::Null, Value::Null)
    );
    assert_eq!(p.body["data"]["name"], "renamed");
    // Invalid values: 400, nothing changed.
    for bad in [
        json!({"name": ""}),
        json!({"disabled": "yes"}),
        json!({"limit": -1}),
        json!({"limit_reset": "yearly"}),
    ] {
        let a = call(Method::PATCH, &url, Some(&mk), Some(bad.clone())).await;
        assert_error(&a, 400);
    }
    assert_eq!(
        call(Method::GET, &url, Some(&mk), None).await.body["data"]["name"],
        "renamed"
    );

    let del = call(Method::DELETE, &url, Some(&mk), None).await;
    assert_eq!(del.status, StatusCode::OK);
    assert_eq!(del.body, json!({"deleted": true}));
    // Afterwards: 404 on the hash, 401 for the key itself.
    assert_error(&call(Method::GET, &url, Some(&mk), None).await, 404);
    assert_error(
        &call(Method::PATCH, &url, Some(&mk), Some(json!({"name": "x"}))).await,
        404,
    );
    assert_error(&call(Method::DELETE, &url, Some(&mk), None).await, 404);
    let me = call(Method::GET, &format!("{base}/key"), Some(&key), None).await;
    assert_eq!(assert_error(&me, 401), "User not found.");
    let c = call(
        Method::POST,
        &format!("{base}/chat/completions"),
        Some(&key),
        Some(completion()),
    )
    .await;
    assert_eq!(assert_error(&c, 401), "User not found.");
    let listed = call(
        Method::GET,
        &format!("{base}/keys?include_disabled=true"),
        Some(&mk),
        None,
    )
    .await;
    assert_eq!(listed.body["data"], json!([]));
}

#[tokio::test]
async fn authentication_and_authorization_match_openrouter() {
    let emu = start().await;
    let mk = emu.management_key().to_owned();
    let base = emu.base_url();
    let (data, key) = create_key(&emu, &mk, json!({"name": "app"})).await;
    let hash = data["hash"].as_str().unwrap_or_default().to_owned();

    for (method, path) in [
        (Method::GET, "/keys"),
        (Method::POST, "/keys"),
        (Method::GET, "/key"),
        (Method::POST, "/chat/completions"),
        (Method::DELETE, "/keys/abc"),
    ] {
        let a = call(
            method,
            &format!("{base}{path}"),
            None,
            Some(json!({"name": "x"})),
        )
        .await;
        assert_eq!(
            assert_error(&a, 401),
            "Missing Authentication header",
            "{path}"
        );
    }
    let unknown = format!("sk-or-v1-{}", "0".repeat(64));
    for path in ["/keys", "/key"] {
        let a = call(Method::GET, &format!("{base}{path}"), Some(&unknown), None).await;
        assert_eq!(assert_error(&a, 401), "User not found.");
        assert_eq!(
            a.body,
            json!({"error": {"code": 401, "message": "User not found."}})
        );
    }
    // An ordinary key on /keys*: 403.
    for (method, path) in [
        (Method::GET, "/keys".to_owned()),
        (Method::POST, "/keys".to_owned()),
        (Method::GET, format!("/keys/{hash}")),
        (Method::PATCH, format!("/keys/{hash}")),
        (Method::DELETE, format!("/keys/{hash}")),
    ] {
        let a = call(
            method,
            &format!("{base}{path}"),
            Some(&key),
            Some(json!({"name": "x"})),
        )
        .await;
        assert_eq!(
            assert_error(&a, 403),
            "Only management keys can perform this operation",
            "{path}"
        );
    }
    // A management key cannot call completions.
    let a = call(
        Method::POST,
        &format!("{base}/chat/completions"),
        Some(&mk),
        Some(completion()),
    )
    .await;
    assert_error(&a, 403);
    // Both kinds inspect themselves.
    let me = call(Method::GET, &format!("{base}/key"), Some(&mk), None).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_current_key_object(&me.body["data"]);
    assert_eq!(me.body["data"]["is_management_key"], true);
    let me = call(Method::GET, &format!("{base}/key"), Some(&key), None).await;
    assert_current_key_object(&me.body["data"]);
    assert_eq!(me.body["data"]["is_management_key"], false);
    assert_eq!(me.body["data"]["label"], data["label"]);
    assert_eq!(me.body["data"]["rate_limit"]["requests"], -1);

    // A disabled key is 401 everywhere, and works again once re-enabled.
    let url = format!("{base}/keys/{hash}");
    call(
        Method::PATCH,
        &url,
        Some(&mk),
        Some(json!({"disabled": true})),
    )
    .await;
    assert_eq!(
        assert_error(
            &call(Method::GET, &format!("{base}/key"), Some(&key), None).await,
            401
        ),
        "User not found."
    );
    let c = call(
        Method::POST,
        &format!("{base}/chat/completions"),
        Some(&key),
        Some(completion()),
    )
    .await;
    assert_error(&c, 401);
    assert_error(
        &call(Method::GET, &format!("{base}/keys"), Some(&key), None).await,
        401,
    );
    call(
        Method::PATCH,
        &url,
        Some(&mk),
        Some(json!({"disabled": false})),
    )
    .await;
    assert_eq!(
        call(Method::GET, &format!("{base}/key"), Some(&key), None)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn invalid_requests_get_400_in_the_envelope() {
    let emu = start().await;
    let mk = emu.management_key().to_owned();
    let base = emu.base_url();
    let future_offset = "2099-12-31T23:59:59+02:00";
    for body in [
        json!({}),
        json!({"name": ""}),
        json!({"name": 5}),
        json!({"name": "x", "limit": -1}),
        json!({"name": "x", "limit": "5"}),
        json!({"name": "x", "limit_reset": "yearly"}),
        json!({"name": "x", "include_byok_in_limit": "true"}),
        json!({"name": "x", "expires_at": future_offset}),
        json!({"name": "x", "expires_at": "2099-12-31T23:59:59-05:00"}),
        json!({"name": "x", "expires_at": "2099-12-31"}),
        json!({"name": "x", "expires_at": "2000-01-01T00:00:00Z"}),
        json!({"name": "x", "workspace_id": "not-a-uuid"}),
        json!(["name"]),
    ] {
        let a = call(
            Method::POST,
            &format!("{base}/keys"),
            Some(&mk),
            Some(body.clone()),
        )
        .await;
        assert_error(&a, 400);
    }
    let raw = reqwest::Client::new()
        .post(format!("{base}/keys"))
        .bearer_auth(&mk)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("request");
    assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
    for q in [
        "include_disabled=yes",
        "include_disabled=1",
        "offset=-1",
        "offset=abc",
        "workspace_id=nope",
    ] {
        let a = call(Method::GET, &format!("{base}/keys?{q}"), Some(&mk), None).await;
        assert_error(&a, 400);
    }
    for body in [
        json!({"messages": []}),
        json!({"model": "m"}),
        json!({"model": "m", "messages": "hi"}),
    ] {
        let (_, key) = create_key(&emu, &mk, json!({"name": "app"})).await;
        let a = call(
            Method::POST,
            &format!("{base}/chat/completions"),
            Some(&key),
            Some(body),
        )
        .await;
        assert_error(&a, 400);
    }
    // Nothing was created by the rejected requests (3 keys from the completion checks).
    let all = call(
        Method::GET,
        &format!("{base}/keys?include_disabled=true"),
        Some(&mk),
        None,
    )
    .await;
    assert_eq!(all.body["data"].as_array().map(Vec::len), Some(3));
}

#[tokio::test]
async fn an_expired_key_gets_401() {
    let emu = start().await;
    let mk = emu.management_key().to_owned();
    let base = emu.base_url();
    let expires = (chrono::Utc::now() + chrono::Duration::seconds(2))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let (_, key) = create_key(&emu, &mk, json!({"name": "short", "expires_at": expires})).await;
    assert_eq!(
        call(Method::GET, &format!("{base}/key"), Some(&key), None)
            .await
            .status,
        StatusCode::OK
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let a = call(Method::GET, &format!("{base}/key"), Some(&key), None).await;
        if a.status == StatusCode::UNAUTHORIZED {
            assert_eq!(assert_error(&a, 401), "User not found.");
            break;
        }
        assert!(Instant::now() < deadline, "the key never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let c = call(
        Method::POST,
        &format!("{base}/chat/completions"),
        Some(&key),
        Some(completion()),
    )
    .await;
    assert_error(&c, 401);
}

#[tokio::test]
async fn another_accounts_keys_are_invisible() {
    let emu = start().await;
    let mk = emu.management_key().to_owned();
    let base = emu.base_url();
    let other = emu.control().create_account().await.expect("account");
    assert_ne!(other.management_key, mk);
    let (theirs, _) = create_key(&emu, &other.management_key, json!({"name": "theirs"})).await;
    let (mine, _) = create_key(&emu, &mk, json!({"name": "mine"})).await;
    assert_eq!(
        theirs["workspace_id"].as_str(),
        Some(other.workspace_id.as_str())
    );
    assert_ne!(theirs["workspace_id"], mine["workspace_id"]);
    let their_url = format!(
        "{base}/keys/{}",
        theirs["hash"].as_str().unwrap_or_default()
    );

    let list = call(
        Method::GET,
        &format!("{base}/keys?include_disabled=true"),
        Some(&mk),
        None,
    )
    .await;
    let names: Vec<&str> = list.body["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|k| k["name"].as_str())
        .collect();
    assert_eq!(names, ["mine"]);
    assert_error(&call(Method::GET, &their_url, Some(&mk), None).await, 404);
    assert_error(
        &call(
            Method::PATCH,
            &their_url,
            Some(&mk),
            Some(json!({"disabled": true})),
        )
        .await,
        404,
    );
    assert_error(
        &call(Method::DELETE, &their_url, Some(&mk), None).await,
        404,
    );
    // Still intact for its owner.
    let got = call(Method::GET, &their_url, Some(&other.management_key), None).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body["data"]["disabled"], false);
    let list = call(
        Method::GET,
        &format!("{base}/keys"),
        Some(&other.management_key),
        None,
    )
    .await;
    assert_eq!(list.body["data"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn keys_are_listed_per_workspace() {
    let emu = start().await;
    let mk = emu.management_key().to_owned();
    let base = emu.base_url();
    // A workspace must exist before keys are created in it.
    let unknown = "0df9e665-d932-5740-b2c7-b52af166bc11";
    let refused = call(
        Method::POST,
        &format!("{base}/keys"),
        Some(&mk),
        Some(json!({"name": "nowhere", "workspace_id": unknown})),
    )
    .await;
    assert_error(&refused, 400);
    let created = call(
        Method::POST,
        &format!("{base}/workspaces"),
        Some(&mk),
        Some(json!({"name": "Elsewhere", "slug": "elsewhere"})),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let ws = created.body["data"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let ws = ws.as_str();
    create_key(&emu, &mk, json!({"name": "default"})).await;
    let (other, _) = create_key(&emu, &mk, json!({"name": "elsewhere", "workspace_id": ws})).await;
    assert_eq!(other["workspace_id"], ws);
    let default = call(Method::GET, &format!("{base}/keys"), Some(&mk), None).await;
    assert_eq!(default.body["data"][0]["name"], "default");
    assert_eq!(default.body["data"].as_array().map(Vec::len), Some(1));
    let filtered = call(
        Method::GET,
        &format!("{base}/keys?workspace_id={ws}"),
        Some(&mk),
        None,
    )
    .await;
    assert_eq!(filtered.body["data"][0]["name"], "elsewhere");
    assert_eq!(filtered.body["data"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn completions_add_usage_and_respect_the_limit() {
    let emu = start_with(EmulatorConfig {
        completion_cost: 0.25,
        ..Default::default()
    })
    .await;
    let mk = emu.management_key().to_owned();
    let base = emu.base_url();
    let (data, key) = create_key(&emu, &mk, json!({"name": "app", "limit": 0.6})).await;
    let hash = data["hash"].as_str().unwrap_or_default().to_owned();

    let c = call(
        Method::POST,
        &format!("{base}/chat/completions"),
        Some(&key),
        Some(completion()),
    )
    .await;
    assert_eq!(c.status, StatusCode::OK);
    assert_eq!(c.body["object"], "chat.completion");
    assert!(c.body["id"].is_string() && c.body["created"].is_i64());
    assert_eq!(c.body["model"], "openai/gpt-4o-mini");
    assert!(c.body["choices"][0]["message"]["content"].is_string());
    assert!(c.body["usage"]["total_tokens"].is_u64());
    call(
        Method::POST,
        &format!("{base}/chat/completions"),
        Some(&key),
        Some(completion()),
    )
    .await;

    let got = call(Method::GET, &format!("{base}/keys/{hash}"), Some(&mk), None)
        .await
        .body["data"]
        .clone();
    for f in ["usage", "usage_daily", "usage_weekly", "usage_monthly"] {
        assert_eq!(got[f], json!(0.5), "{f}");
    }
    assert!((got["limit_remaining"].as_f64().unwrap_or(-1.0) - 0.1).abs() < 1e-9);
    let me = call(Method::GET, &format!("{base}/key"), Some(&key), None)
        .await
        .body["data"]
        .clone();
    assert_eq!(me["usage"], json!(0.5));
    // 0.1 left, a completion costs 0.25: refused with 402, usage unchanged.
    let c = call(
        Method::POST,
        &format!("{base}/chat/completions"),
        Some(&key),
        Some(completion()),
    )
    .await;
    assert_error(&c, 402);
    let keys = emu.control().keys().await.expect("keys");
    assert_eq!(keys[0].usage, 0.5);
    // Raising the limit (PATCH replaces it) lets traffic through again.
    call(
        Method::PATCH,
        &format!("{base}/keys/{hash}"),
        Some(&mk),
        Some(json!({"limit": 1.0})),
    )
    .await;
    let c = call(
        Method::POST,
        &format!("{base}/chat/completions"),
        Some(&key),
        Some(completion()),
    )
    .await;
    assert_eq!(c.status, StatusCode::OK);
}

#[tokio::test]
async fn the_management_rate_limit_answers_429_with_retry_after() {
    let emu = start_with(EmulatorConfig {
        rate_limit: Some(RateLimit {
            requests: 3,
            per: Duration::from_secs(30),
        }),
        ..Default::default()
    })
    .await;
    let mk = emu.management_key().to_owned();
    let base = emu.base_url();
    for _ in 0..3 {
        assert_eq!(
            call(Method::GET, &format!("{base}/keys"), Some(&mk), None)
                .await
                .status,
            StatusCode::OK
        );
    }
    let a = call(Method::GET, &format!("{base}/keys"), Some(&mk), None).await;
    assert_eq!(assert_error(&a, 429), "Rate limit exceeded");
    let retry_after: u64 = a.headers["retry-after"]
        .to_str()
        .ok()
        .and_then(|s| s.parse().ok())
        .expect("Retry-After secs");
    assert!((1..=30).contains(&retry_after), "Retry-After {retry_after}");
    // Per management key: another account is not limited.
    let other = emu.control().create_account().await.expect("account");
    let b = call(
        Method::GET,
        &format!("{base}/keys"),
        Some(&other.management_key),
        None,
    )
    .await;
    assert_eq!(b.status, StatusCode::OK);
}

#[tokio::test]
async fn the_rate_limit_window_resets() {
    let emu = start_with(EmulatorConfig {
        rate_limit: Some(RateLimit {
            requests: 2,
            per: Duration::from_millis(500),
        }),
        ..Default::default()
    })
    .await;
    let mk = emu.management_key().to_owned();
    let url = format!("{}/key", emu.base_url());
    call(Method::GET, &url, Some(&mk), None).await;
    call(Method::GET, &url, Some(&mk), None).await;
    let limited = call(Method::GET, &url, Some(&mk), None).await;
    assert_error(&limited, 429);
    assert_eq!(
        limited.headers["retry-after"], "1",
        "rounded up to whole seconds"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if call(Method::GET, &url, Some(&mk), None).await.status == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "the window never reset");
    }
    // Ordinary keys are not limited by the management key's window.
    let (_, key) = create_key(&emu, &mk, json!({"name": "app"})).await;
    for _ in 0..5 {
        let c = call(
            Method::POST,
            &format!("{}/chat/completions", emu.base_url()),
            Some(&key),
            Some(completion()),
        )
        .await;
        assert_eq!(c.status, StatusCode::OK);
    }
}
