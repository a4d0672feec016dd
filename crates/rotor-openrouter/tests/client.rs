//! The client against the project's OpenRouter emulator, in-process on 127.0.0.1:0, over real HTTP.
//! Faults (error statuses, delays, commit-then-drop) are injected through the emulator's test
//! controls, and every assertion is about what OpenRouter (the emulator) really holds.

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use rotor_emulator::{
    RunningEmulator,
    control::{ControlClient, FaultKind},
};
use rotor_openrouter::{
    ApiKey, Client, ClientConfig, CreateKeyRequest, CreatedKey, Error, LimitReset, ListKeysOptions,
    RetryPolicy, UpdateKeyRequest,
};
use rotor_testkit::emulator::{start, status};
use rotor_testkit::logs::{LogBuffer, trace_into};

const KEYS: &str = "/api/v1/keys";
const KEY_BY_HASH: &str = "/api/v1/keys/*";

/// Fast retries so the tests take milliseconds, not seconds.
fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_secs(3),
        max_elapsed: Duration::from_secs(20),
    }
}

struct Setup {
    emu: RunningEmulator,
    control: ControlClient,
    client: Client,
}

impl Setup {
    async fn new() -> Setup {
        Setup::with(|c| c).await
    }

    async fn with(adjust: impl FnOnce(ClientConfig) -> ClientConfig) -> Setup {
        let emu = start().await;
        let config = ClientConfig::new(emu.base_url(), ApiKey::new(emu.management_key()))
            .with_timeout(Duration::from_secs(10))
            .with_retry(fast_retry());
        let client = Client::new(adjust(config)).expect("client");
        let control = emu.control();
        Setup {
            emu,
            control,
            client,
        }
    }

    /// Another client on the same emulator with a different key as its "management" key.
    fn client_with_key(&self, key: &ApiKey) -> Client {
        Client::new(ClientConfig::new(self.emu.base_url(), key.clone()).with_retry(fast_retry()))
            .expect("client")
    }

    async fn fault(&self, method: &str, path: &str, count: u32, kind: FaultKind) {
        rotor_testkit::emulator::fault(&self.control, method, path, count, kind).await;
    }

    async fn counter(&self, route: &str) -> u64 {
        rotor_testkit::observe::counter(&self.control, route).await
    }

    /// Creates a key through a client with default timeouts (the test's client may have a short
    /// one), so set-up never fails on a slow machine.
    async fn create(&self, name: &str) -> CreatedKey {
        self.client_with_key(&ApiKey::new(self.emu.management_key()))
            .create_key(&CreateKeyRequest {
                name: name.into(),
                ..Default::default()
            })
            .await
            .expect("create key")
    }

    /// Keys of any account that the emulator holds and that are not deleted.
    async fn alive_named(&self, name: &str) -> usize {
        self.control
            .keys()
            .await
            .expect("emulator keys")
            .iter()
            .filter(|k| k.name == name && !k.deleted)
            .count()
    }
}

/// Asserts that no plaintext key (nor its secret part) appears in `text`.
fn assert_no_key(text: &str, keys: &[&str]) {
    for key in keys {
        assert!(!text.contains(key), "a key leaked into: {text}");
        let secret = key.strip_prefix("sk-or-v1-").unwrap_or(key);
        assert!(
            secret.len() < 16 || !text.contains(&secret[3..secret.len() - 4]),
            "a key leaked into: {text}"
        );
    }
}

fn show(e: &Error) -> String {
    format!("{e} | {e:?} | {e:#?}")
}

