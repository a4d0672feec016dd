//! Fleet operations through the `rotor` binary: `rotate|status|retire --config rotor.toml --all
//! --concurrency N` on 200 file-store secrets against the OpenRouter emulator, one of them made to
//! fail by an emulator fault on its key: the other 199 complete, the summary and the exit code say so.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::Arc;

use rotor_core::policy::Policy;
use rotor_core::{FileStore, KeyRecord};
use rotor_emulator::EmulatorConfig;
use rotor_testkit::emulator::{default_client, engine_for, fault, start, start_with, status};
use rotor_testkit::stores;
use serde_json::Value;

const SECRETS: usize = 200;
const BROKEN: usize = 77;
const CONCURRENCY: &str = "16";

fn name(i: usize) -> String {
    format!("app-{i:03}")
}

async fn current(store: &FileStore, secret: &str) -> KeyRecord {
    rotor_testkit::observe::app_reads(store, secret).await
}

#[tokio::test(flavor = "multi_thread")]
async fn fleet_rotation_of_200_secrets_survives_one_failure() {
    let emu = start().await;
    let files = stores::file();
    let store_dir = files.path();
    let (dir, store) = (files.dir, files.store);
    let client = default_client(&emu);
    let engine = Arc::new(engine_for(&emu, Policy::default()));

    // 200 secrets, created with the library (concurrently).
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..SECRETS {
        let (engine, store) = (engine.clone(), store.clone());
        tasks.spawn(async move { engine.init(&store, &name(i), None).await.map(|_| ()) });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("task").expect("init");
    }
    let mut before = BTreeMap::new();
    for i in 0..SECRETS {
        before.insert(name(i), current(&store, &name(i)).await.key_hash);
    }

    let mut config = String::from("[defaults]\ngrace_period = \"0s\"\n");
    for i in 0..SECRETS {
        config.push_str(&format!(
            "[[secrets]]\ntarget = \"file://{}#{}\"\n",
            store_dir.display(),
            name(i)
        ));
    }
    let config_path = dir.path().join("rotor.toml");
    std::fs::write(&config_path, config).expect("config");
    let config_arg = config_path.to_str().expect("utf-8 path");

    // One secret's key is made unreadable at OpenRouter (an emulator fault on its hash).
    let broken_hash = &before[&name(BROKEN)];
    fault(
        &emu.control(),
        "GET",
        &format!("/api/v1/keys/{broken_hash}"),
        1,
        status(403, None),
    )
    .await;

    let rotor = |args: &[&str]| {
        let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_rotor"));
        c.args(args)
            .env("OPENROUTER_BASE_URL", emu.base_url())
            .env("OPENROUTER_MANAGEMENT_KEY", emu.management_key())
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        c
    };
    let started = std::time::Instant::now();
    let out = rotor(&[
        "rotate",
        "--config",
        config_arg,
        "--all",
        "--concurrency",
        CONCURRENCY,
        "--json",
    ])
    .output()
    .await
    .expect("rotor runs");
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(5),
        "exit 5 when any failed: {stderr}"
    );
    let summary: Value = serde_json::from_slice(&out.stdout).expect("--json summary");
    assert_eq!(summary["operation"], "rotate");
    assert_eq!(summary["total"], SECRETS);
    let errors: Vec<&Value> = summary["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outcome"] == "failed")
        .map(|r| &r["error"])
        .take(3)
        .collect();
    assert_eq!(summary["succeeded"], SECRETS - 1, "{errors:?}");
    assert_eq!(summary["failed"], 1);
    let results = summary["results"].as_array().expect("results");
    assert_eq!(results.len(), SECRETS);
    let failed: Vec<&Value> = results
        .iter()
        .filter(|r| r["outcome"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0]["target"]
            .as_str()
            .unwrap()
            .ends_with(&format!("#{}", name(BROKEN))),
        "{}",
        failed[0]
    );
    assert!(
        failed[0]["error"].as_str().unwrap().contains("403"),
        "{}",
        failed[0]
    );
    eprintln!(
        "fleet rotation of {SECRETS} file-store secrets at concurrency {CONCURRENCY}: {:.2}s",
        elapsed.as_secs_f64()
    );

    // What applications read: 199 new keys that work, the broken secret unchanged.
    for i in 0..SECRETS {
        let doc = current(&store, &name(i)).await;
        let row = &results[i];
        if i == BROKEN {
            assert_eq!(
                doc.key_hash,
                before[&name(i)],
                "the failed secret is unchanged"
            );
            assert!(row["key_hash"].is_null());
        } else {
            assert_ne!(doc.key_hash, before[&name(i)], "{} rotated", name(i));
            assert_eq!(row["key_hash"], doc.key_hash.as_str());
            assert!(row["duration_ms"].is_u64());
        }
    }
    for i in [0, 100, SECRETS - 1] {
        let doc = current(&store, &name(i)).await;
        assert!(
            client
                .chat_completion(&doc.api_key, "openai/gpt-4o-mini")
                .await
                .is_ok(),
            "{}'s new key works",
            name(i)
        );
    }

    // Plain text without a terminal: progress lines on stderr, the table on stdout, exit 0.
    let out = rotor(&[
        "status",
        "--config",
        config_arg,
        "--all",
        "--concurrency",
        "8",
    ])
    .output()
    .await
    .expect("rotor runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains(&format!(
            "status: {SECRETS} secret(s), {SECRETS} ok, 0 stuck, 0 failed"
        )),
        "{stdout}"
    );
    assert_eq!(
        stdout.lines().filter(|l| l.contains("  ok  ")).count(),
        SECRETS
    );
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with('[')).count(),
        SECRETS
    );

    // Fleet retire: the old keys (grace 0 s) are deleted, every current key stays.
    let out = rotor(&["retire", "--config", config_arg, "--all", "--json"])
        .output()
        .await
        .expect("rotor runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).expect("--json summary");
    assert_eq!(summary["succeeded"], SECRETS);
    let live = emu
        .control()
        .keys()
        .await
        .expect("keys")
        .into_iter()
        .filter(|k| !k.deleted)
        .count();
    assert_eq!(live, SECRETS, "one live key per secret after retirement");
}

