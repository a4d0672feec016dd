//! The lifecycle commands through the `rotor` binary on file:// targets, against the OpenRouter emulator over real
//! HTTP: `retire` (observing, stuck → exit 5, `--force`, drained, disable-first, `--reenable`),
//! `rollback`, `revoke` and `sweep`.
//!
//! Policies are short (observation window 2 s) so real time can pass; tests poll `rotor retire`
//! until the expected outcome, with a deadline, instead of sleeping a fixed time.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

use common::*;
use rotor_emulator::RunningEmulator;
use rotor_testkit::stores::{self, FileFixture};
use serde_json::Value;

struct Env {
    emu: RunningEmulator,
    files: FileFixture,
    vars: Vec<(&'static str, &'static str)>,
}

impl Env {
    async fn new(vars: &[(&'static str, &'static str)]) -> Env {
        Env {
            emu: start().await,
            files: stores::file(),
            vars: vars.to_vec(),
        }
    }

    fn target(&self, secret: &str) -> String {
        format!("file://{}#{secret}", self.store_dir().display())
    }

    fn store_dir(&self) -> PathBuf {
        self.files.path()
    }

    async fn rotor(&self, args: &[&str]) -> Output {
        // Not a terminal (`rotor` gives no stdin): confirmations must come from --yes.
        let mut c = tokio::process::Command::from(rotor(&self.emu));
        c.args(args)
            .env("ROTOR_GRACE_PERIOD", "0s")
            .env_remove("RUST_LOG");
        for (k, v) in &self.vars {
            c.env(k, v);
        }
        let out = c.output().await.expect("rotor runs");
        assert_no_key_printed(&out, self.emu.management_key());
        out
    }

    /// The current document, as a local application reads it.
    fn current(&self, secret: &str) -> Value {
        let text = std::fs::read_to_string(self.store_dir().join(format!("{secret}.json")))
            .expect("secret file");
        let f: Value = serde_json::from_str(&text).expect("secret file is JSON");
        let id = f["stages"]["AWSCURRENT"].as_str().expect("current id");
        let value = f["versions"][id]["value"].as_str().expect("value");
        serde_json::from_str(value).expect("document")
    }

    fn api_key(&self, secret: &str) -> String {
        self.current(secret)["api_key"]
            .as_str()
            .expect("api_key")
            .to_owned()
    }

