//! The `/_emulator/` test controls, over real HTTP.

mod common;

use std::time::{Duration, Instant};

use common::{assert_error, call, create_key};
use reqwest::{Method, StatusCode};
use rotor_emulator::{
    EmulatorConfig,
    control::{ControlClient, Fault, FaultKind},
};
use rotor_testkit::emulator::{start, start_with};
use serde_json::json;

#[tokio::test]
async fn a_status_fault_answers_in_the_envelope_without_performing_the_call() {
    let emu = start().await;
    let mk = emu.management_key().to_owned();
    let control = emu.control();
    control
        .inject_fault(&Fault {
            method: "POST".into(),
            path: "/api/v1/keys".into(),
            count: 2,
            kind: FaultKind::Status {
                status: 503,
                retry_after: Some(7),
            },
        })
        .await
        .expect("inject");
    let url = format!("{}/keys", emu.base_url());
    for _ in 0..2 {
        let a = call(Method::POST, &url, Some(&mk), Some(json!({"name": "x"}))).await;
        assert_error(&a, 503);
        assert_eq!(a.headers["retry-after"], "7");
    }
    assert!(
        control.keys().await.expect("keys").is_empty(),
        "a faulted create must not create a key"
    );
    // Other routes are untouched, and the fault is used up after two calls.
    assert_eq!(
        call(Method::GET, &url, Some(&mk), None).await.status,
        StatusCode::OK
    );
    create_key(&emu, &mk, json!({"name": "x"})).await;
    assert_eq!(control.keys().await.expect("keys").len(), 1);
    assert!(control.faults().await.expect("faults").is_empty());
}

#[tokio::test]
async fn a_wildcard_fault_matches_any_hash_and_429_carries_retry_after() {
    let emu = start().await;
    let mk = emu.management_key().to_owned();
    let (data, _) = create_key(&emu, &mk, json!({"name": "x"})).await;
    let url = format!(
        "{}/keys/{}",
        emu.base_url(),
        data["hash"].as_str().unwrap_or_default()
    );
    emu.control()
        .fail_next(
            "delete",
            "/api/v1/keys/*",
            FaultKind::Status {
                status: 429,
                retry_after: Some(2),
            },
        )
        .await
        .expect("inject");
    let a = call(Method::DELETE, &url, Some(&mk), None).await;
    assert_eq!(assert_error(&a, 429), "Rate limit exceeded");
    assert_eq!(a.headers["retry-after"], "2");
    assert_eq!(
        call(Method::GET, &url, Some(&mk), None).await.status,
        StatusCode::OK,
        "not deleted"
    );
    assert_eq!(
        call(Method::DELETE, &url, Some(&mk), None).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_delay_fault_delays_then_answers_normally() {
    let emu = start().await;
    let mk = emu.management_key().to_owned();
    emu.control()
        .fail_next("GET", "/api/v1/keys", FaultKind::Delay { delay_ms: 400 })
        .await
        .expect("inject");
    let t = Instant::now();
    let a = call(
        Method::GET,
        &format!("{}/keys", emu.base_url()),
        Some(&mk),
        None,
    )
    .await;
    assert!(
        t.elapsed() >= Duration::from_millis(400),
        "answered after {:?}",
        t.elapsed()
    );
    assert_eq!(a.status, StatusCode::OK);
    let t = Instant::now();
    call(
        Method::GET,
        &format!("{}/keys", emu.base_url()),
        Some(&mk),
        None,
    )
    .await;
    assert!(
        t.elapsed() < Duration::from_millis(400),
        "only the next call is delayed"
    );
}

#[tokio::test]
async fn commit_then_drop_creates_the_key_but_the_client_sees_no_response() {
    let emu = start().await;
    let mk = emu.management_key().to_owned();
    let control = emu.control();
    control
        .fail_next("POST", "/api/v1/keys", FaultKind::CommitThenDrop)
        .await
        .expect("inject");
    let result = reqwest::Client::new()
        .post(format!("{}/keys", emu.base_url()))
        .bearer_auth(&mk)
        .json(&json!({"name": "lost-response"}))
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    let err = result.expect_err("the connection must be dropped without a response");
    assert!(!err.is_timeout(), "dropped, not timed out: {err}");
    assert!(err.status().is_none(), "no HTTP status was received: {err}");
    // Yet the key exists, at the emulator and through the API.
    let keys = control.keys().await.expect("keys");
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].name, "lost-response");
    assert!(!keys[0].deleted);
    let listed = call(
        Method::GET,
        &format!("{}/keys", emu.base_url()),
        Some(&mk),
        None,
    )
    .await;
    assert_eq!(listed.body["data"][0]["name"], "lost-response");
}

