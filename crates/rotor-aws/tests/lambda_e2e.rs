//! End to end: the real `bootstrap` binary driven through the Lambda Runtime API, against
//! LocalStack (Secrets Manager) and the OpenRouter emulator, playing Secrets Manager's part:
//! `RotateSecret` creates the empty AWSPENDING version, then the test invokes the four steps with
//! that token and reads the secret with the AWS SDK the way an application does.
//!
//! The binary is this build's `bootstrap`, or the one `ROTOR_TEST_BOOTSTRAP` names (e.g. the one
//! from the Lambda zip, built with `cargo lambda build --profile lambda`).

mod common;

use rotor_testkit::stores::aws;

use std::collections::BTreeSet;

use aws_sdk_secretsmanager::{Client as SmClient, types::RotationRulesType};
use common::runtime_api::{Bootstrap, Outcome};
use rotor_aws::SecretsManagerStore;
use rotor_core::{engine::Engine, policy::Policy};
use rotor_emulator::{RunningEmulator, control::FaultKind};
use rotor_openrouter::{ApiKey, Client, ClientConfig};
use serde_json::{Value, json};

const STEPS: [&str; 4] = ["createSecret", "setSecret", "testSecret", "finishSecret"];

struct World {
    emulator: RunningEmulator,
    sm: SmClient,
    secret: String,
    mgmt_secret: String,
    function_arn: String,
}

impl World {
    /// Emulator, a management-key secret holding `mgmt_value` (the emulator's key by default), a
    /// (never-executing) Lambda function for RotateSecret, and an application secret made by
    /// the engine's `init` (what `rotor init aws://…` calls).
    async fn new(what: &str, mgmt_value: Option<String>) -> World {
        let emulator = rotor_testkit::emulator::start().await;
        let config = aws::sdk_config().await;
        let sm = SmClient::new(&config);
        let store = SecretsManagerStore::new(&config);
        let prefix = aws::fresh_prefix(what);
        let mgmt_secret = format!("{prefix}-mgmt");
        let mk = emulator.management_key().to_owned();
        sm.create_secret()
            .name(&mgmt_secret)
            .secret_string(
                json!({ "management_key": mgmt_value.unwrap_or(mk.clone()) }).to_string(),
            )
            .send()
            .await
            .expect("create the management-key secret");
        let secret = format!("{prefix}-app");
        let engine = Engine::new(
            Client::new(ClientConfig::new(emulator.base_url(), ApiKey::new(mk))).expect("client"),
            Policy::from_vars(|_| None).expect("default policy"),
        );
        engine
            .init(&store, &secret, None)
            .await
            .expect("init the application secret");
        let function_arn = aws::rotation_function(&config, &format!("{prefix}-fn")).await;
        World {
            emulator,
            sm,
            secret,
            mgmt_secret,
            function_arn,
        }
    }

    async fn bootstrap(&self) -> Bootstrap {
        let binary = std::env::var("ROTOR_TEST_BOOTSTRAP")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_bootstrap").to_owned());
        Bootstrap::spawn(
            &binary,
            &[
                ("AWS_ENDPOINT_URL", aws::endpoint()),
                ("OPENROUTER_BASE_URL", self.emulator.base_url()),
                (
                    "OPENROUTER_MANAGEMENT_KEY_SECRET_ID",
                    self.mgmt_secret.clone(),
                ),
                ("ROTOR_GRACE_PERIOD", "0s".to_owned()),
                ("ROTOR_OBSERVATION_WINDOW", "0s".to_owned()),
                ("RUST_LOG", "info".to_owned()),
            ],
        )
        .await
    }

    /// What Secrets Manager does when a rotation starts: RotateSecret with a token creates the
    /// empty AWSPENDING version (LocalStack's own attempt to run the function fails quietly).
    async fn rotate_secret(&self, immediately: bool) -> String {
        let token = uuid::Uuid::new_v4().to_string();
        self.sm
            .rotate_secret()
            .secret_id(&self.secret)
            .client_request_token(&token)
            .rotation_lambda_arn(&self.function_arn)
            .rotation_rules(
                RotationRulesType::builder()
                    .automatically_after_days(30)
                    .build(),
            )
            .rotate_immediately(immediately)
            .send()
            .await
            .expect("RotateSecret");
        token
    }

