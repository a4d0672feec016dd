//! Authentication against a real OpenBao: AppRole with the shipped least-privilege policy can
//! rotate (and keeps working across token expiry), a token without that policy is denied with
//! nothing changed, and Kubernetes auth logs in through OpenBao's real kubernetes auth method
//! configured against a TokenReview endpoint this test serves.

use rotor_testkit::stores::vault;
use rotor_testkit::{emulator, stores};

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{Json, Router, extract::State, http::HeaderMap, routing::post};
use base64::Engine as _;
use reqwest::Method;
use rotor_core::{SecretStore, Stage, VersionSelector, record::KeyRecord};
use rotor_vault::{Credential, VaultAuth, VaultConfig, VaultStore};
use secrecy::SecretString;
use serde_json::{Value, json};

/// Enables AppRole at a fresh mount with a role carrying `policy`; returns (mount, role_id, secret_id).
async fn approle(policy: &str, ttl: &str, max_ttl: &str) -> (String, String, String) {
    let mount = stores::fresh("approle");
    vault::sys(
        Method::POST,
        &format!("sys/auth/{mount}"),
        Some(json!({ "type": "approle" })),
    )
    .await;
    vault::sys(
        Method::POST,
        &format!("auth/{mount}/role/rotor"),
        Some(json!({ "token_policies": [policy], "token_ttl": ttl, "token_max_ttl": max_ttl })),
    )
    .await;
    let role_id = vault::sys(
        Method::GET,
        &format!("auth/{mount}/role/rotor/role-id"),
        None,
    )
    .await["data"]["role_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let secret_id = vault::sys(
        Method::POST,
        &format!("auth/{mount}/role/rotor/secret-id"),
        None,
    )
    .await["data"]["secret_id"]
        .as_str()
        .unwrap()
        .to_owned();
    (mount, role_id, secret_id)
}