#[tokio::test]
async fn every_call_works_end_to_end() {
    let s = Setup::new().await;
    let expires: chrono::DateTime<chrono::Utc> = "2099-12-31T23:59:59Z".parse().expect("date");
    let created = s
        .client
        .create_key(&CreateKeyRequest {
            name: "app one".into(),
            limit: Some(5.0),
            limit_reset: Some(LimitReset::Monthly),
            include_byok_in_limit: Some(true),
            expires_at: Some(expires),
            ..Default::default()
        })
        .await
        .expect("create");
    assert!(created.key.is_well_formed());
    let hash = created.data.hash.clone();
    assert_eq!(created.data.name, "app one");
    assert_eq!(created.data.limit, Some(5.0));
    assert_eq!(created.data.limit_reset, Some(LimitReset::Monthly));
    assert!(created.data.include_byok_in_limit);
    assert_eq!(created.data.expires_at, Some(expires));

    // get / list
    let got = s.client.get_key(&hash).await.expect("get");
    assert_eq!(got.hash, hash);
    assert_eq!(got.limit_remaining, Some(5.0));
    let listed = s
        .client
        .list_keys(&ListKeysOptions::default())
        .await
        .expect("list");
    assert_eq!(listed.iter().filter(|k| k.hash == hash).count(), 1);

    // The key works: it inspects itself and can complete; usage shows at the management API.
    let current = s
        .client
        .current_key(&created.key)
        .await
        .expect("current key with the new key");
    assert!(!current.is_management_key);
    assert_eq!(current.limit, Some(5.0));
    let completion = s
        .client
        .chat_completion(&created.key, "openai/gpt-4o-mini")
        .await
        .expect("completion");
    assert!(!completion.id.is_empty());
    assert!(!completion.choices.is_empty());
    assert!(s.client.get_key(&hash).await.expect("get").usage > 0.0);
    let mgmt = s
        .client
        .current_key(&ApiKey::new(s.emu.management_key()))
        .await
        .expect("current (management)");
    assert!(mgmt.is_management_key);

    // update: only the given fields change; null clears the limit.
    let updated = s
        .client
        .update_key(
            &hash,
            &UpdateKeyRequest {
                name: Some("app one b".into()),
                limit: Some(None),
                ..Default::default()
            },
        )
        .await
        .expect("update");
    assert_eq!(updated.name, "app one b");
    assert_eq!(updated.limit, None);
    assert!(updated.include_byok_in_limit);
    assert!(updated.updated_at.is_some());

    // disable: hidden from the default list, shown with include_disabled, and the key stops working.
    let disabled = s
        .client
        .update_key(
            &hash,
            &UpdateKeyRequest {
                disabled: Some(true),
                ..Default::default()
            },
        )
        .await
        .expect("disable");
    assert!(disabled.disabled);
    let default_list = s
        .client
        .list_keys(&ListKeysOptions::default())
        .await
        .expect("list");
    assert!(default_list.iter().all(|k| k.hash != hash));
    let all = s
        .client
        .list_keys(&ListKeysOptions {
            include_disabled: true,
            ..Default::default()
        })
        .await
        .expect("list");
    assert!(all.iter().any(|k| k.hash == hash && k.disabled));
    assert!(matches!(
        s.client.current_key(&created.key).await,
        Err(Error::Unauthorized { .. })
    ));
    let found = s
        .client
        .find_keys_by_name_prefix("app one", None)
        .await
        .expect("find");
    assert_eq!(
        found.iter().map(|k| k.hash.as_str()).collect::<Vec<_>>(),
        [hash.as_str()]
    );

    // delete: gone at the emulator; a second delete is a plain 404.
    s.client.delete_key(&hash).await.expect("delete");
    assert!(
        s.client
            .get_key(&hash)
            .await
            .expect_err("get after delete")
            .is_not_found()
    );
    assert!(
        s.client
            .delete_key(&hash)
            .await
            .expect_err("second delete")
            .is_not_found()
    );
    let emulated = s.control.keys().await.expect("keys");
    assert!(emulated.iter().any(|k| k.hash == hash && k.deleted));
}