/// Under OpenRouter's rate limit (the emulator allows 20 management requests a second, and sends
/// `Retry-After` only on every other 429), a fleet rotation at concurrency 16 waits instead of
/// failing: every secret rotates. `ROTOR_FLEET_RATE_SECRETS` sets the fleet size (default 40; the
/// benchmark in BENCHMARKS.md runs 200).
#[tokio::test(flavor = "multi_thread")]
async fn fleet_rotation_under_the_rate_limit_waits_and_never_fails() {
    let secrets: usize = std::env::var("ROTOR_FLEET_RATE_SECRETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let emu = start_with(EmulatorConfig {
        rate_limit: Some(rotor_emulator::RateLimit {
            requests: 20,
            per: std::time::Duration::from_secs(1),
        }),
        ..EmulatorConfig::default()
    })
    .await;
    let files = stores::file();
    let store_dir = files.path();
    let (dir, store) = (files.dir, files.store);
    let engine = Arc::new(engine_for(&emu, Policy::default()));
    // Initialised 16 at a time, as a fleet would be.
    let permits = Arc::new(tokio::sync::Semaphore::new(16));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..secrets {
        let (engine, store, permits) = (engine.clone(), store.clone(), permits.clone());
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await.expect("semaphore");
            engine.init(&store, &name(i), None).await.map(|_| ())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("task").expect("init under the rate limit");
    }
    let mut config = String::from("[defaults]\ngrace_period = \"0s\"\n");
    for i in 0..secrets {
        config.push_str(&format!(
            "[[secrets]]\ntarget = \"file://{}#{}\"\n",
            store_dir.display(),
            name(i)
        ));
    }
    let config_path = dir.path().join("rotor.toml");
    std::fs::write(&config_path, config).expect("config");
    let started = std::time::Instant::now();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_rotor"))
        .args(["rotate", "--config"])
        .arg(&config_path)
        .args(["--all", "--concurrency", CONCURRENCY, "--json"])
        .env("OPENROUTER_BASE_URL", emu.base_url())
        .env("OPENROUTER_MANAGEMENT_KEY", emu.management_key())
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .await
        .expect("rotor runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary: Value = serde_json::from_slice(&out.stdout).expect("--json summary");
    let errors: Vec<&Value> = summary["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outcome"] == "failed")
        .map(|r| &r["error"])
        .take(3)
        .collect();
    assert_eq!(out.status.code(), Some(0), "{errors:?} {stderr}");
    assert_eq!(summary["succeeded"], secrets, "{errors:?}");
    // The run says that, and how much, the rate limit slowed it.
    assert!(
        summary["rate_limit"]["waits"].as_u64().unwrap_or(0) > 0,
        "the summary reports waiting for the rate limit: {}",
        summary["rate_limit"]
    );
    eprintln!(
        "{secrets} secrets rotated at concurrency {CONCURRENCY} under 20 requests/s in {:.1}s",
        started.elapsed().as_secs_f64()
    );
}
