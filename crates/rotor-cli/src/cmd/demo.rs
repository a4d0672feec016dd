//! `rotor demo`: the embedded default, end to end, in a few seconds and without credentials or
//! network. An in-process OpenRouter emulator, a file store in a temporary directory, a simulated
//! application that keeps reading the store and calling completions with whatever key it reads,
//! and a few rotations, step by step.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rotor_core::engine::{Engine, Step};
use rotor_core::file::FileStore;
use rotor_core::policy::Policy;
use rotor_core::record::KeyRecord;
use rotor_core::{SecretStore, Stage, VersionSelector};
use rotor_openrouter::{ApiKey, Client, ClientConfig, RetryPolicy};
use tokio::sync::Mutex;

use crate::error::{CliError, Exit};
use crate::output::{Output, short};

const SECRET: &str = "demo-app";
const GRACE: Duration = Duration::from_millis(300);

/// What the simulated application saw.
#[derive(Default)]
struct AppLog {
    ok: AtomicU64,
    failed: AtomicU64,
    keys_used: Mutex<Vec<String>>,
    last_hash: Mutex<String>,
}

/// The application: read the current value from the store, use its key, repeat.
async fn application(
    store: Arc<FileStore>,
    client: Client,
    log: Arc<AppLog>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::Relaxed) {
        let read = store
            .get_value(SECRET, &VersionSelector::Stage(Stage::Current))
            .await;
        match read
            .ok()
            .and_then(|v| KeyRecord::parse(&v.value, SECRET).ok())
        {
            Some(record) => {
                match client
                    .chat_completion(&record.api_key, "openai/gpt-4o-mini")
                    .await
                {
                    Ok(_) => log.ok.fetch_add(1, Ordering::Relaxed),
                    Err(_) => log.failed.fetch_add(1, Ordering::Relaxed),
                };
                let mut used = log.keys_used.lock().await;
                if used.last() != Some(&record.key_hash) {
                    used.push(record.key_hash.clone());
                }
                *log.last_hash.lock().await = record.key_hash;
            }
            None => {
                log.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub async fn run(rotations: u32, out: &Output) -> Result<Exit, CliError> {
    let fail = |what: &str, e: String| CliError::internal(format!("demo: {what}: {e}"));
    let emu = rotor_emulator::start(rotor_emulator::EmulatorConfig::default())
        .await
        .map_err(|e| fail("starting the OpenRouter emulator", e.to_string()))?;
    let dir =
        tempfile::tempdir().map_err(|e| fail("creating a temporary directory", e.to_string()))?;
    let store_dir = dir.path().join("secrets");
    let store = Arc::new(
        FileStore::open(&store_dir).map_err(|e| fail("opening the file store", e.to_string()))?,
    );
    let mut config = ClientConfig::new(emu.base_url(), ApiKey::new(emu.management_key()));
    config.retry = RetryPolicy::none();
    let client = Client::new(config).map_err(|e| fail("building the client", e.to_string()))?;
    let policy = Policy {
        grace_period: GRACE,
        ..Policy::default()
    };
    let engine = Engine::new(client.clone(), policy);
    let say = |s: String| {
        if !out.is_json() {
            println!("{s}");
        }
    };

    say(format!(
        "rotor demo: OpenRouter emulator at {}",
        emu.base_url()
    ));
    say(format!("            file store in {}", store_dir.display()));
    say(format!(
        "            grace period of old keys: {} ms (2 h by default)\n",
        GRACE.as_millis()
    ));
    let init = engine.init(store.as_ref(), SECRET, None).await?;
    say(format!(
        "init        secret {SECRET}: first key {} ({})",
        short(&init.key_hash),
        init.key_name
    ));

    let log = Arc::new(AppLog::default());
    let stop = Arc::new(AtomicBool::new(false));
    let app = tokio::spawn(application(
        store.clone(),
        client.clone(),
        log.clone(),
        stop.clone(),
    ));
    say("application started: it reads AWSCURRENT from the store and calls completions with that key\n".into());
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut reports = Vec::new();
    for n in 1..=rotations {
        let token = uuid::Uuid::new_v4().to_string();
        say(format!("rotation {n} (token {token})"));
        store.begin_rotation(SECRET, &token).await?;
        for step in Step::ALL {
            let r = engine.step(store.as_ref(), SECRET, step, &token).await?;
            tokio::time::sleep(Duration::from_millis(60)).await;
            let app_key = log.last_hash.lock().await.clone();
            let mut line = format!("  {:<13} {:<16}", step.as_str(), r.outcome.to_string());
            if let Some(h) = &r.key_hash {
                line.push_str(&format!(" new key {}", short(h)));
            }
            for k in r.retired.iter().filter(|k| !k.already_gone) {
                line.push_str(&format!(" retired {}", short(&k.key_hash)));
            }
            line.push_str(&format!("   | application uses {}", short(&app_key)));
            say(line);
            reports.push(r);
        }
        // Let the old key's grace period pass, so the next rotation retires the one before it.
        tokio::time::sleep(GRACE + Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let _ = app.await;

    let keys = emu
        .control()
        .keys()
        .await
        .map_err(|e| fail("listing the emulator's keys", e.to_string()))?;
    let alive: BTreeSet<String> = keys
        .iter()
        .filter(|k| !k.deleted)
        .map(|k| k.hash.clone())
        .collect();
    let status = engine.status(store.as_ref(), SECRET).await?;
    let (ok, failed) = (
        log.ok.load(Ordering::Relaxed),
        log.failed.load(Ordering::Relaxed),
    );
    let used = log.keys_used.lock().await.clone();

    if out.is_json() {
        out.print_json(&serde_json::json!({
            "rotations": rotations, "application_calls_ok": ok, "application_calls_failed": failed,
            "keys_used_by_application": used, "keys_created": keys.len(), "keys_alive": alive,
            "status": status, "steps": reports,
        }));
    } else {
        println!();
        println!(
            "application: {ok} calls succeeded, {failed} failed, using {} keys in turn",
            used.len()
        );
        println!(
            "OpenRouter: {} keys created, {} alive ({}), the others retired",
            keys.len(),
            alive.len(),
            alive
                .iter()
                .map(|h| short(h))
                .collect::<Vec<_>>()
                .join(", ")
        );
        out.status(
            &crate::target::Target::File {
                dir: store_dir.clone(),
                secret: SECRET.into(),
            },
            &status,
        );
        println!("\nread the current key like a local application would:");
        println!(
            "  jq -r '.versions[.stages.AWSCURRENT].value | fromjson | .api_key' {}/{SECRET}.json",
            store_dir.display()
        );
    }
    emu.shutdown().await;
    if failed == 0 && ok > 0 && alive.len() <= 2 {
        Ok(Exit::Ok)
    } else {
        Err(CliError::internal(format!(
            "demo: expected every application call to succeed and at most two live keys; got {failed} failed calls, {ok} ok, {} live keys",
            alive.len()
        )))
    }
}