#[tokio::test]
async fn list_follows_pages_past_one_hundred_keys() {
    let s = Setup::new().await;
    for i in 0..250 {
        s.create(&format!("bulk {i:03}")).await;
    }
    let before = s.counter("GET /api/v1/keys").await;
    let keys = s
        .client
        .list_keys(&ListKeysOptions::default())
        .await
        .expect("list");
    assert_eq!(keys.len(), 250);
    assert_eq!(
        keys.iter().map(|k| &k.hash).collect::<HashSet<_>>().len(),
        250
    );
    // Newest first, as OpenRouter lists them.
    assert_eq!(keys[0].name, "bulk 249");
    assert_eq!(keys[249].name, "bulk 000");
    // Pages overlap by PAGE_OVERLAP keys: offsets 0, 80, 160, 230, and the empty one at 250.
    assert_eq!(s.counter("GET /api/v1/keys").await - before, 5);
    let found = s
        .client
        .find_keys_by_name_prefix("bulk 1", None)
        .await
        .expect("find");
    assert_eq!(found.len(), 100);
}

#[tokio::test]
async fn auth_and_request_errors_are_typed() {
    let s = Setup::new().await;
    let created = s.create("ordinary").await;

    // 401: an unknown (well-formed) key, as a management key and on /key.
    let unknown = ApiKey::new(format!("sk-or-v1-{}", "ab".repeat(32)));
    let err = s
        .client_with_key(&unknown)
        .list_keys(&ListKeysOptions::default())
        .await
        .expect_err("401");
    assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
    assert_eq!(err.status(), Some(401));
    assert!(matches!(
        s.client.current_key(&unknown).await,
        Err(Error::Unauthorized { .. })
    ));

    // 403: an ordinary key on /keys, and the management key on completions.
    let err = s
        .client_with_key(&created.key)
        .list_keys(&ListKeysOptions::default())
        .await
        .expect_err("403");
    assert!(
        matches!(&err, Error::Forbidden { message } if message.contains("management")),
        "{err:?}"
    );
    let err = s
        .client
        .chat_completion(&ApiKey::new(s.emu.management_key()), "m")
        .await
        .expect_err("403");
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");

    // 404
    let err = s.client.get_key(&"0".repeat(64)).await.expect_err("404");
    assert!(err.is_not_found(), "{err:?}");
    assert!(!err.is_transient());

    // 400: an empty name.
    let err = s
        .client
        .create_key(&CreateKeyRequest::default())
        .await
        .expect_err("400");
    assert!(
        matches!(&err, Error::BadRequest { message } if message.contains("name")),
        "{err:?}"
    );
    // An empty hash never reaches the server.
    assert!(matches!(
        s.client.get_key("").await,
        Err(Error::InvalidInput { .. })
    ));

    // None of these was retried.
    assert_eq!(s.counter("GET /api/v1/keys/{hash}").await, 1);
}

#[tokio::test]
async fn rate_limit_retry_waits_at_least_retry_after() {
    let s = Setup::new().await;
    let hash = s.create("limited").await.data.hash;
    s.fault("GET", KEY_BY_HASH, 1, status(429, Some(1))).await;
    let started = Instant::now();
    let key = s.client.get_key(&hash).await.expect("get after one 429");
    let waited = started.elapsed();
    eprintln!("429 with Retry-After: 1 -> retried after {waited:?}");
    assert_eq!(key.hash, hash);
    assert!(
        waited >= Duration::from_secs(1),
        "retried after {waited:?}, before Retry-After: 1"
    );
    assert!(
        waited < Duration::from_secs(3),
        "waited {waited:?}, more than max_backoff"
    );
    assert_eq!(s.counter("GET /api/v1/keys/{hash}").await, 2);
}

#[tokio::test]
async fn rate_limit_exhausted_carries_retry_after() {
    let s = Setup::with(|c| {
        c.with_retry(RetryPolicy {
            max_attempts: 2,
            ..fast_retry()
        })
    })
    .await;
    s.fault("GET", KEYS, 5, status(429, Some(1))).await;
    let err = s
        .client
        .list_keys(&ListKeysOptions::default())
        .await
        .expect_err("429s");
    assert!(
        matches!(err, Error::RateLimited { retry_after: Some(d), .. } if d == Duration::from_secs(1)),
        "{err:?}"
    );
    assert!(err.to_string().contains("retry after 1s"), "{err}");
    assert_eq!(s.counter("GET /api/v1/keys").await, 2);
}