#[tokio::test]
async fn commit_then_drop_on_delete_deletes() {
    let emu = start().await;
    let mk = emu.management_key().to_owned();
    let (data, _) = create_key(&emu, &mk, json!({"name": "x"})).await;
    let url = format!(
        "{}/keys/{}",
        emu.base_url(),
        data["hash"].as_str().unwrap_or_default()
    );
    emu.control()
        .fail_next("DELETE", "/api/v1/keys/*", FaultKind::CommitThenDrop)
        .await
        .expect("inject");
    let result = reqwest::Client::new()
        .delete(&url)
        .bearer_auth(&mk)
        .send()
        .await;
    assert!(result.is_err(), "no response expected");
    assert_error(&call(Method::DELETE, &url, Some(&mk), None).await, 404);
    assert!(emu.control().keys().await.expect("keys")[0].deleted);
}

#[tokio::test]
async fn counters_count_requests_by_route_template() {
    let emu = start().await;
    let mk = emu.management_key().to_owned();
    let base = emu.base_url();
    let (a, _) = create_key(&emu, &mk, json!({"name": "a"})).await;
    create_key(&emu, &mk, json!({"name": "b"})).await;
    let url = format!("{base}/keys/{}", a["hash"].as_str().unwrap_or_default());
    call(Method::GET, &url, Some(&mk), None).await;
    call(Method::GET, &url, None, None).await; // 401s count too
    call(Method::DELETE, &url, Some(&mk), None).await;
    call(
        Method::GET,
        &format!("{base}/keys?offset=100"),
        Some(&mk),
        None,
    )
    .await;
    let counters = emu.control().counters().await.expect("counters");
    let expected: Vec<(&str, u64)> = vec![
        ("DELETE /api/v1/keys/{hash}", 1),
        ("GET /api/v1/keys", 1),
        ("GET /api/v1/keys/{hash}", 2),
        ("POST /api/v1/keys", 2),
    ];
    let got: Vec<(&str, u64)> = counters.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn add_usage_shows_in_the_key() {
    let emu = start().await;
    let mk = emu.management_key().to_owned();
    let (data, key) = create_key(&emu, &mk, json!({"name": "a", "limit": 10})).await;
    let hash = data["hash"].as_str().unwrap_or_default();
    emu.control().add_usage(hash, 2.5).await.expect("usage");
    emu.control().add_usage(hash, 0.5).await.expect("usage");
    let got = call(
        Method::GET,
        &format!("{}/keys/{hash}", emu.base_url()),
        Some(&mk),
        None,
    )
    .await
    .body["data"]
        .clone();
    assert_eq!(
        (got["usage"].clone(), got["usage_daily"].clone()),
        (json!(3.0), json!(3.0))
    );
    assert_eq!(got["limit_remaining"], json!(7.0));
    let me = call(
        Method::GET,
        &format!("{}/key", emu.base_url()),
        Some(&key),
        None,
    )
    .await;
    assert_eq!(me.body["data"]["usage_monthly"], json!(3.0));
    assert!(
        emu.control().add_usage(&"f".repeat(64), 1.0).await.is_err(),
        "unknown hash"
    );
}

#[tokio::test]
async fn reset_forgets_keys_faults_and_counters_but_not_accounts() {
    let emu = start().await;
    let mk = emu.management_key().to_owned();
    let control = emu.control();
    let other = control.create_account().await.expect("account");
    let (_, key) = create_key(&emu, &mk, json!({"name": "a"})).await;
    control
        .fail_next(
            "GET",
            "/api/v1/key",
            FaultKind::Status {
                status: 500,
                retry_after: None,
            },
        )
        .await
        .expect("f");
    control.reset().await.expect("reset");
    assert!(control.keys().await.expect("keys").is_empty());
    assert!(control.counters().await.expect("counters").is_empty());
    assert!(control.faults().await.expect("faults").is_empty());
    let me = call(
        Method::GET,
        &format!("{}/key", emu.base_url()),
        Some(&key),
        None,
    )
    .await;
    assert_error(&me, 401);
    for management_key in [&mk, &other.management_key] {
        let a = call(
            Method::GET,
            &format!("{}/keys", emu.base_url()),
            Some(management_key),
            None,
        )
        .await;
        assert_eq!(a.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn emulated_keys_include_deleted_ones_and_their_account() {
    let emu = start().await;
    let mk = emu.management_key().to_owned();
    let other = emu.control().create_account().await.expect("account");
    let (a, _) = create_key(&emu, &mk, json!({"name": "a"})).await;
    create_key(&emu, &other.management_key, json!({"name": "b"})).await;
    call(
        Method::DELETE,
        &format!(
            "{}/keys/{}",
            emu.base_url(),
            a["hash"].as_str().unwrap_or_default()
        ),
        Some(&mk),
        None,
    )
    .await;
    let keys = emu.control().keys().await.expect("keys");
    assert_eq!(keys.len(), 2);
    assert_eq!(
        (
            keys[0].name.as_str(),
            keys[0].account.as_str(),
            keys[0].deleted
        ),
        ("b", other.account.as_str(), false)
    );
    assert_eq!(keys[1].name, "a");
    assert!(keys[1].deleted);
    assert_ne!(keys[0].account, keys[1].account);
}

#[tokio::test]
async fn controls_are_absent_without_test_controls() {
    let emu = start_with(EmulatorConfig {
        test_controls: false,
        ..Default::default()
    })
    .await;
    let r = reqwest::get(format!("{}/_emulator/keys", emu.root_url()))
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(emu.control().keys().await.is_err());
    assert!(
        emu.control()
            .fail_next("GET", "/api/v1/keys", FaultKind::CommitThenDrop)
            .await
            .is_err()
    );
    // The API itself still works.
    let a = call(
        Method::GET,
        &format!("{}/keys", emu.base_url()),
        Some(emu.management_key()),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
}

#[tokio::test]
async fn dropping_the_emulator_stops_it() {
    let emu = start().await;
    let mk = emu.management_key().to_owned();
    assert!(
        !format!("{emu:?}").contains(&mk[9..]),
        "Debug must not reveal the management key"
    );
    let url = format!("{}/key", emu.base_url());
    let control: ControlClient = emu.control();
    assert!(control.counters().await.is_ok());
    drop(emu);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match reqwest::Client::new().get(&url).send().await {
            Err(e) if e.is_connect() => break,
            _ => {
                assert!(Instant::now() < deadline, "still serving after drop");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

#[tokio::test]
async fn shutdown_stops_accepting_connections() {
    let emu = start().await;
    let url = format!("{}/key", emu.base_url());
    emu.shutdown().await;
    let e = reqwest::Client::new()
        .get(&url)
        .send()
        .await
        .expect_err("nothing listens after shutdown");
    assert!(e.is_connect(), "{e}");
}

#[tokio::test]
async fn shutdown_lets_an_in_flight_request_finish() {
    let emu = start().await;
    let mk = emu.management_key().to_owned();
    let control = emu.control();
    control
        .fail_next("GET", "/api/v1/keys", FaultKind::Delay { delay_ms: 500 })
        .await
        .expect("inject");
    let url = format!("{}/keys", emu.base_url());
    let in_flight =
        tokio::spawn(async move { call(Method::GET, &url, Some(&mk), None).await.status });
    // Wait until the request has arrived (it is counted before it is delayed).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let counters = control.counters().await.expect("counters");
        if counters.contains_key("GET /api/v1/keys") {
            break;
        }
        assert!(Instant::now() < deadline, "the request never arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    emu.shutdown().await;
    assert_eq!(in_flight.await.expect("join"), StatusCode::OK);
}
