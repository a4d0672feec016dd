//! The `rotor` binary end to end on file:// targets, against the OpenRouter emulator over real HTTP.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Output;

use common::*;
use rotor_emulator::{RunningEmulator, control::FaultKind};
use rotor_testkit::stores::{self, FileFixture};
use serde_json::Value;

struct Env {
    emu: RunningEmulator,
    files: FileFixture,
}

impl Env {
    async fn new() -> Env {
        Env {
            emu: start().await,
            files: stores::file(),
        }
    }

    fn store_dir(&self) -> PathBuf {
        self.files.path()
    }

    fn target(&self, secret: &str) -> String {
        format!("file://{}#{secret}", self.store_dir().display())
    }

    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut c = tokio::process::Command::from(rotor(&self.emu));
        c.args(args)
            .env("ROTOR_GRACE_PERIOD", "0s")
            .env_remove("RUST_LOG");
        c
    }

    async fn rotor(&self, args: &[&str]) -> Output {
        let out = self.command(args).output().await.expect("rotor runs");
        self.assert_no_key_printed(&out);
        out
    }

    /// No key in stdout/stderr: neither the management key nor any key stored in the store.
    fn assert_no_key_printed(&self, out: &Output) {
        assert_no_key_printed(out, self.emu.management_key());
    }

    fn file(&self, secret: &str) -> Value {
        let text = std::fs::read_to_string(self.store_dir().join(format!("{secret}.json")))
            .expect("secret file");
        serde_json::from_str(&text).expect("secret file is JSON")
    }

    /// The document of the version carrying `stage`, as a local application reads it.
    fn document(&self, secret: &str, stage: &str) -> Option<Value> {
        let f = self.file(secret);
        let id = f["stages"][stage].as_str()?;
        let value = f["versions"][id]["value"].as_str()?;
        Some(serde_json::from_str(value).expect("document is JSON"))
    }

    /// Every key hash any version's document records (its own key and its older keys).
    fn recorded_hashes(&self, secret: &str) -> BTreeSet<String> {
        let f = self.file(secret);
        let mut out = BTreeSet::new();
        for (_, v) in f["versions"].as_object().expect("versions") {
            if let Some(value) = v["value"].as_str() {
                let doc: Value = serde_json::from_str(value).expect("document");
                out.insert(doc["key_hash"].as_str().expect("key_hash").to_owned());
                for k in doc["older_keys"].as_array().into_iter().flatten() {
                    out.insert(k["key_hash"].as_str().expect("older hash").to_owned());
                }
            }
        }
        out
    }

    async fn live_hashes(&self) -> BTreeSet<String> {
        live_key_hashes(&self.emu).await
    }

    /// Whether `key` works at the emulator's completions endpoint, as an application would use it.
    async fn key_works(&self, key: &str) -> bool {
        key_works(&self.emu, key).await
    }
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exit code")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn init_rotate_status_and_step_through_the_binary() {
    let env = Env::new().await;
    let t = env.target("prod-app");
    let out = env.rotor(&["init", &t, "--limit", "25"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let first = env
        .document("prod-app", "AWSCURRENT")
        .expect("current after init");
    let first_key = first["api_key"].as_str().unwrap().to_owned();
    assert!(env.key_works(&first_key).await);
    assert_eq!(first["rotation"]["limit"], 25.0);

    let out = env.rotor(&["init", &t]).await;
    assert_eq!(
        code(&out),
        3,
        "second init must be refused: {}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("already has a current value"),
        "{}",
        stderr(&out)
    );

    let out = env.rotor(&["rotate", &t]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let second = env.document("prod-app", "AWSCURRENT").unwrap();
    let second_key = second["api_key"].as_str().unwrap().to_owned();
    assert_ne!(second_key, first_key);
    assert!(env.key_works(&second_key).await, "the new key works");
    assert!(
        env.key_works(&first_key).await,
        "the old key still works after finish"
    );
    assert_eq!(
        env.document("prod-app", "AWSPREVIOUS").unwrap()["api_key"],
        first_key.as_str()
    );

    let out = env.rotor(&["status", &t, "--json"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let status: Value = serde_json::from_slice(&out.stdout).expect("status --json is JSON");
    let stages: Vec<String> = status["status"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|v| {
            v["stages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_owned())
        })
        .collect();
    assert!(
        stages.contains(&"AWSCURRENT".to_owned()) && stages.contains(&"AWSPREVIOUS".to_owned()),
        "{stages:?}"
    );
    let human = env.rotor(&["status", &t]).await;
    assert_eq!(code(&human), 0);
    assert!(String::from_utf8_lossy(&human.stdout).contains("AWSCURRENT"));

    // A third rotation (grace 0s) retires the first key; the second stays as previous.
    let out = env.rotor(&["rotate", &t]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!env.key_works(&first_key).await, "the first key is retired");
    assert!(
        env.key_works(&second_key).await,
        "the previous key still works"
    );
    let live = env.live_hashes().await;
    assert!(
        live.is_subset(&env.recorded_hashes("prod-app")),
        "every live key is recorded"
    );
    assert_eq!(env.live_hashes().await.len(), 2, "at most two live keys");

    // `step` re-runs finishSecret of a finished rotation: a no-op.
    let token = env.file("prod-app")["stages"]["AWSCURRENT"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = env.file("prod-app");
    let out = env
        .rotor(&["step", &t, "--step", "finishSecret", "--token", &token])
        .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(env.file("prod-app")["versions"], before["versions"]);

    // Retirement settings are per-secret policy too.
    let other = env.target("careful-app");
    let out = env
        .rotor(&[
            "init",
            &other,
            "--observation-window",
            "30m",
            "--disable-first",
            "true",
            "--max-retirement-wait",
            "3d",
        ])
        .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = env.document("careful-app", "AWSCURRENT").unwrap();
    assert_eq!(doc["rotation"]["observation_window"], "30m");
    assert_eq!(doc["rotation"]["disable_first"], true);
    assert_eq!(doc["rotation"]["max_retirement_wait"], "3days");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_a_clear_error_and_changes_nothing() {
    let env = Env::new().await;
    let t = env.target("app");
    assert_eq!(code(&env.rotor(&["init", &t]).await), 0);
    let before = env.file("app");
    let keys_before = env.live_hashes().await;

    let out = env.rotor(&["rotate", "s3://bucket/x"]).await;
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("expected file://DIR#SECRET"),
        "{}",
        stderr(&out)
    );

    let out = env
        .rotor(&["step", &t, "--step", "deleteSecret", "--token", "x"])
        .await;
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("unknown rotation step"),
        "{}",
        stderr(&out)
    );

    let out = env
        .rotor(&[
            "step",
            &t,
            "--step",
            "createSecret",
            "--token",
            "no-such-token",
        ])
        .await;
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("no-such-token"), "{}", stderr(&out));

    let out = env
        .command(&["rotate", &t])
        .env_remove("OPENROUTER_MANAGEMENT_KEY")
        .output()
        .await
        .unwrap();
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("OPENROUTER_MANAGEMENT_KEY"),
        "{}",
        stderr(&out)
    );

    let out = env
        .rotor(&["init", &env.target("other"), "--grace-period", "soon"])
        .await;
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("grace_period"), "{}", stderr(&out));

    let out = env.rotor(&["rotate", &env.target("missing")]).await;
    assert_eq!(code(&out), 3, "{}", stderr(&out));

    assert_eq!(env.file("app"), before, "the store is unchanged");
    assert_eq!(
        env.live_hashes().await,
        keys_before,
        "OpenRouter is unchanged"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_concurrent_rotations_one_wins_and_nothing_is_orphaned() {
    let env = Env::new().await;
    let t = env.target("shared");
    assert_eq!(code(&env.rotor(&["init", &t]).await), 0);
    // Make the winner's key creation slow so the two processes surely overlap.
    env.emu
        .control()
        .fail_next("POST", "/api/v1/keys", FaultKind::Delay { delay_ms: 1500 })
        .await
        .unwrap();
    let a = env.command(&["rotate", &t]).output();
    let b = env.command(&["rotate", &t]).output();
    let (a, b) = tokio::join!(a, b);
    let (a, b) = (a.unwrap(), b.unwrap());
    env.assert_no_key_printed(&a);
    env.assert_no_key_printed(&b);
    let mut codes = [code(&a), code(&b)];
    codes.sort();
    assert_eq!(
        codes,
        [0, 3],
        "one completes, the other fails cleanly:\nA: {}\nB: {}",
        stderr(&a),
        stderr(&b)
    );
    let loser = if code(&a) == 3 { &a } else { &b };
    assert!(
        stderr(loser).contains("another rotation")
            || stderr(loser).contains("in progress")
            || stderr(loser).contains("holds this secret's lease"),
        "{}",
        stderr(loser)
    );

    let live = env.live_hashes().await;
    let recorded = env.recorded_hashes("shared");
    assert!(
        live.is_subset(&recorded),
        "orphan keys: {:?}",
        live.difference(&recorded).collect::<Vec<_>>()
    );
    assert_eq!(live.len(), 2);
    let current = env.document("shared", "AWSCURRENT").unwrap();
    assert!(env.key_works(current["api_key"].as_str().unwrap()).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_runs_without_credentials_and_every_call_succeeds() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_rotor"))
        .args(["demo", "--json"])
        .env_remove("OPENROUTER_MANAGEMENT_KEY")
        .env_remove("OPENROUTER_BASE_URL")
        .output()
        .await
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("demo --json");
    assert_eq!(v["application_calls_failed"], 0);
    assert!(v["application_calls_ok"].as_u64().unwrap() > 0);
    assert!(v["keys_alive"].as_array().unwrap().len() <= 2);
    assert_eq!(v["keys_created"], 4);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains("\"api_key\""),
        "no key material in the demo's output"
    );
}
