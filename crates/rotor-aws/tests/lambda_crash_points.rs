//! Black-box crash enumeration of the rotation Lambda: the real `bootstrap`, driven through the
//! Lambda Runtime API the way Secrets Manager drives it (`RotateSecret`, then createSecret,
//! setSecret, testSecret, finishSecret with the rotation's token), is killed with SIGKILL right
//! before and right after each of its external calls (Secrets Manager on LocalStack, OpenRouter on
//! the emulator), through counting proxies. Then a new container retries the rotation with the
//! same token, as Secrets Manager does, waiting out the dead container's lease. At every point: no
//! live key is unrecorded, and the key applications read works.
//!
//! `cargo test -p rotor-aws --test lambda_crash_points -- --nocapture` prints the calls of one
//! rotation.

mod common;

use rotor_testkit::stores::aws;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_secretsmanager::{Client as SmClient, types::RotationRulesType};
use common::runtime_api::Bootstrap;
use rotor_aws::SecretsManagerStore;
use rotor_core::{engine::Engine, policy::Policy};
use rotor_emulator::RunningEmulator;
use rotor_emulator::crash_proxy::{self, KillPlan, When};
use rotor_openrouter::{ApiKey, Client, ClientConfig};
use serde_json::{Value, json};

const STEPS: [&str; 4] = ["createSecret", "setSecret", "testSecret", "finishSecret"];

struct World {
    emulator: RunningEmulator,
    sm: SmClient,
    store: SecretsManagerStore,
    engine: Engine,
    mgmt_secret: String,
    function_arn: String,
    plan: Arc<KillPlan>,
    or_proxy: String,
    aws_proxy: String,
}

impl World {
    async fn new() -> World {
        let emulator = rotor_testkit::emulator::start().await;
        let config = aws::sdk_config().await;
        let sm = SmClient::new(&config);
        let store = SecretsManagerStore::new(&config);
        let prefix = aws::fresh_prefix("lcrash");
        let mgmt_secret = format!("{prefix}-mgmt");
        sm.create_secret()
            .name(&mgmt_secret)
            .secret_string(json!({ "management_key": emulator.management_key() }).to_string())
            .send()
            .await
            .expect("create the management-key secret");
        let engine = Engine::new(
            Client::new(ClientConfig::new(
                emulator.base_url(),
                ApiKey::new(emulator.management_key()),
            ))
            .expect("client"),
            Policy::from_vars(|_| None).expect("default policy"),
        );
        let function_arn = aws::rotation_function(&config, &format!("{prefix}-fn")).await;
        let plan = Arc::new(KillPlan::default());
        let origin = emulator
            .base_url()
            .trim_end_matches('/')
            .trim_end_matches("/api/v1")
            .to_owned();
        let or_proxy = crash_proxy::start("openrouter", &origin, plan.clone()).await;
        let aws_proxy = crash_proxy::start("aws", &aws::endpoint(), plan.clone()).await;
        World {
            emulator,
            sm,
            store,
            engine,
            mgmt_secret,
            function_arn,
            plan,
            or_proxy,
            aws_proxy,
        }
    }

    /// A new application secret with its first key (what `rotor init aws://…` does).
    async fn secret(&self, name: &str) -> String {
        let secret = format!("{}-{name}", self.mgmt_secret.trim_end_matches("-mgmt"));
        self.engine
            .init(&self.store, &secret, None)
            .await
            .expect("init the application secret");
        secret
    }

    async fn container(&self, proxied: bool) -> Bootstrap {
        self.container_with(proxied, "1s").await
    }

    /// A container whose lease lasts `lease_ttl` (the clean run counts calls: a lease long
    /// enough never to be renewed, which under load would add a ledger write).
    async fn container_with(&self, proxied: bool, lease_ttl: &str) -> Bootstrap {
        let (aws, or) = if proxied {
            (self.aws_proxy.clone(), format!("{}/api/v1", self.or_proxy))
        } else {
            (aws::endpoint(), self.emulator.base_url())
        };
        Bootstrap::spawn(
            env!("CARGO_BIN_EXE_bootstrap"),
            &[
                ("AWS_ENDPOINT_URL", aws),
                ("AWS_MAX_ATTEMPTS", "1".to_owned()),
                ("OPENROUTER_BASE_URL", or),
                (
                    "OPENROUTER_MANAGEMENT_KEY_SECRET_ID",
                    self.mgmt_secret.clone(),
                ),
                ("ROTOR_GRACE_PERIOD", "0s".to_owned()),
                ("ROTOR_LEASE_TTL", lease_ttl.to_owned()),
                ("RUST_LOG", "warn".to_owned()),
            ],
        )
        .await
    }

    async fn rotate_secret(&self, secret: &str) -> String {
        let token = uuid::Uuid::new_v4().to_string();
        self.sm
            .rotate_secret()
            .secret_id(secret)
            .client_request_token(&token)
            .rotation_lambda_arn(&self.function_arn)
            .rotation_rules(
                RotationRulesType::builder()
                    .automatically_after_days(30)
                    .build(),
            )
            .rotate_immediately(true)
            .send()
            .await
            .expect("RotateSecret");
        token
    }