#[tokio::test]
async fn server_errors_are_retried_until_success() {
    let s = Setup::new().await;
    let hash = s.create("flaky").await.data.hash;
    s.fault("GET", KEYS, 2, status(503, None)).await;
    let keys = s
        .client
        .list_keys(&ListKeysOptions::default())
        .await
        .expect("list after two 503s");
    assert_eq!(keys.len(), 1);
    assert_eq!(s.counter("GET /api/v1/keys").await, 2 + 2); // two failures, page 0, empty page

    s.fault("PATCH", KEY_BY_HASH, 1, status(500, None)).await;
    let key = s
        .client
        .update_key(
            &hash,
            &UpdateKeyRequest {
                limit: Some(Some(7.0)),
                ..Default::default()
            },
        )
        .await
        .expect("patch after a 500");
    assert_eq!(key.limit, Some(7.0));
    assert_eq!(s.counter("PATCH /api/v1/keys/{hash}").await, 2);
}

#[tokio::test]
async fn retries_are_bounded_by_attempts_and_time() {
    let s = Setup::with(|c| {
        c.with_retry(RetryPolicy {
            max_attempts: 3,
            ..fast_retry()
        })
    })
    .await;
    let hash = s.create("down").await.data.hash;
    s.fault("GET", KEY_BY_HASH, 10, status(500, None)).await;
    let err = s.client.get_key(&hash).await.expect_err("500s");
    assert!(matches!(err, Error::Server { status: 500, .. }), "{err:?}");
    assert!(err.is_transient());
    assert_eq!(s.counter("GET /api/v1/keys/{hash}").await, 3);
    s.control.clear_faults().await.expect("clear faults");

    // The time budget: Retry-After 2 s does not fit into 1 s, so no retry starts.
    let s = Setup::with(|c| {
        c.with_retry(RetryPolicy {
            max_elapsed: Duration::from_secs(1),
            ..fast_retry()
        })
    })
    .await;
    s.fault("GET", KEYS, 10, status(429, Some(2))).await;
    let started = Instant::now();
    let err = s
        .client
        .list_keys(&ListKeysOptions::default())
        .await
        .expect_err("429");
    assert!(matches!(err, Error::RateLimited { .. }), "{err:?}");
    // Had it waited for Retry-After, at least 2 s would have passed.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(s.counter("GET /api/v1/keys").await, 1);
}

#[tokio::test]
async fn timeouts_are_distinct_and_retried_for_safe_calls() {
    let s = Setup::with(|c| c.with_timeout(Duration::from_millis(300))).await;
    let hash = s.create("slow").await.data.hash;

    // One slow answer, then a normal one: the GET is retried and succeeds.
    s.fault("GET", KEY_BY_HASH, 1, FaultKind::Delay { delay_ms: 2000 })
        .await;
    assert_eq!(
        s.client
            .get_key(&hash)
            .await
            .expect("get after a timeout")
            .hash,
        hash
    );
    assert_eq!(s.counter("GET /api/v1/keys/{hash}").await, 2);

    // Always slow: a Timeout error, after max_attempts.
    s.fault("GET", KEY_BY_HASH, 10, FaultKind::Delay { delay_ms: 2000 })
        .await;
    let err = s.client.get_key(&hash).await.expect_err("timeout");
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(err.to_string().contains("GET /keys/{hash}"), "{err}");
    assert_eq!(s.counter("GET /api/v1/keys/{hash}").await, 2 + 4);
}

