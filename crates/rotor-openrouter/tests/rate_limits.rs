//! The shared rate-limit gate and the retry of `POST /keys` when nothing was created, against
//! the emulator over real HTTP.

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use rotor_emulator::{EmulatorConfig, RateLimit, RetryAfterMode, RunningEmulator};
use rotor_openrouter::{
    ApiKey, Client, ClientConfig, CreateKeyRequest, ListKeysOptions, RetryPolicy,
};
use rotor_testkit::emulator::start_with;

fn patient_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 8,
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_secs(2),
        max_elapsed: Duration::from_secs(30),
    }
}

async fn limited(requests: u32, per: Duration, retry_after: RetryAfterMode) -> RunningEmulator {
    start_with(EmulatorConfig {
        rate_limit: Some(RateLimit { requests, per }),
        retry_after,
        ..Default::default()
    })
    .await
}

fn client_for(emu: &RunningEmulator) -> Client {
    Client::new(
        ClientConfig::new(emu.base_url(), ApiKey::new(emu.management_key()))
            .with_retry(patient_retry()),
    )
    .expect("client")
}

async fn forty_concurrent_creates(mode: RetryAfterMode) {
    let emu = limited(20, Duration::from_secs(1), mode).await;
    let client = client_for(&emu);
    let started = Instant::now();
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let c = client.clone();
            tokio::spawn(async move {
                c.create_key(&CreateKeyRequest {
                    name: format!("burst-{i}"),
                    ..Default::default()
                })
                .await
            })
        })
        .collect();
    let mut hashes = HashSet::new();
    for t in tasks {
        let created = t
            .await
            .expect("task")
            .unwrap_or_else(|e| panic!("{mode:?}: {e}"));
        hashes.insert(created.data.hash);
    }
    assert_eq!(hashes.len(), 40);
    let keys = emu.control().keys().await.expect("keys");
    assert_eq!(
        keys.iter().filter(|k| !k.deleted).count(),
        40,
        "exactly one key per create"
    );
    // 40 requests at 20 a second take at least one more window.
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    let status = client.rate_limit_status();
    assert!(status.rate_limited + status.waits > 0, "{status:?}");
    eprintln!(
        "{mode:?}: 40 creates in {:?}; {} requests; {status:?}",
        started.elapsed(),
        emu.control().counters().await.expect("counters")["POST /api/v1/keys"]
    );
}

#[tokio::test]
async fn forty_concurrent_creates_under_20_a_second_all_succeed() {
    forty_concurrent_creates(RetryAfterMode::EveryOther).await;
}

#[tokio::test]
async fn forty_concurrent_creates_succeed_without_any_retry_after() {
    forty_concurrent_creates(RetryAfterMode::Never).await;
}

#[tokio::test]
async fn remaining_zero_holds_every_client_of_the_key_until_the_reset() {
    let emu = limited(3, Duration::from_secs(1), RetryAfterMode::Never).await;
    let a = client_for(&emu);
    let clone = a.clone();
    // Built separately, same key and URL: shares the gate too.
    let b = client_for(&emu);
    let options = ListKeysOptions::default();
    for _ in 0..3 {
        a.list_keys(&options).await.expect("within the limit");
    }
    // The third answer said Remaining: 0; nobody goes before the reset.
    let status = b.rate_limit_status();
    assert!(status.wait_left.is_some(), "{status:?}");
    let waits_before = clone.rate_limit_waits();
    let started = Instant::now();
    clone.list_keys(&options).await.expect("after the reset");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(300), "waited {waited:?}");
    assert!(clone.rate_limit_waits() > waits_before);
    let counters = emu.control().counters().await.expect("counters");
    assert_eq!(
        counters["GET /api/v1/keys"], 4,
        "the client waited instead of earning a 429: {counters:?}"
    );
    assert_eq!(a.rate_limit_status().rate_limited, 0);
}

#[tokio::test]
async fn a_waiting_task_is_visible_while_it_waits() {
    let emu = limited(1, Duration::from_secs(2), RetryAfterMode::Always).await;
    let client = client_for(&emu);
    client
        .list_keys(&ListKeysOptions::default())
        .await
        .expect("first");
    let waiter = {
        let c = client.clone();
        tokio::spawn(async move { c.list_keys(&ListKeysOptions::default()).await })
    };
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let s = client.rate_limit_status();
        if s.waiting > 0 {
            assert!(s.wait_left.is_some(), "{s:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never saw the task waiting: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    waiter.await.expect("task").expect("after the window");
    assert_eq!(client.rate_limit_status().waiting, 0);
}

#[tokio::test]
async fn a_refused_connection_on_create_is_retried_until_the_server_is_up() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let management_key = format!("sk-or-v1-{}", "ab".repeat(32));
    let client = Client::new(
        ClientConfig::new(
            format!("http://{addr}/api/v1"),
            ApiKey::new(&management_key),
        )
        .with_retry(RetryPolicy {
            max_attempts: 30,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(200),
            max_elapsed: Duration::from_secs(15),
        }),
    )
    .expect("client");
    let key = management_key.clone();
    let server = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(600)).await;
        start_with(EmulatorConfig {
            listen: addr,
            management_key: Some(key),
            ..Default::default()
        })
        .await
    });
    let created = client
        .create_key(&CreateKeyRequest {
            name: "late".into(),
            ..Default::default()
        })
        .await
        .expect("created once the server is up");
    let emu = server.await.expect("server task");
    let keys = emu.control().keys().await.expect("keys");
    assert_eq!(keys.len(), 1, "exactly one key");
    assert_eq!(keys[0].hash, created.data.hash);
}