    fn event(&self, step: &str, token: &str) -> Value {
        json!({ "Step": step, "SecretId": self.secret, "ClientRequestToken": token })
    }

    /// The document in `stage`, read as an application would (GetSecretValue with VersionStage).
    async fn read(&self, stage: &str) -> (String, Value) {
        let out = self
            .sm
            .get_secret_value()
            .secret_id(&self.secret)
            .version_stage(stage)
            .send()
            .await
            .unwrap_or_else(|e| panic!("read {stage}: {e}"));
        let doc: Value =
            serde_json::from_str(out.secret_string().expect("string")).expect("JSON document");
        (out.version_id().expect("version").to_owned(), doc)
    }

    /// The secret's versions and their stages as applications see them: without rotor's ledger
    /// (a version labelled ROTORLEDGER that records the lease each step takes and releases).
    async fn stages(&self) -> Vec<(String, Vec<String>)> {
        let d = self
            .sm
            .describe_secret()
            .secret_id(&self.secret)
            .send()
            .await
            .expect("describe");
        let mut v: Vec<(String, Vec<String>)> = d
            .version_ids_to_stages()
            .map(|m| {
                m.iter()
                    .filter(|(_, l)| !l.iter().any(|l| l.starts_with("ROTORLEDGER")))
                    .map(|(k, l)| {
                        let mut l = l.clone();
                        l.sort();
                        (k.clone(), l)
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Whether `key` works at the emulator's completions endpoint.
    async fn works(&self, key: &str) -> bool {
        let client = Client::new(ClientConfig::new(
            self.emulator.base_url(),
            ApiKey::new("sk-or-v1-unused"),
        ))
        .expect("client");
        client
            .chat_completion(&ApiKey::new(key), "openai/gpt-4o-mini")
            .await
            .is_ok()
    }

    /// Hashes of the keys alive (not deleted) at the emulator, besides the management key.
    async fn alive(&self) -> BTreeSet<String> {
        self.emulator
            .control()
            .keys()
            .await
            .expect("emulator keys")
            .into_iter()
            .filter(|k| !k.deleted && k.name.contains("[rotor:"))
            .map(|k| k.hash)
            .collect()
    }

    async fn creates(&self) -> u64 {
        self.emulator
            .control()
            .counters()
            .await
            .expect("counters")
            .get("POST /api/v1/keys")
            .copied()
            .unwrap_or(0)
    }

    /// Runs a whole rotation through the function, asserting every step succeeds.
    async fn full_rotation(&self, f: &Bootstrap) -> String {
        let token = self.rotate_secret(true).await;
        for step in STEPS {
            ok(f.invoke(&self.event(step, &token)).await, step);
        }
        token
    }
}

fn ok(outcome: Outcome, what: &str) -> Value {
    outcome.unwrap_or_else(|(t, m)| panic!("{what}: the function failed with {t}: {m}"))
}

fn err(outcome: Outcome, what: &str) -> (String, String) {
    match outcome {
        Ok(v) => panic!("{what}: expected an error, the function answered {v}"),
        Err(e) => e,
    }
}

fn key_of(doc: &Value) -> String {
    doc["api_key"].as_str().expect("api_key").to_owned()
}

fn hash_of(doc: &Value) -> String {
    doc["key_hash"].as_str().expect("key_hash").to_owned()
}

fn assert_no_key_in_logs(f: &Bootstrap, keys: &[String]) {
    let logs = f.logs();
    for k in keys {
        assert!(
            !logs.contains(k.as_str()),
            "the function logged a key (hash-free check on its output)"
        );
    }
    for line in logs.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            serde_json::from_str::<Value>(line).is_ok(),
            "every log line is JSON for CloudWatch; got: {line}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_rotations_through_the_real_bootstrap_binary() {
    let w = World::new("e2e", None).await;
    let f = w.bootstrap().await;
    let (v0, doc0) = w.read("AWSCURRENT").await;
    let mut all_keys = vec![key_of(&doc0), w.emulator.management_key().to_owned()];
    assert!(w.works(&key_of(&doc0)).await, "the initial key works");

    // First rotation.
    let t1 = w.full_rotation(&f).await;
    let (cur, doc1) = w.read("AWSCURRENT").await;
    let (prev, prev_doc) = w.read("AWSPREVIOUS").await;
    assert_eq!(cur, t1, "AWSCURRENT is the rotation's version");
    assert_eq!(prev, v0, "AWSPREVIOUS is the initial version");
    assert_ne!(key_of(&doc1), key_of(&doc0), "a new key");
    assert_eq!(key_of(&prev_doc), key_of(&doc0));
    assert!(
        w.works(&key_of(&doc1)).await,
        "the new key works at the emulator"
    );
    assert!(
        w.works(&key_of(&doc0)).await,
        "the old key still works after finish"
    );
    all_keys.push(key_of(&doc1));
    assert_eq!(
        w.alive().await,
        BTreeSet::from([hash_of(&doc0), hash_of(&doc1)])
    );

    // Re-invoking every step of the finished rotation is a no-op.
    let (stages, creates) = (w.stages().await, w.creates().await);
    for step in STEPS {
        let report = ok(f.invoke(&w.event(step, &t1)).await, step);
        assert_eq!(
            report["outcome"], "already_current",
            "{step} re-run: {report}"
        );
    }
    assert_eq!(w.creates().await, creates, "re-runs created no key");
    assert_eq!(w.stages().await, stages, "re-runs changed no stage");

    // Second and third rotations retire the oldest key (grace period 0s).
    let t2 = w.full_rotation(&f).await;
    let (_, doc2) = w.read("AWSCURRENT").await;
    all_keys.push(key_of(&doc2));
    assert_eq!(w.read("AWSCURRENT").await.0, t2);
    assert_eq!(w.read("AWSPREVIOUS").await.0, t1);
    assert!(w.works(&key_of(&doc2)).await && w.works(&key_of(&doc1)).await);
    assert!(
        !w.works(&key_of(&doc0)).await,
        "the first key was retired by the second rotation"
    );
    assert_eq!(
        w.alive().await,
        BTreeSet::from([hash_of(&doc1), hash_of(&doc2)])
    );

    let t3 = w.full_rotation(&f).await;
    let (_, doc3) = w.read("AWSCURRENT").await;
    all_keys.push(key_of(&doc3));
    assert_eq!(w.read("AWSCURRENT").await.0, t3);
    assert_eq!(w.read("AWSPREVIOUS").await.0, t2);
    assert!(w.works(&key_of(&doc3)).await && w.works(&key_of(&doc2)).await);
    assert!(
        !w.works(&key_of(&doc1)).await,
        "the second key was retired by the third rotation"
    );
    assert_eq!(
        w.alive().await,
        BTreeSet::from([hash_of(&doc2), hash_of(&doc3)]),
        "at most two keys alive"
    );

    assert_no_key_in_logs(&f, &all_keys);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_error_cases_behave_like_aws_templates() {
    let w = World::new("errors", None).await;
    let f = w.bootstrap().await;
    let (v0, _) = w.read("AWSCURRENT").await;
    let stages = w.stages().await;
    let creates = w.creates().await;

    // Unknown step.
    let (t, m) = err(
        f.invoke(&w.event("create_secret", &v0)).await,
        "unknown step",
    );
    assert_eq!(t, "Rotor.InvalidEvent", "{m}");
    assert!(m.contains("createSecret"), "names the valid steps: {m}");
    // Malformed event.
    let (t, _) = err(
        f.invoke(&json!({"Step": "createSecret"})).await,
        "no SecretId",
    );
    assert_eq!(t, "Rotor.InvalidEvent");
    // Unknown token.
    let unknown = uuid::Uuid::new_v4().to_string();
    let (t, m) = err(
        f.invoke(&w.event("createSecret", &unknown)).await,
        "unknown token",
    );
    assert_eq!(t, "Rotor.UnknownToken", "{m}");
    assert!(
        m.contains(&w.secret) && m.contains(&unknown),
        "names secret and token: {m}"
    );
    // Already current: every step is a no-op.
    for step in STEPS {
        let r = ok(f.invoke(&w.event(step, &v0)).await, step);
        assert_eq!(r["outcome"], "already_current", "{step}: {r}");
    }
    assert_eq!(w.stages().await, stages);

    // Token not pending: the previous version after a rotation.
    w.full_rotation(&f).await;
    let (t, m) = err(
        f.invoke(&w.event("createSecret", &v0)).await,
        "token not pending",
    );
    assert_eq!(t, "Rotor.NotPending", "{m}");
    assert!(m.contains("AWSPENDING"), "{m}");

    assert!(w.creates().await > creates);
}

/// Rotation disabled (`CancelRotateSecret`): AWS then reports `RotationEnabled: false` and every
/// step refuses, changing nothing. Emulator gap: LocalStack omits `RotationEnabled` after
/// `CancelRotateSecret` (and moto reports it only for AutomaticallyAfterDays), so there the
/// secret looks "not said" and rotation proceeds as AWS's templates would for a missing field;
/// this test asserts that gap so it is noticed when the emulator is fixed. The refusal itself is
/// covered on stores that report `false` by the engine's tests (memory/file).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_disabled_refuses_every_step() {
    let w = World::new("disabled", None).await;
    let f = w.bootstrap().await;
    let token = w.rotate_secret(true).await;
    w.sm.cancel_rotate_secret()
        .secret_id(&w.secret)
        .send()
        .await
        .expect("CancelRotateSecret");
    let d =
        w.sm.describe_secret()
            .secret_id(&w.secret)
            .send()
            .await
            .expect("describe");
    match d.rotation_enabled() {
        Some(false) => {
            let before = (w.stages().await, w.creates().await);
            let (t, m) = err(
                f.invoke(&w.event("createSecret", &token)).await,
                "rotation disabled",
            );
            assert_eq!(t, "Rotor.RotationDisabled", "{m}");
            assert_eq!(
                (w.stages().await, w.creates().await),
                before,
                "nothing changed"
            );
        }
        other => assert_eq!(
            other, None,
            "emulator gap: RotationEnabled omitted after CancelRotateSecret"
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_immediately_false_runs_only_test_secret() {
    let w = World::new("rif", None).await;
    let f = w.bootstrap().await;
    let (v0, doc0) = w.read("AWSCURRENT").await;
    // With RotateImmediately=false Secrets Manager stores a pending version equal to the current
    // value and invokes only testSecret. LocalStack's RotateSecret fails on that flag (an internal
    // error, see docs/aws.md), so the test stores that pending version itself.
    let token = uuid::Uuid::new_v4().to_string();
    w.sm.put_secret_value()
        .secret_id(&w.secret)
        .client_request_token(&token)
        .secret_string(doc0.to_string())
        .version_stages("AWSPENDING")
        .send()
        .await
        .expect("PutSecretValue AWSPENDING");
    let creates = w.creates().await;
    let r = ok(f.invoke(&w.event("testSecret", &token)).await, "testSecret");
    assert_eq!(r["outcome"], "passed", "{r}");
    assert_eq!(w.creates().await, creates, "no key created");
    assert_eq!(
        w.read("AWSCURRENT").await.0,
        v0,
        "the current version is unchanged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_between_key_creation_and_put_secret_value_leaves_no_orphan() {
    let w = World::new("crash", None).await;
    let f = w.bootstrap().await;
    let (_, doc0) = w.read("AWSCURRENT").await;
    let token = w.rotate_secret(true).await;
    // The key is created at OpenRouter, then the connection drops before the answer.
    w.emulator
        .control()
        .fail_next("POST", "/api/v1/keys", FaultKind::CommitThenDrop)
        .await
        .expect("inject fault");
    let (t, m) = err(
        f.invoke(&w.event("createSecret", &token)).await,
        "createSecret with a lost answer",
    );
    assert!(t == "Rotor.Transient" || t == "Rotor.Upstream", "{t}: {m}");
    // Secrets Manager retries the rotation with the same token.
    for step in STEPS {
        ok(f.invoke(&w.event(step, &token)).await, step);
    }
    let (cur, doc1) = w.read("AWSCURRENT").await;
    assert_eq!(cur, token);
    assert!(w.works(&key_of(&doc1)).await);
    assert_eq!(
        w.alive().await,
        BTreeSet::from([hash_of(&doc0), hash_of(&doc1)]),
        "the key of the failed attempt was deleted: only current and previous are alive"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_management_key_fails_clearly_and_changes_nothing() {
    let wrong = format!("sk-or-v1-{}", "ab".repeat(32));
    let w = World::new("badkey", Some(wrong.clone())).await;
    let f = w.bootstrap().await;
    let token = w.rotate_secret(true).await;
    let before = (w.stages().await, w.alive().await, w.creates().await);
    let (t, m) = err(
        f.invoke(&w.event("createSecret", &token)).await,
        "createSecret with a wrong management key",
    );
    assert_eq!(t, "Rotor.ManagementKeyRejected", "{m}");
    assert!(m.contains("401") && m.contains(&w.secret), "{m}");
    assert!(!m.contains(&wrong), "the message never contains the key");
    assert_eq!(
        (w.stages().await, w.alive().await, w.creates().await),
        before,
        "nothing changed"
    );
    assert_no_key_in_logs(&f, &[wrong]);

    // Fixing the management-key secret is picked up without a new container (re-read after 401).
    w.sm.put_secret_value()
        .secret_id(&w.mgmt_secret)
        .secret_string(w.emulator.management_key())
        .send()
        .await
        .expect("fix the management key");
    for step in STEPS {
        ok(f.invoke(&w.event(step, &token)).await, step);
    }
    assert_eq!(w.read("AWSCURRENT").await.0, token);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_retire_command_retires_drained_keys() {
    let w = World::new("retire", None).await;
    let f = w.bootstrap().await;
    let (_, doc0) = w.read("AWSCURRENT").await;
    w.full_rotation(&f).await;
    let (_, doc1) = w.read("AWSCURRENT").await;
    assert_eq!(
        w.alive().await,
        BTreeSet::from([hash_of(&doc0), hash_of(&doc1)])
    );
    // What the EventBridge schedule sends. Grace and observation window 0s, no traffic on the old
    // key: it is retired (re-invoking is what the schedule does if a first sample is needed).
    let mut report = Value::Null;
    for _ in 0..3 {
        report = ok(
            f.invoke(&json!({"rotor": "retire", "SecretId": w.secret}))
                .await,
            "retire",
        );
        if !w.alive().await.contains(&hash_of(&doc0)) {
            break;
        }
    }
    assert_eq!(report["secret_id"], w.secret.as_str(), "{report}");
    assert_eq!(
        w.alive().await,
        BTreeSet::from([hash_of(&doc1)]),
        "the drained old key was retired: {report}"
    );
    assert!(
        !w.works(&key_of(&doc0)).await,
        "the retired key no longer works"
    );
    assert!(w.works(&key_of(&doc1)).await, "the current key still works");
    let (t, m) = err(
        f.invoke(&json!({"rotor": "explode", "SecretId": w.secret}))
            .await,
        "unknown command",
    );
    assert_eq!(t, "Rotor.UnsupportedCommand", "{m}");
}
