//! Benchmark of the `bootstrap` binary (not a timed test: ignored by default). Run it with
//! `benches/lambda-footprint`, which starts LocalStack when needed, builds the release
//! binary and the zip, and prints every figure:
//! cold start (process start → first `GET /next` on the Runtime API), per-step latency against
//! LocalStack + the in-process OpenRouter emulator, peak RSS (VmHWM).

mod common;

use rotor_testkit::stores::aws;

use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::{Client as SmClient, types::RotationRulesType};
use common::runtime_api::Bootstrap;
use rotor_aws::SecretsManagerStore;
use rotor_core::{engine::Engine, policy::Policy};
use rotor_openrouter::{ApiKey, Client, ClientConfig};
use serde_json::json;

const STEPS: [&str; 4] = ["createSecret", "setSecret", "testSecret", "finishSecret"];

fn stats(mut v: Vec<Duration>) -> String {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let p = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    format!(
        "median {:.1} ms, p90 {:.1} ms, max {:.1} ms (n={})",
        ms(p(0.5)),
        ms(p(0.9)),
        ms(p(1.0)),
        v.len()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run benches/lambda-footprint"]
async fn bench_bootstrap() {
    let binary = std::env::var("ROTOR_BENCH_BOOTSTRAP")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_bootstrap").to_owned());
    let rotations: usize = std::env::var("ROTOR_BENCH_ROTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let emulator = rotor_testkit::emulator::start().await;
    let config = aws::sdk_config().await;
    let sm = SmClient::new(&config);
    let store = SecretsManagerStore::new(&config);
    let prefix = aws::fresh_prefix("bench");
    let mgmt = format!("{prefix}-mgmt");
    sm.create_secret()
        .name(&mgmt)
        .secret_string(emulator.management_key())
        .send()
        .await
        .expect("mgmt secret");
    let secret = format!("{prefix}-app");
    let engine = Engine::new(
        Client::new(ClientConfig::new(
            emulator.base_url(),
            ApiKey::new(emulator.management_key()),
        ))
        .expect("client"),
        Policy::from_vars(|_| None).expect("policy"),
    );
    engine.init(&store, &secret, None).await.expect("init");
    let function_arn =
        rotor_testkit::stores::aws::rotation_function(&config, &format!("{prefix}-fn")).await;

    // Cold starts: several fresh processes, each until its first GET /next.
    let mut cold = Vec::new();
    let samples: usize = std::env::var("ROTOR_BENCH_COLD_STARTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    for _ in 0..samples {
        let f = spawn(&binary, &emulator.base_url(), &mgmt).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while f.api.first_next().is_none() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        cold.push(
            f.api
                .first_next()
                .expect("bootstrap never asked for an event")
                - f.started,
        );
    }

    let f = spawn(&binary, &emulator.base_url(), &mgmt).await;
    let mut per_step: Vec<Vec<Duration>> = vec![Vec::new(); 4];
    let mut first_invocation = None;
    for i in 0..rotations {
        let token = uuid::Uuid::new_v4().to_string();
        sm.rotate_secret()
            .secret_id(&secret)
            .client_request_token(&token)
            .rotation_lambda_arn(&function_arn)
            .rotation_rules(
                RotationRulesType::builder()
                    .automatically_after_days(30)
                    .build(),
            )
            .send()
            .await
            .expect("RotateSecret");
        for (s, step) in STEPS.iter().enumerate() {
            let t = Instant::now();
            let out = f
                .invoke(&json!({"Step": step, "SecretId": secret, "ClientRequestToken": token}))
                .await;
            let d = t.elapsed();
            if let Err((ty, msg)) = out {
                panic!("{step}: {ty}: {msg}");
            }
            if i == 0 && s == 0 {
                first_invocation = Some(d);
            } else {
                per_step[s].push(d);
            }
        }
    }
    let rss = f.peak_rss_kib().expect("peak RSS from /proc");
    let split = f.rss_split().expect("RSS split from /proc");
    let cpu = f.cpu_ms().expect("CPU time from /proc");
    // ROTOR_BENCH_SMAPS=PATH: the process's /proc/PID/smaps after the rotations, for analysis.
    if let Ok(path) = std::env::var("ROTOR_BENCH_SMAPS") {
        std::fs::write(&path, f.smaps().expect("smaps from /proc")).expect("write smaps");
    }
    println!(
        "BENCH cold start (spawn -> first GET /next): {}",
        stats(cold)
    );
    println!(
        "BENCH first createSecret in a fresh container (fetches the management key, opens connections): {:.1} ms",
        first_invocation.expect("first").as_secs_f64() * 1000.0
    );
    for (s, step) in STEPS.iter().enumerate() {
        println!("BENCH {step} (warm): {}", stats(per_step[s].clone()));
    }
    println!(
        "BENCH peak RSS after {rotations} rotations: {:.1} MiB",
        rss as f64 / 1024.0
    );
    println!("BENCH resident after {rotations} rotations: {split}");
    println!("BENCH bootstrap CPU (user + system) for {rotations} rotations: {cpu:.0} ms");
}

async fn spawn(binary: &str, base_url: &str, mgmt: &str) -> Bootstrap {
    Bootstrap::spawn(
        binary,
        &[
            ("AWS_ENDPOINT_URL", aws::endpoint()),
            ("OPENROUTER_BASE_URL", base_url.to_owned()),
            ("OPENROUTER_MANAGEMENT_KEY_SECRET_ID", mgmt.to_owned()),
            ("ROTOR_GRACE_PERIOD", "0s".to_owned()),
            ("RUST_LOG", "warn".to_owned()),
        ],
    )
    .await
}
