//! Benchmark (ignored; run `benches/lambda-vs-python`): rotor's `bootstrap` and a Python rotation
//! Lambda in AWS's template style (`benches/python-template-lambda/`, boto3 + requests) side by
//! side, on the same LocalStack and OpenRouter emulator, each driven through its own local Lambda
//! Runtime API. Rotations alternate (rotor, Python, rotor, Python…), so both sides see the same
//! machine load; one rotation = the four steps, warm (the first rotation of each container is not
//! timed). Then one more rotation of each runs through counting proxies (`crash_proxy`, no kill)
//! in front of Secrets Manager and OpenRouter to count the calls.
//!
//! Environment: `ROTOR_BENCH_BOOTSTRAP` (the release binary), `ROTOR_BENCH_PYTHON_LAMBDA` (the
//! Python Lambda's `bootstrap` script), `ROTOR_BENCH_PYTHON` (a Python with boto3 and requests),
//! `ROTOR_BENCH_ROTATIONS` (per side, default 10), `ROTOR_BENCH_OPENROUTER_URL` +
//! `OPENROUTER_MANAGEMENT_KEY` (an emulator in its own process; in-process when unset), and
//! `ROTOR_TEST_AWS_ENDPOINT` (LocalStack).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::{Client as SmClient, types::RotationRulesType};
use common::runtime_api::Bootstrap;
use rotor_aws::SecretsManagerStore;
use rotor_core::{engine::Engine, policy::Policy};
use rotor_emulator::crash_proxy::{self, KillPlan};
use rotor_openrouter::{ApiKey, Client, ClientConfig};
use serde_json::json;

const STEPS: [&str; 4] = ["createSecret", "setSecret", "testSecret", "finishSecret"];

struct World {
    sm: SmClient,
    function_arn: String,
    mgmt_secret: String,
    openrouter_url: String,
}

#[derive(Clone, Copy, PartialEq)]
enum Side {
    Rotor,
    Python,
}

impl World {
    async fn spawn(&self, side: Side, aws: &str, openrouter: &str) -> Bootstrap {
        let mut env = vec![
            ("AWS_ENDPOINT_URL", aws.to_owned()),
            ("OPENROUTER_BASE_URL", openrouter.to_owned()),
            (
                "OPENROUTER_MANAGEMENT_KEY_SECRET_ID",
                self.mgmt_secret.clone(),
            ),
            ("ROTOR_GRACE_PERIOD", "0s".to_owned()),
            ("RUST_LOG", "warn".to_owned()),
            // Lambda sets both; boto3 reads this one.
            ("AWS_DEFAULT_REGION", "us-east-1".to_owned()),
        ];
        let binary = match side {
            Side::Rotor => std::env::var("ROTOR_BENCH_BOOTSTRAP")
                .unwrap_or_else(|_| env!("CARGO_BIN_EXE_bootstrap").to_owned()),
            Side::Python => {
                env.push((
                    "ROTOR_BENCH_PYTHON",
                    std::env::var("ROTOR_BENCH_PYTHON").expect("ROTOR_BENCH_PYTHON"),
                ));
                std::env::var("ROTOR_BENCH_PYTHON_LAMBDA").expect("ROTOR_BENCH_PYTHON_LAMBDA")
            }
        };
        Bootstrap::spawn(&binary, &env).await
    }