async fn shipped_policy_name() -> String {
    let name = stores::fresh("rotor");
    vault::put_policy(&name, &vault::shipped_policy()).await;
    name
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approle_with_the_shipped_policy_can_init_and_rotate() {
    let (emulator, engine) = emulator::start_with_engine().await;
    let policy = shipped_policy_name().await;
    let (mount, role_id, secret_id) = approle(&policy, "1h", "2h").await;
    let dir = tempfile::tempdir().unwrap();
    let secret_id_file = dir.path().join("secret-id");
    std::fs::write(&secret_id_file, format!("{secret_id}\n")).unwrap();
    let config = VaultConfig::new(
        vault::addr(),
        VaultAuth::AppRole {
            mount,
            role_id: Credential::Value(SecretString::from(role_id)),
            secret_id: Credential::File(secret_id_file),
        },
    );
    let store = VaultStore::connect(config).await.expect("AppRole login");
    let secret = format!("secret/openrouter/{}", stores::fresh("approle"));
    let app = vault::app_token(&secret).await;

    engine
        .init(&store, &secret, None)
        .await
        .expect("init with the shipped policy");
    let first = vault::api_key_of(&vault::app_read(&app, &secret).await.unwrap());
    engine
        .rotate(&store, &secret)
        .await
        .expect("rotate with the shipped policy");
    let second = vault::api_key_of(&vault::app_read(&app, &secret).await.unwrap());
    assert_ne!(first, second);
    assert!(emulator::key_works(&emulator, &second).await);
    assert!(
        emulator::key_works(&emulator, &first).await,
        "the previous key must keep working after finish"
    );
    let prev = store
        .get_value(&secret, &VersionSelector::Stage(Stage::Previous))
        .await
        .unwrap();
    assert_eq!(
        KeyRecord::parse(&prev.value, &secret)
            .unwrap()
            .api_key
            .expose(),
        first
    );

    // The same policy does not reach other subtrees.
    let outside = format!("secret/{}", stores::fresh("outside"));
    let err = engine
        .init(&store, &outside, None)
        .await
        .expect_err("init outside secret/openrouter/ must be denied");
    assert!(err.to_string().contains("access denied"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_without_the_policy_is_denied_and_nothing_changes() {
    let (emulator, engine) = emulator::start_with_engine().await;
    let root = vault::root_store().await;
    let secret = format!("secret/openrouter/{}", stores::fresh("denied"));
    engine
        .init(&root, &secret, None)
        .await
        .expect("init as root");
    let app = vault::app_token(&secret).await;
    let before_app = vault::app_read(&app, &secret).await.unwrap();
    let before_desc = root.describe(&secret).await.unwrap();
    let before_keys = emulator::live_key_hashes(&emulator).await;
    let before_counters = emulator.control().counters().await.unwrap();

    // A token that can read the application's path (like the application) but lacks the rotator policy.
    let (m, p) = secret.split_once('/').unwrap();
    let name = stores::fresh("reader");
    vault::put_policy(
        &name,
        &format!("path \"{m}/data/{p}\" {{ capabilities = [\"read\"] }}\n"),
    )
    .await;
    let token = vault::token_with(&["default", &name]).await;
    let store = VaultStore::connect(VaultConfig::new(
        vault::addr(),
        VaultAuth::Token(SecretString::from(token)),
    ))
    .await
    .expect("token login");
    let err = engine
        .rotate(&store, &secret)
        .await
        .expect_err("rotation without the policy must fail");
    let text = err.to_string();
    assert!(
        text.contains("access denied") && text.contains("rotor-policy.hcl"),
        "{text}"
    );

    assert_eq!(
        vault::app_read(&app, &secret).await.unwrap(),
        before_app,
        "the application's value changed"
    );
    assert_eq!(
        root.describe(&secret).await.unwrap(),
        before_desc,
        "the stages changed"
    );
    assert_eq!(
        emulator::live_key_hashes(&emulator).await,
        before_keys,
        "keys changed at OpenRouter"
    );
    let after = emulator.control().counters().await.unwrap();
    for route in [
        "POST /api/v1/keys",
        "PATCH /api/v1/keys/{hash}",
        "DELETE /api/v1/keys/{hash}",
    ] {
        assert_eq!(
            after.get(route),
            before_counters.get(route),
            "{route} was called"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approle_tokens_are_renewed_or_replaced_before_they_expire() {
    // Shows "renewed the Vault token" / "logged in to Vault again" with --nocapture.
    let _ = tracing_subscriber::fmt()
        .with_env_filter("rotor_vault=debug")
        .with_test_writer()
        .try_init();
    let policy = shipped_policy_name().await;
    // TTL 2s, max TTL 4s: within 7s the store must renew and then log in again.
    let (mount, role_id, secret_id) = approle(&policy, "2s", "4s").await;
    let config = VaultConfig::new(
        vault::addr(),
        VaultAuth::AppRole {
            mount,
            role_id: Credential::Value(SecretString::from(role_id)),
            secret_id: Credential::Value(SecretString::from(secret_id)),
        },
    );
    let store = VaultStore::connect(config).await.unwrap();
    let root = vault::root_store().await;
    let secret = format!("secret/openrouter/{}", stores::fresh("renew"));
    root.create_secret(&secret, "v1", &SecretString::from(r#"{"api_key":"x"}"#))
        .await
        .unwrap();
    let started = Instant::now();
    let mut reads = 0;
    while started.elapsed() < Duration::from_secs(7) {
        let desc = store
            .describe(&secret)
            .await
            .unwrap_or_else(|e| panic!("after {:?}: {e}", started.elapsed()));
        assert_eq!(
            desc.with_stage(Stage::Current).map(|v| v.id.as_str()),
            Some("v1")
        );
        reads += 1;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(reads > 10);
}

// ----- Kubernetes auth -----

/// A throwaway self-signed CA (public certificate only; its key was discarded). OpenBao requires
/// one with `disable_local_ca_jwt`; the TokenReview endpoint here is plain HTTP, so it is unused.
const K8S_CA: &str = "-----BEGIN CERTIFICATE-----
MIIBjzCCATWgAwIBAgIUbf2/ifw5XkLRiRO0b+/sghJw9NkwCgYIKoZIzj0EAwIw
HDEaMBgGA1UEAwwRcm90b3ItdGVzdC1rOHMtY2EwIBcNMjYxMTI4MDcxMjUxWhgP
MjEyNjExMDQwNzEyNTFaMBwxGjAYBgNVBAMMEXJvdG9yLXRlc3QtazhzLWNhMFkw
EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEPMfIElxsMchjldEmOnXSHann3kjfi1hy
SRKXACWfOj0EDoTw4mwbF+h5KJ43DmjTYbdda+cMM4KcQpp5shrZ1KNTMFEwHQYD
VR0OBBYEFKHXACo//Q2pcbIgxwS6cTHfozu9MB8GA1UdIwQYMBaAFKHXACo//Q2p
cbIgxwS6cTHfozu9MA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIg
ddA9Gyl4Gz9Uu/9rDR7o3mq49X2V4j4WZWfiraB918UCIQD1FKY1U67b3d5dNtF+
zHyNDKunf2jnBI5NIfmlmphpDA==
-----END CERTIFICATE-----
";

#[derive(Clone, Default)]
struct Reviews(Arc<Mutex<Vec<Review>>>);

/// One TokenReview request as received: its Authorization header and its body.
type Review = (Option<String>, Value);

async fn token_review(
    State(seen): State<Reviews>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Json<Value> {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    seen.0.lock().unwrap().push((auth, body.clone()));
    let authenticated = body["spec"]["token"]
        .as_str()
        .is_some_and(|t| t.ends_with(".c2lnbmF0dXJl"));
    Json(json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenReview",
        "status": {
            "authenticated": authenticated,
            "user": {
                "username": "system:serviceaccount:rotor-ns:rotor",
                "uid": "3b5f0d2a-0000-4000-8000-000000000001",
                "groups": ["system:serviceaccounts", "system:serviceaccounts:rotor-ns"]
            }
        }
    }))
}

fn service_account_jwt() -> String {
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let header = json!({ "alg": "RS256", "kid": "test" });
    let claims = json!({
        "iss": "kubernetes/serviceaccount",
        "sub": "system:serviceaccount:rotor-ns:rotor",
        "kubernetes.io/serviceaccount/namespace": "rotor-ns",
        "kubernetes.io/serviceaccount/secret.name": "rotor-token",
        "kubernetes.io/serviceaccount/service-account.name": "rotor",
        "kubernetes.io/serviceaccount/service-account.uid": "3b5f0d2a-0000-4000-8000-000000000001"
    });
    // The signature is not checked by OpenBao (no pem_keys configured): the TokenReview decides.
    format!("{}.{}.c2lnbmF0dXJl", b64(&header), b64(&claims))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_auth_logs_in_with_the_service_account_token_and_can_rotate() {
    let reviews = Reviews::default();
    let app = Router::new()
        .route(
            "/apis/authentication.k8s.io/v1/tokenreviews",
            post(token_review),
        )
        .with_state(reviews.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let k8s = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let policy = shipped_policy_name().await;
    let mount = stores::fresh("kubernetes");
    vault::sys(
        Method::POST,
        &format!("sys/auth/{mount}"),
        Some(json!({ "type": "kubernetes" })),
    )
    .await;
    vault::sys(
        Method::POST,
        &format!("auth/{mount}/config"),
        Some(
            json!({ "kubernetes_host": k8s, "token_reviewer_jwt": "reviewer-token",
                       "disable_local_ca_jwt": true, "kubernetes_ca_cert": K8S_CA }),
        ),
    )
    .await;
    vault::sys(
        Method::POST,
        &format!("auth/{mount}/role/rotor"),
        Some(json!({
            "bound_service_account_names": ["rotor"],
            "bound_service_account_namespaces": ["rotor-ns"],
            "token_policies": [policy],
            "token_ttl": "1h"
        })),
    )
    .await;

    let dir = tempfile::tempdir().unwrap();
    let jwt_file = dir.path().join("token");
    std::fs::write(&jwt_file, service_account_jwt()).unwrap();
    let vars = [
        ("VAULT_ADDR", vault::addr()),
        ("ROTOR_VAULT_AUTH", "kubernetes".to_owned()),
        ("ROTOR_VAULT_K8S_ROLE", "rotor".to_owned()),
        ("ROTOR_VAULT_K8S_MOUNT", mount.clone()),
        ("ROTOR_VAULT_K8S_TOKEN_FILE", jwt_file.display().to_string()),
    ];
    let config =
        VaultConfig::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()))
            .unwrap();
    let store = VaultStore::connect(config).await.expect("Kubernetes login");

    {
        let seen = reviews.0.lock().unwrap();
        assert_eq!(
            seen.len(),
            1,
            "OpenBao should have asked the TokenReview API exactly once"
        );
        let (auth, body) = &seen[0];
        assert_eq!(
            auth.as_deref(),
            Some("Bearer reviewer-token"),
            "the reviewer JWT was not used"
        );
        assert_eq!(
            body["spec"]["token"].as_str(),
            Some(service_account_jwt().as_str()),
            "the pod's token was not reviewed"
        );
    }

    let (emulator, engine) = emulator::start_with_engine().await;
    let secret = format!("secret/openrouter/{}", stores::fresh("k8s"));
    engine
        .init(&store, &secret, None)
        .await
        .expect("init via Kubernetes auth");
    engine
        .rotate(&store, &secret)
        .await
        .expect("rotate via Kubernetes auth");
    let current = store
        .get_value(&secret, &VersionSelector::Stage(Stage::Current))
        .await
        .unwrap();
    let record = KeyRecord::parse(&current.value, &secret).unwrap();
    let live: BTreeSet<String> = emulator::live_key_hashes(&emulator).await;
    assert!(live.contains(&record.key_hash));

    // A token the reviewer rejects cannot log in.
    std::fs::write(&jwt_file, "eyJhbGciOiJSUzI1NiJ9.e30.bm9wZQ").unwrap();
    let config =
        VaultConfig::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()))
            .unwrap();
    let err = VaultStore::connect(config)
        .await
        .expect_err("a rejected service-account token must not log in");
    assert!(err.to_string().contains("Kubernetes login"), "{err}");
}