#[tokio::test]
async fn connection_refused_is_a_connection_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let key = ApiKey::new(format!("sk-or-v1-{}", "cd".repeat(32)));
    let client = Client::new(
        ClientConfig::new(format!("http://{addr}/api/v1/"), key.clone()).with_retry(RetryPolicy {
            max_attempts: 2,
            ..fast_retry()
        }),
    )
    .expect("client");
    let err = client
        .list_keys(&ListKeysOptions::default())
        .await
        .expect_err("refused");
    assert!(matches!(err, Error::Connection { .. }), "{err:?}");
    assert!(err.is_transient());
    // Nothing was sent, so even a create is a plain connection error, not "outcome unknown".
    let err = client
        .create_key(&CreateKeyRequest {
            name: "x".into(),
            ..Default::default()
        })
        .await
        .expect_err("refused");
    assert!(matches!(err, Error::Connection { .. }), "{err:?}");
    assert_no_key(&show(&err), &[key.expose()]);
}

#[tokio::test]
async fn create_is_retried_only_when_nothing_was_created() {
    let s = Setup::new().await;
    // 500: ambiguous, never retried, and (since the fault refuses the call) no key exists.
    s.fault("POST", KEYS, 1, status(500, None)).await;
    let err = s
        .client
        .create_key(&CreateKeyRequest {
            name: "once".into(),
            ..Default::default()
        })
        .await
        .expect_err("500");
    assert!(
        matches!(&err, Error::OutcomeUnknown { name, .. } if name == "once"),
        "{err:?}"
    );
    assert_eq!(s.counter("POST /api/v1/keys").await, 1);
    assert_eq!(s.alive_named("once").await, 0);

    // 429: nothing was created, so it is retried (after the Retry-After) and succeeds.
    s.fault("POST", KEYS, 1, status(429, Some(1))).await;
    let started = std::time::Instant::now();
    let created = s
        .client
        .create_key(&CreateKeyRequest {
            name: "once".into(),
            ..Default::default()
        })
        .await
        .expect("create after one 429");
    assert_eq!(created.data.name, "once");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "honours Retry-After"
    );
    assert_eq!(s.counter("POST /api/v1/keys").await, 3);
    assert_eq!(s.alive_named("once").await, 1);

    // 429 past the retry budget: a clean refusal, typed.
    s.fault("POST", KEYS, 10, status(429, Some(0))).await;
    let err = s
        .client
        .create_key(&CreateKeyRequest {
            name: "refused".into(),
            ..Default::default()
        })
        .await
        .expect_err("429");
    assert!(
        matches!(
            err,
            Error::RateLimited {
                retry_after: Some(_),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        s.counter("POST /api/v1/keys").await,
        3 + 4,
        "fast_retry: 4 attempts"
    );
    assert_eq!(s.alive_named("refused").await, 0);
    s.control.clear_faults().await.expect("clear faults");

    // A timeout after sending: outcome unknown.
    let slow = Setup::with(|c| c.with_timeout(Duration::from_millis(300))).await;
    slow.fault("POST", KEYS, 1, FaultKind::Delay { delay_ms: 1500 })
        .await;
    let err = slow
        .client
        .create_key(&CreateKeyRequest {
            name: "slow".into(),
            ..Default::default()
        })
        .await
        .expect_err("timeout");
    assert!(err.is_outcome_unknown(), "{err:?}");
    assert_eq!(slow.counter("POST /api/v1/keys").await, 1);
}

#[tokio::test]
async fn commit_then_drop_on_create_is_outcome_unknown_and_recoverable_by_name() {
    let s = Setup::new().await;
    s.fault("POST", KEYS, 1, FaultKind::CommitThenDrop).await;
    let err = s
        .client
        .create_key(&CreateKeyRequest {
            name: "rotor lost-response".into(),
            ..Default::default()
        })
        .await
        .expect_err("dropped");
    assert!(
        matches!(&err, Error::OutcomeUnknown { name, .. } if name == "rotor lost-response"),
        "{err:?}"
    );
    assert_eq!(s.counter("POST /api/v1/keys").await, 1);
    // The key exists at OpenRouter, and the caller can find it by name.
    assert_eq!(s.alive_named("rotor lost-response").await, 1);
    let found = s
        .client
        .find_keys_by_name_prefix("rotor lost-", None)
        .await
        .expect("find");
    assert_eq!(found.len(), 1);
    s.client
        .delete_key(&found[0].hash)
        .await
        .expect("clean up the orphan");
    assert_eq!(s.alive_named("rotor lost-response").await, 0);
}

#[tokio::test]
async fn lost_responses_of_safe_calls_are_retried() {
    let s = Setup::new().await;
    let hash = s.create("to delete").await.data.hash;

    // PATCH committed, response lost: retried, same result.
    s.fault("PATCH", KEY_BY_HASH, 1, FaultKind::CommitThenDrop)
        .await;
    let key = s
        .client
        .update_key(
            &hash,
            &UpdateKeyRequest {
                limit: Some(Some(3.0)),
                ..Default::default()
            },
        )
        .await
        .expect("patch");
    assert_eq!(key.limit, Some(3.0));
    assert_eq!(s.counter("PATCH /api/v1/keys/{hash}").await, 2);

    // DELETE committed, response lost: the retry's 404 means the first attempt deleted it.
    s.fault("DELETE", KEY_BY_HASH, 1, FaultKind::CommitThenDrop)
        .await;
    s.client
        .delete_key(&hash)
        .await
        .expect("delete whose response was lost");
    assert_eq!(s.counter("DELETE /api/v1/keys/{hash}").await, 2);
    assert!(
        s.control
            .keys()
            .await
            .expect("keys")
            .iter()
            .any(|k| k.hash == hash && k.deleted)
    );
}

#[tokio::test]
async fn completion_is_retried_on_429_but_not_on_5xx() {
    let s = Setup::new().await;
    let created = s.create("worker").await;
    s.fault("POST", "/api/v1/chat/completions", 1, status(429, Some(1)))
        .await;
    s.client
        .chat_completion(&created.key, "m")
        .await
        .expect("completion after a 429");
    s.fault("POST", "/api/v1/chat/completions", 1, status(502, None))
        .await;
    let err = s
        .client
        .chat_completion(&created.key, "m")
        .await
        .expect_err("502");
    assert!(matches!(err, Error::Server { status: 502, .. }), "{err:?}");
    assert_eq!(s.counter("POST /api/v1/chat/completions").await, 3);
}

/// Every failing call above, formatted every way, with the logs at TRACE: no key appears.
#[tokio::test]
async fn keys_never_appear_in_errors_debug_or_logs() {
    let logs = LogBuffer::default();
    let _guard = tracing::subscriber::set_default(trace_into(&logs));

    let s = Setup::with(|c| c.with_timeout(Duration::from_millis(500))).await;
    let management = s.emu.management_key().to_owned();
    let created = s.create("secret holder").await;
    let plain = created.key.expose().to_owned();
    let unknown = ApiKey::new(format!("sk-or-v1-{}", "ef".repeat(32)));
    let hash = created.data.hash.clone();

    let mut shown = vec![
        format!("{created:?}"),
        format!("{:?}", s.client),
        format!("{:?}", created.key),
    ];
    let mut errors = Vec::new();
    errors.push(
        s.client_with_key(&unknown)
            .list_keys(&ListKeysOptions::default())
            .await
            .expect_err("401"),
    );
    errors.push(s.client.current_key(&unknown).await.expect_err("401 /key"));
    errors.push(
        s.client_with_key(&created.key)
            .list_keys(&ListKeysOptions::default())
            .await
            .expect_err("403"),
    );
    errors.push(
        s.client
            .chat_completion(&ApiKey::new(management.as_str()), "m")
            .await
            .expect_err("403"),
    );
    errors.push(s.client.get_key(&"1".repeat(64)).await.expect_err("404"));
    errors.push(
        s.client
            .create_key(&CreateKeyRequest::default())
            .await
            .expect_err("400"),
    );
    s.fault("GET", KEY_BY_HASH, 10, status(429, Some(0))).await;
    errors.push(s.client.get_key(&hash).await.expect_err("429"));
    s.control.clear_faults().await.expect("clear");
    s.fault("GET", KEY_BY_HASH, 10, status(500, None)).await;
    errors.push(s.client.get_key(&hash).await.expect_err("500"));
    s.control.clear_faults().await.expect("clear");
    s.fault("GET", KEY_BY_HASH, 10, FaultKind::Delay { delay_ms: 1500 })
        .await;
    errors.push(s.client.get_key(&hash).await.expect_err("timeout"));
    s.control.clear_faults().await.expect("clear");
    s.fault("POST", KEYS, 1, FaultKind::CommitThenDrop).await;
    errors.push(
        s.client
            .create_key(&CreateKeyRequest {
                name: "dropped".into(),
                ..Default::default()
            })
            .await
            .expect_err("drop"),
    );
    // A key that cannot be sent as a header.
    errors.push(
        s.client
            .current_key(&ApiKey::new(format!("{plain}\u{1}x")))
            .await
            .expect_err("invalid header"),
    );
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let a = l.local_addr().expect("addr");
        drop(l);
        a
    };
    let offline = Client::new(ClientConfig::new(
        format!("http://{refused}/api/v1"),
        created.key.clone(),
    ))
    .expect("client");
    errors.push(
        offline
            .current_key(&created.key)
            .await
            .expect_err("refused"),
    );
    errors.push(
        offline
            .create_key(&CreateKeyRequest {
                name: "x".into(),
                ..Default::default()
            })
            .await
            .expect_err("refused"),
    );

    assert!(errors.len() >= 13);
    shown.extend(errors.iter().map(show));
    let logs = logs.text();
    assert!(
        logs.contains("retrying"),
        "the retries were not logged: {logs}"
    );
    shown.push(logs);
    for text in &shown {
        assert_no_key(text, &[&management, &plain, unknown.expose()]);
    }
}