    /// Runs the four steps in the (proxied) container until one fails or it is killed. Returns
    /// whether it was killed.
    async fn run_until_killed(&self, f: &Bootstrap, secret: &str, token: &str) -> bool {
        for step in STEPS {
            let event = json!({ "Step": step, "SecretId": secret, "ClientRequestToken": token });
            let outcome = tokio::select! {
                o = f.api.invoke(&event, Duration::from_secs(60)) => Some(o),
                _ = async {
                    while !self.plan.killed() {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                } => None,
            };
            match outcome {
                None => return true,
                Some(Err(_)) => return self.plan.killed(),
                Some(Ok(_)) => {}
            }
        }
        self.plan.killed()
    }

    /// What Secrets Manager does after a failed attempt: the rotation again with the same token,
    /// in a new container, retried until it goes through (a dead container's lease ends first).
    async fn retry_rotation(&self, f: &Bootstrap, secret: &str, token: &str, what: &str) {
        'attempt: for _ in 0..15 {
            for step in STEPS {
                let event =
                    json!({ "Step": step, "SecretId": secret, "ClientRequestToken": token });
                match f.invoke(&event).await {
                    Ok(_) => {}
                    Err((t, m)) => {
                        if m.contains("holds this secret's lease") {
                            tokio::time::sleep(Duration::from_millis(1100)).await;
                            continue 'attempt;
                        }
                        panic!("{what}: retry failed at {step}: {t}: {m}");
                    }
                }
            }
            return;
        }
        panic!("{what}: the retried rotation never went through");
    }

    async fn doc(&self, secret: &str, stage: &str) -> Option<Value> {
        let out = self
            .sm
            .get_secret_value()
            .secret_id(secret)
            .version_stage(stage)
            .send()
            .await
            .ok()?;
        serde_json::from_str(out.secret_string()?).ok()
    }

    async fn check(&self, secret: &str, keys_before: &BTreeSet<String>, what: &str) {
        let mut recorded = BTreeSet::new();
        for stage in ["AWSCURRENT", "AWSPREVIOUS", "AWSPENDING"] {
            if let Some(doc) = self.doc(secret, stage).await {
                if let Some(h) = doc["key_hash"].as_str() {
                    recorded.insert(h.to_owned());
                }
                for k in doc["older_keys"].as_array().into_iter().flatten() {
                    if let Some(h) = k["key_hash"].as_str() {
                        recorded.insert(h.to_owned());
                    }
                }
            }
        }
        let live: BTreeSet<String> = self
            .emulator
            .control()
            .keys()
            .await
            .expect("keys")
            .into_iter()
            .filter(|k| !k.deleted && k.name.contains(secret))
            .map(|k| k.hash)
            .filter(|h| !keys_before.contains(h))
            .collect();
        let orphans: Vec<_> = live.difference(&recorded).collect();
        assert!(orphans.is_empty(), "{what}: orphaned keys {orphans:?}");
        let current = self.doc(secret, "AWSCURRENT").await.expect("AWSCURRENT");
        let key = current["api_key"].as_str().expect("api_key");
        let works = Client::new(ClientConfig::new(
            self.emulator.base_url(),
            ApiKey::new("sk-or-v1-unused"),
        ))
        .expect("client")
        .chat_completion(&ApiKey::new(key), "openai/gpt-4o-mini")
        .await
        .is_ok();
        assert!(works, "{what}: the key applications read does not work");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lambda_killed_at_every_external_call_is_recovered_by_the_retry() {
    let w = World::new().await;
    // The clean run: the calls of one rotation, in a warm container (the management key is
    // fetched on the first invocation, so a fresh container per run counts it too).
    let secret = w.secret("clean").await;
    let token = w.rotate_secret(&secret).await;
    let f = w.container_with(true, "2m").await;
    w.plan.reset(None, f.child.id());
    assert!(!w.run_until_killed(&f, &secret, &token).await);
    let calls = w.plan.calls();
    let total = calls.len();
    let openrouter = calls.iter().filter(|c| c.starts_with("openrouter")).count();
    eprintln!(
        "Lambda: one rotation (4 invocations, cold container) makes {total} external calls ({openrouter} OpenRouter, {} Secrets Manager): {calls:#?}",
        total - openrouter
    );
    w.check(&secret, &BTreeSet::new(), "clean run").await;
    drop(f);
    // The cost of a rotation (BENCHMARKS.md). OpenRouter: createSecret looks the current key
    // up and creates the new one (2), setSecret reads both keys and the guardrail assignments
    // (3), testSecret reads the new key and calls GET /key with it (2), finishSecret tests it
    // again (2: each invocation is its own run, and no key is promoted untested). Secrets
    // Manager, in a cold container on a secret's first rotation: the management key, AWS's
    // template checks and values per step, and the ledger: createSecret takes the lease with the
    // intent and hands it to finishSecret, which takes it over and releases it (three writes);
    // promote starts from finishSecret's own describe, and each version's value is read once
    // per container (versions never change once written).
    assert!(
        openrouter <= 9 && total - openrouter <= 20,
        "one Lambda rotation made {openrouter} OpenRouter calls (at most 9) and {} Secrets Manager calls (at most 20)",
        total - openrouter
    );
    if std::env::var("ROTOR_CRASH_CLEAN_ONLY").is_ok() {
        // Only the call count of one rotation; no enumeration.
        return;
    }

    let mut points = 0;
    for n in 1..=total {
        for when in [When::Before, When::After] {
            let secret = w.secret(&format!("{n}-{when:?}").to_lowercase()).await;
            let what = format!(
                "Lambda killed {when:?} call {n} ({})",
                calls.get(n - 1).map(String::as_str).unwrap_or("?")
            );
            let token = w.rotate_secret(&secret).await;
            let f = w.container(true).await;
            w.plan.reset(Some((n, when)), f.child.id());
            let killed = w.run_until_killed(&f, &secret, &token).await;
            assert!(killed, "{what}: the kill did not land");
            drop(f);
            w.plan.reset(None, None);
            let retry = w.container(false).await;
            w.retry_rotation(&retry, &secret, &token, &what).await;
            w.check(&secret, &BTreeSet::new(), &what).await;
            points += 1;
        }
    }
    eprintln!(
        "Lambda: {points} crash points, every one killed the container; the retry left 0 orphans and a working current key"
    );
}