    /// One rotation: RotateSecret (untimed, it only registers the token), then the four steps
    /// through the function's Runtime API; returns the time of the four steps.
    async fn rotate(&self, f: &Bootstrap, secret: &str) -> Duration {
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
            .send()
            .await
            .expect("RotateSecret");
        let t = Instant::now();
        for step in STEPS {
            let out = f
                .invoke(&json!({"Step": step, "SecretId": secret, "ClientRequestToken": token}))
                .await;
            if let Err((ty, msg)) = out {
                panic!("{step} on {secret}: {ty}: {msg}\nlogs:\n{}", f.logs());
            }
        }
        t.elapsed()
    }
}

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1000.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run benches/lambda-vs-python"]
async fn bench_rotor_vs_python_template() {
    let rotations: usize = std::env::var("ROTOR_BENCH_ROTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let mut _inproc = None;
    let (openrouter_url, management_key) = match std::env::var("ROTOR_BENCH_OPENROUTER_URL") {
        Ok(url) => (
            url,
            std::env::var("OPENROUTER_MANAGEMENT_KEY").expect("OPENROUTER_MANAGEMENT_KEY"),
        ),
        Err(_) => {
            let emu = rotor_emulator::start(rotor_emulator::EmulatorConfig::default())
                .await
                .expect("emulator");
            let pair = (emu.base_url(), emu.management_key().to_owned());
            _inproc = Some(emu);
            pair
        }
    };
    let config = rotor_testkit::stores::aws::sdk_config().await;
    let sm = SmClient::new(&config);
    let store = SecretsManagerStore::new(&config);
    let prefix = rotor_testkit::stores::aws::fresh_prefix("vs");
    let mgmt_secret = format!("{prefix}-mgmt");
    sm.create_secret()
        .name(&mgmt_secret)
        .secret_string(&management_key)
        .send()
        .await
        .expect("mgmt secret");
    let engine = Engine::new(
        Client::new(ClientConfig::new(
            &openrouter_url,
            ApiKey::new(&management_key),
        ))
        .expect("client"),
        Policy::from_vars(|_| None).expect("policy"),
    );
    let (rotor_secret, python_secret) = (format!("{prefix}-rotor"), format!("{prefix}-python"));
    for s in [&rotor_secret, &python_secret] {
        engine.init(&store, s, None).await.expect("init");
    }
    let function_arn =
        rotor_testkit::stores::aws::rotation_function(&config, &format!("{prefix}-fn")).await;
    let world = World {
        sm,
        function_arn,
        mgmt_secret,
        openrouter_url,
    };

    // Timed: both containers warm (one untimed rotation each), then alternate.
    let aws = rotor_testkit::stores::aws::endpoint();
    let rotor = world.spawn(Side::Rotor, &aws, &world.openrouter_url).await;
    let python = world.spawn(Side::Python, &aws, &world.openrouter_url).await;
    world.rotate(&rotor, &rotor_secret).await;
    world.rotate(&python, &python_secret).await;
    let (mut rotor_t, mut python_t) = (Vec::new(), Vec::new());
    for _ in 0..rotations {
        rotor_t.push(world.rotate(&rotor, &rotor_secret).await);
        python_t.push(world.rotate(&python, &python_secret).await);
    }
    let rss = |f: &Bootstrap| f.peak_rss_kib().map(|k| k as f64 / 1024.0).unwrap_or(0.0);
    let (rotor_rss, python_rss) = (rss(&rotor), rss(&python));
    drop((rotor, python));

    // Counted: a fresh container of each behind counting proxies; its second rotation counts.
    let plan = Arc::new(KillPlan::default());
    let origin = world
        .openrouter_url
        .trim_end_matches('/')
        .trim_end_matches("/api/v1")
        .to_owned();
    let or_proxy = crash_proxy::start("openrouter", &origin, plan.clone()).await;
    let aws_proxy = crash_proxy::start("aws", &aws, plan.clone()).await;
    let mut counts = Vec::new();
    for (side, secret) in [(Side::Rotor, &rotor_secret), (Side::Python, &python_secret)] {
        let f = world
            .spawn(side, &aws_proxy, &format!("{or_proxy}/api/v1"))
            .await;
        world.rotate(&f, secret).await;
        plan.reset(None, None);
        world.rotate(&f, secret).await;
        let calls = plan.calls();
        // RotateSecret (made by this harness) is not the function's call.
        let calls: Vec<String> = calls
            .into_iter()
            .filter(|c| !c.ends_with("secretsmanager.RotateSecret"))
            .collect();
        let sm = calls.iter().filter(|c| c.starts_with("aws ")).count();
        let or = calls
            .iter()
            .filter(|c| c.starts_with("openrouter "))
            .count();
        eprintln!(
            "calls of one {} rotation:\n  {}",
            if side == Side::Rotor {
                "rotor"
            } else {
                "Python"
            },
            calls.join("\n  ")
        );
        counts.push((sm, or));
    }

    let (r, p) = (median(rotor_t), median(python_t));
    let ratio = r / p;
    let (rc, pc) = (counts[0].0 + counts[0].1, counts[1].0 + counts[1].1);
    println!(
        "rotor bootstrap: median {r:.1} ms per rotation (4 steps, warm, n={rotations}), {} Secrets Manager + {} OpenRouter calls, peak RSS {rotor_rss:.1} MiB",
        counts[0].0, counts[0].1
    );
    println!(
        "Python template: median {p:.1} ms per rotation (4 steps, warm, n={rotations}), {} Secrets Manager + {} OpenRouter calls, peak RSS {python_rss:.1} MiB",
        counts[1].0, counts[1].1
    );
    let met = |ok: bool| if ok { "MET" } else { "NOT MET" };
    println!(
        "BENCH Lambda vs Python template, wall time: {r:.1} ms vs {p:.1} ms = {ratio:.2}× (target ≤ 1.0×) {}",
        met(ratio <= 1.0)
    );
    println!(
        "BENCH Lambda calls per rotation (Secrets Manager + OpenRouter): {rc} (Python template: {pc}) (target ≤ 13) {}",
        met(rc <= 13)
    );
}