    /// The HTTP status of a completion with `key`, as an application calls it.
    async fn completion(&self, key: &str) -> u16 {
        reqwest::Client::new()
            .post(format!("{}/chat/completions", self.emu.base_url()))
            .bearer_auth(key)
            .json(&serde_json::json!({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .expect("completion request")
            .status()
            .as_u16()
    }

    async fn alive(&self) -> BTreeSet<String> {
        live_key_hashes(&self.emu).await
    }

    /// init + one rotation; returns (old key, old hash).
    async fn rotated(&self, secret: &str) -> (String, String) {
        let t = self.target(secret);
        assert_eq!(code(&self.rotor(&["init", &t]).await), 0);
        let old_key = self.api_key(secret);
        let old_hash = self.current(secret)["key_hash"]
            .as_str()
            .unwrap()
            .to_owned();
        let out = self.rotor(&["rotate", &t]).await;
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        (old_key, old_hash)
    }

    /// Runs `rotor retire ARGS --json` until `done(exit code, report)` or the deadline.
    async fn retire_until(
        &self,
        args: &[&str],
        what: &str,
        mut between: impl AsyncFnMut(),
        done: impl Fn(i32, &Value) -> bool,
    ) -> (i32, Value) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut a = vec!["retire", "--json"];
            a.extend_from_slice(args);
            let out = self.rotor(&a).await;
            let c = code(&out);
            assert!(c == 0 || c == 5, "retire failed: {}", stderr(&out));
            let v: Value = serde_json::from_slice(&out.stdout).expect("retire --json");
            if done(c, &v["retire"]) {
                return (c, v["retire"].clone());
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {v}"
            );
            between().await;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exit code")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn decision_of(report: &Value, hash: &str) -> String {
    report["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|k| k["key_hash"] == hash)
        .and_then(|k| k["decision"].as_str())
        .unwrap_or("absent")
        .to_owned()
}

const SHORT: &[(&str, &str)] = &[
    ("ROTOR_OBSERVATION_WINDOW", "2s"),
    ("ROTOR_MAX_RETIREMENT_WAIT", "3s"),
];

#[tokio::test(flavor = "multi_thread")]
async fn retire_observes_growing_usage_exits_5_when_stuck_and_force_deletes() {
    let env = Env::new(SHORT).await;
    let t = env.target("busy");
    let (old_key, old_hash) = env.rotated("busy").await;

    // First run: observing, not deleted, the text says when to check again.
    let out = env.rotor(&["retire", &t]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("observing its usage") && text.contains("check again after"),
        "{text}"
    );
    assert_eq!(env.completion(&old_key).await, 200);

    // The application holding the old key keeps calling: never deleted, stuck after the max wait.
    let (c, report) = env
        .retire_until(
            &[&t],
            "a stuck report",
            async || {
                assert_eq!(env.completion(&old_key).await, 200, "old key still works");
            },
            |c, r| c == 5 && r["stuck"] == true,
        )
        .await;
    assert_eq!(c, 5);
    assert_eq!(decision_of(&report, &old_hash), "stuck");
    assert!(env.alive().await.contains(&old_hash));
    let out = env.rotor(&["retire", &t]).await;
    assert_eq!(code(&out), 5);
    assert!(stdout(&out).contains("STUCK"), "{}", stdout(&out));
    assert!(stderr(&out).contains("not deleted"), "{}", stderr(&out));
    let status = env.rotor(&["status", &t]).await;
    assert!(stdout(&status).contains("STUCK"), "{}", stdout(&status));

    // --force deletes it; the application reading the store keeps working.
    let out = env.rotor(&["retire", &t, "--force"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("DELETED (forced)"),
        "{}",
        stdout(&out)
    );
    assert_eq!(env.completion(&old_key).await, 401);
    assert_eq!(env.completion(&env.api_key("busy")).await, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn retire_deletes_a_drained_key() {
    let env = Env::new(SHORT).await;
    let t = env.target("quiet");
    let (old_key, old_hash) = env.rotated("quiet").await;
    let (c, report) = env
        .retire_until(
            &[&t],
            "the drained key's deletion",
            async || {},
            |_, r| {
                r["retired"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|k| k["key_hash"] == old_hash.as_str()))
            },
        )
        .await;
    assert_eq!(c, 0);
    assert_eq!(decision_of(&report, &old_hash), "deleted");
    assert_eq!(env.completion(&old_key).await, 401);
    assert!(!env.alive().await.contains(&old_hash));
    assert_eq!(env.current("quiet")["older_keys"], serde_json::json!([]));
    assert_eq!(env.completion(&env.api_key("quiet")).await, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn disable_first_end_to_end_and_reenable_is_one_command() {
    let env = Env::new(&[
        ("ROTOR_OBSERVATION_WINDOW", "2s"),
        ("ROTOR_DISABLE_FIRST", "true"),
        ("ROTOR_DISABLE_DELAY", "1h"),
    ])
    .await;
    let t = env.target("careful");
    let (old_key, old_hash) = env.rotated("careful").await;
    let (_, report) = env
        .retire_until(
            &[&t],
            "the drained key being disabled",
            async || {},
            |_, r| {
                r["disabled"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|h| h == old_hash.as_str()))
            },
        )
        .await;
    assert_eq!(decision_of(&report, &old_hash), "disabled");
    // Disabled: an application still holding it is rejected, but the key exists.
    assert_eq!(env.completion(&old_key).await, 401);
    assert!(env.alive().await.contains(&old_hash));
    let status = env.rotor(&["status", &t]).await;
    assert!(
        stdout(&status).contains("DISABLED, deleted after"),
        "{}",
        stdout(&status)
    );
    assert!(
        stdout(&status).contains("--reenable"),
        "{}",
        stdout(&status)
    );

    // Something broke: one command brings it back.
    let out = env.rotor(&["retire", &t, "--reenable", &old_hash]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("re-enabled key"), "{}", stdout(&out));
    assert_eq!(env.completion(&old_key).await, 200);
    let doc = env.current("careful");
    assert_eq!(doc["older_keys"][0]["retire_reason"], "reenabled");
    assert!(doc["older_keys"][0].get("disabled_at").is_none());
    assert_eq!(env.completion(doc["api_key"].as_str().unwrap()).await, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_restores_the_previous_key_and_the_failed_key_is_retired_later() {
    let env = Env::new(SHORT).await;
    let t = env.target("app");
    let (old_key, old_hash) = env.rotated("app").await;
    let failed_key = env.api_key("app");
    let failed_hash = env.current("app")["key_hash"].as_str().unwrap().to_owned();

    let out = env.rotor(&["rollback", &t]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("rolled back"), "{}", stdout(&out));
    let doc = env.current("app");
    assert_eq!(
        doc["key_hash"],
        old_hash.as_str(),
        "applications read the old key"
    );
    assert_eq!(doc["api_key"], old_key.as_str());
    assert_eq!(env.completion(&old_key).await, 200);
    assert_eq!(doc["older_keys"][0]["key_hash"], failed_hash.as_str());
    assert_eq!(doc["older_keys"][0]["retire_reason"], "rolled_back");

    // The failed key is retired like any older key once its traffic has drained.
    env.retire_until(
        &[&t],
        "the failed key's retirement",
        async || {},
        |_, r| {
            r["retired"]
                .as_array()
                .is_some_and(|a| a.iter().any(|k| k["key_hash"] == failed_hash.as_str()))
        },
    )
    .await;
    assert_eq!(env.completion(&failed_key).await, 401);
    assert_eq!(env.completion(&env.api_key("app")).await, 200);
    assert_eq!(env.alive().await, BTreeSet::from([old_hash]));
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_is_refused_when_the_previous_key_is_gone() {
    let env = Env::new(SHORT).await;
    let t = env.target("app");
    let (_, old_hash) = env.rotated("app").await;
    // Someone deleted the previous key by hand at OpenRouter.
    let status = reqwest::Client::new()
        .delete(format!("{}/keys/{old_hash}", env.emu.base_url()))
        .bearer_auth(env.emu.management_key())
        .send()
        .await
        .expect("delete")
        .status();
    assert!(status.is_success());
    let before = env.current("app");
    let out = env.rotor(&["rollback", &t]).await;
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("already gone") && stderr(&out).contains(&old_hash),
        "{}",
        stderr(&out)
    );
    assert_eq!(env.current("app"), before, "nothing changed");
    assert_eq!(env.completion(&env.api_key("app")).await, 200);

    // Revoked through rotor: the previous version no longer holds a previous key either.
    let t2 = env.target("app2");
    let (_, old2) = env.rotated("app2").await;
    let out = env.rotor(&["revoke", &t2, "--hash", &old2, "--yes"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = env.rotor(&["rollback", &t2]).await;
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("no previous key"), "{}", stderr(&out));
    assert_eq!(env.completion(&env.api_key("app2")).await, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn revoke_asks_then_deletes_the_leaked_key_at_once_and_the_app_keeps_working() {
    let env = Env::new(SHORT).await;
    let t = env.target("leaky");
    let (oldest_key, _) = env.rotated("leaky").await;
    let leaked_key = env.api_key("leaky");
    let leaked_hash = env.current("leaky")["key_hash"]
        .as_str()
        .unwrap()
        .to_owned();

    // No terminal and no --yes: refused, nothing deleted.
    let out = env.rotor(&["revoke", &t]).await;
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("--yes"), "{}", stderr(&out));
    assert_eq!(env.completion(&leaked_key).await, 200);

    let out = env.rotor(&["revoke", &t, "--yes"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("deleted key {leaked_hash}")),
        "{}",
        stdout(&out)
    );
    assert_eq!(env.completion(&leaked_key).await, 401, "leaked key is dead");
    assert_eq!(env.completion(&oldest_key).await, 401);
    let now_key = env.api_key("leaky");
    assert_eq!(
        env.completion(&now_key).await,
        200,
        "the app works on the new key"
    );
    assert_eq!(env.alive().await.len(), 1);

    // --hash refuses the current key.
    let current_hash = env.current("leaky")["key_hash"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = env
        .rotor(&["revoke", &t, "--hash", &current_hash, "--yes"])
        .await;
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is the current key"),
        "{}",
        stderr(&out)
    );
    assert_eq!(env.completion(&now_key).await, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn sweep_lists_exactly_the_planted_orphans_and_deletes_only_with_delete() {
    let env = Env::new(SHORT).await;
    let t = env.target("swept");
    let (_, old_hash) = env.rotated("swept").await;
    let current_hash = env.current("swept")["key_hash"]
        .as_str()
        .unwrap()
        .to_owned();
    let http = reqwest::Client::new();
    let mut planted = BTreeSet::new();
    for name in [
        "gone-app rotated 2026-01-01 [rotor:0badc0de]",
        "gone-app rotated 2026-02-01 [rotor:feedbeef]",
        "hand-made key",
    ] {
        let v: Value = http
            .post(format!("{}/keys", env.emu.base_url()))
            .bearer_auth(env.emu.management_key())
            .json(&serde_json::json!({ "name": name }))
            .send()
            .await
            .expect("create")
            .json()
            .await
            .expect("json");
        if name.contains("[rotor:") {
            planted.insert(v["data"]["hash"].as_str().unwrap().to_owned());
        }
    }

    let out = env.rotor(&["sweep", &t, "--min-age", "0s", "--json"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let found: BTreeSet<String> = v["sweep"]["orphans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["key_hash"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(found, planted);
    assert!(
        env.alive().await.is_superset(&planted),
        "listing deletes nothing"
    );

    // --delete without a terminal and without --yes: refused.
    let out = env
        .rotor(&["sweep", &t, "--min-age", "0s", "--delete"])
        .await;
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(env.alive().await.is_superset(&planted));

    // The default minimum age keeps fresh keys even with --delete --yes.
    let out = env.rotor(&["sweep", &t, "--delete", "--yes"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(env.alive().await.is_superset(&planted));

    let out = env
        .rotor(&["sweep", &t, "--min-age", "0s", "--delete", "--yes"])
        .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("DELETED"), "{}", stdout(&out));
    let alive = env.alive().await;
    assert!(alive.is_disjoint(&planted));
    assert!(alive.contains(&old_hash) && alive.contains(&current_hash));
    assert_eq!(alive.len(), 3, "the hand-made key is not rotor's and stays");
    assert_eq!(env.completion(&env.api_key("swept")).await, 200);
}