#[tokio::test]
async fn keys_deleted_while_listing_do_not_make_another_key_fall_between_pages() {
    let s = Setup::new().await;
    let mut created = Vec::new();
    for i in 0..150 {
        created.push(s.create(&format!("bulk {i:03}")).await.data.hash);
    }
    // Slow down the first two pages, and change the list between them: five of the newest keys
    // are deleted, so every older key moves five places up.
    s.fault("GET", KEYS, 2, FaultKind::Delay { delay_ms: 600 })
        .await;
    let client = s.client.clone();
    let listing = tokio::spawn(async move { client.list_keys(&ListKeysOptions::default()).await });
    tokio::time::sleep(Duration::from_millis(900)).await;
    for hash in created.iter().rev().take(5) {
        s.client
            .delete_key(hash)
            .await
            .expect("delete while listing");
    }
    let keys = listing
        .await
        .expect("task")
        .expect("listing survives concurrent changes");
    let listed: HashSet<&str> = keys.iter().map(|k| k.hash.as_str()).collect();
    // Every key that existed for the whole listing is in it: none fell between two pages.
    for hash in &created[..145] {
        assert!(listed.contains(hash.as_str()), "key {hash} was skipped");
    }
    assert_eq!(listed.len(), keys.len(), "no duplicates");
}

#[tokio::test]
async fn a_page_of_only_known_keys_is_not_mistaken_for_a_broken_server() {
    let s = Setup::new().await;
    for i in 0..110 {
        s.create(&format!("bulk {i:03}")).await;
    }
    // 100 keys created between the first and the second page shift every older key by a page.
    s.fault("GET", KEYS, 2, FaultKind::Delay { delay_ms: 600 })
        .await;
    let client = s.client.clone();
    let listing = tokio::spawn(async move { client.list_keys(&ListKeysOptions::default()).await });
    tokio::time::sleep(Duration::from_millis(700)).await;
    for i in 0..100 {
        s.create(&format!("late {i:03}")).await;
    }
    let keys = listing
        .await
        .expect("task")
        .expect("listing survives concurrent creation");
    assert!(
        keys.iter().filter(|k| k.name.starts_with("bulk")).count() == 110,
        "every older key listed"
    );
}
