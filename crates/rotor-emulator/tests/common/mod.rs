//! What the emulator's own tests check it with: raw HTTP calls (reqwest) and the reference's
//! field shapes. Starting the emulator is the test kit's (`rotor_testkit::emulator`).
#![allow(dead_code)]

use reqwest::{Method, StatusCode, header::HeaderMap};
use rotor_emulator::RunningEmulator;
use serde_json::Value;

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

/// One request; `key` goes into `Authorization: Bearer`.
pub async fn call(method: Method, url: &str, key: Option<&str>, body: Option<Value>) -> Answer {
    let mut request = reqwest::Client::new().request(method, url);
    if let Some(k) = key {
        request = request.bearer_auth(k);
    }
    if let Some(b) = body {
        request = request.json(&b);
    }
    let response = request.send().await.expect("request reaches the emulator");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("non-JSON body for {status}: {text}"));
    Answer {
        status,
        headers,
        body,
    }
}

/// `POST /keys` as `management_key`; returns (data, plaintext key).
pub async fn create_key(
    emu: &RunningEmulator,
    management_key: &str,
    body: Value,
) -> (Value, String) {
    let a = call(
        Method::POST,
        &format!("{}/keys", emu.base_url()),
        Some(management_key),
        Some(body),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "create: {}", a.body);
    let key = a.body["key"].as_str().expect("key is a string").to_owned();
    (a.body["data"].clone(), key)
}

/// The error envelope with `code` == HTTP status; returns the message.
pub fn assert_error(a: &Answer, status: u16) -> String {
    assert_eq!(
        a.status.as_u16(),
        status,
        "unexpected status, body {}",
        a.body
    );
    let error = a.body["error"]
        .as_object()
        .unwrap_or_else(|| panic!("no error envelope: {}", a.body));
    assert_eq!(
        error["code"].as_u64(),
        Some(u64::from(status)),
        "error.code must equal the status: {}",
        a.body
    );
    error["message"]
        .as_str()
        .expect("error.message is a string")
        .to_owned()
}

pub fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn is_rfc3339_utc(s: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(s).is_ok_and(|t| t.offset().local_minus_utc() == 0)
}

fn assert_number(v: &Value, field: &str) {
    assert!(v[field].is_number(), "{field} must be a number: {v}");
}

fn assert_number_or_null(v: &Value, field: &str) {
    assert!(
        v.get(field).is_some_and(|x| x.is_number() || x.is_null()),
        "{field} must be number|null: {v}"
    );
}

fn assert_string_or_null(v: &Value, field: &str) {
    assert!(
        v.get(field).is_some_and(|x| x.is_string() || x.is_null()),
        "{field} must be string|null: {v}"
    );
}

const USAGE_FIELDS: [&str; 8] = [
    "usage",
    "usage_daily",
    "usage_weekly",
    "usage_monthly",
    "byok_usage",
    "byok_usage_daily",
    "byok_usage_weekly",
    "byok_usage_monthly",
];

/// Every required field of the spec's key object, with its JSON type.
pub fn assert_key_object(v: &Value) {
    assert!(
        is_hex64(v["hash"].as_str().unwrap_or_default()),
        "hash: {v}"
    );
    assert!(v["name"].is_string(), "name: {v}");
    assert!(v["label"].is_string(), "label: {v}");
    assert!(v["disabled"].is_boolean(), "disabled: {v}");
    assert_number_or_null(v, "limit");
    assert_number_or_null(v, "limit_remaining");
    assert!(
        matches!(v.get("limit_reset"), Some(Value::Null))
            || ["daily", "weekly", "monthly"].contains(&v["limit_reset"].as_str().unwrap_or("?")),
        "limit_reset: {v}"
    );
    assert!(
        v["include_byok_in_limit"].is_boolean(),
        "include_byok_in_limit: {v}"
    );
    for f in USAGE_FIELDS {
        assert_number(v, f);
    }
    assert!(
        is_rfc3339_utc(v["created_at"].as_str().unwrap_or_default()),
        "created_at: {v}"
    );
    assert_string_or_null(v, "updated_at");
    if let Some(u) = v["updated_at"].as_str() {
        assert!(is_rfc3339_utc(u), "updated_at: {v}");
    }
    assert_string_or_null(v, "creator_user_id");
    assert!(
        uuid::Uuid::parse_str(v["workspace_id"].as_str().unwrap_or_default()).is_ok(),
        "workspace_id: {v}"
    );
    if let Some(e) = v.get("expires_at") {
        assert!(
            e.is_null() || e.as_str().is_some_and(is_rfc3339_utc),
            "expires_at: {v}"
        );
    }
}

/// Every required field of `GET /key`'s data, with its JSON type.
pub fn assert_current_key_object(v: &Value) {
    assert!(v["label"].is_string(), "label: {v}");
    assert_number_or_null(v, "limit");
    assert_number_or_null(v, "limit_remaining");
    assert_string_or_null(v, "limit_reset");
    assert!(v["include_byok_in_limit"].is_boolean());
    for f in USAGE_FIELDS {
        assert_number(v, f);
    }
    for f in ["is_free_tier", "is_management_key", "is_provisioning_key"] {
        assert!(v[f].is_boolean(), "{f}: {v}");
    }
    assert_eq!(
        v["is_management_key"], v["is_provisioning_key"],
        "deprecated alias must agree: {v}"
    );
    assert_string_or_null(v, "creator_user_id");
    let rl = &v["rate_limit"];
    assert!(
        rl["requests"].is_i64() && rl["interval"].is_string() && rl["note"].is_string(),
        "rate_limit: {v}"
    );
}
