//! Black-box crash enumeration: the real `rotor rotate` is killed with SIGKILL right before and
//! right after each of its external calls (OpenRouter, and Vault or Secrets Manager), on file,
//! Vault (OpenBao) and AWS `--local` (LocalStack) targets. An HTTP proxy in front of every
//! service counts the calls and kills the process at the chosen one. After each kill the
//! documented recovery runs (`rotor rotate --resume`, else a fresh `rotor rotate`, waiting out the
//! dead worker's lease), and then: no live key of the secret is unrecorded, and the key
//! applications read works.
//!
//! The clean run of each backend prints the external calls of one rotation (the figure the
//! closing notes quote): `cargo test -p rotor-cli --test crash_points -- --nocapture`.

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use rotor_emulator::RunningEmulator;
use rotor_emulator::crash_proxy::{self, KillPlan, When};
use rotor_testkit::stores::{aws, vault};

/// One backend under test: how to address a secret, point rotor at a proxy, and read what an
/// application reads.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Backend {
    File,
    Vault,
    Aws,
}

struct Harness {
    emu: RunningEmulator,
    plan: Arc<KillPlan>,
    or_proxy: String,
    store_proxy: Option<String>,
    dir: tempfile::TempDir,
    backend: Backend,
}

const LEASE_TTL: &str = "1s";

impl Harness {
    async fn new(backend: Backend) -> Harness {
        let emu = start().await;
        let plan = Arc::new(KillPlan::default());
        let origin = emu
            .base_url()
            .trim_end_matches('/')
            .trim_end_matches("/api/v1")
            .to_owned();
        let or_proxy = crash_proxy::start("openrouter", &origin, plan.clone()).await;
        let store_proxy = match backend {
            Backend::File => None,
            Backend::Vault => Some(crash_proxy::start("vault", &vault::addr(), plan.clone()).await),
            Backend::Aws => Some(crash_proxy::start("aws", &aws::endpoint(), plan.clone()).await),
        };
        Harness {
            emu,
            plan,
            or_proxy,
            store_proxy,
            dir: tempfile::tempdir().unwrap(),
            backend,
        }
    }

    fn target(&self, name: &str) -> String {
        match self.backend {
            Backend::File => format!("file://{}#{name}", self.dir.path().join("s").display()),
            Backend::Vault => format!("vault://secret/rotor-crash/{name}"),
            Backend::Aws => format!("aws://{name}"),
        }
    }

    /// `rotor ARGS` directly against the services (`proxied`: through the proxies).
    fn rotor(&self, args: &[&str], proxied: bool) -> Command {
        let mut cmd = rotor(&self.emu);
        cmd.env("ROTOR_GRACE_PERIOD", "0s")
            .env("ROTOR_LEASE_TTL", LEASE_TTL)
            .env("RUST_LOG", "warn")
            .args(args);
        if proxied {
            cmd.env("OPENROUTER_BASE_URL", format!("{}/api/v1", self.or_proxy));
        }
        match self.backend {
            Backend::File => {}
            Backend::Vault => {
                let addr = if proxied {
                    self.store_proxy.clone().unwrap()
                } else {
                    vault::addr()
                };
                cmd.env("VAULT_ADDR", addr)
                    .env("VAULT_TOKEN", vault::root_token());
            }
            Backend::Aws => {
                let addr = if proxied {
                    self.store_proxy.clone().unwrap()
                } else {
                    aws::endpoint()
                };
                cmd.env("AWS_ENDPOINT_URL", addr)
                    .env("AWS_REGION", "us-east-1")
                    .env("AWS_ACCESS_KEY_ID", "test")
                    .env("AWS_SECRET_ACCESS_KEY", "test")
                    // One attempt per call, so the enumeration sees each call once.
                    .env("AWS_MAX_ATTEMPTS", "1");
            }
        }
        cmd
    }

    fn rotate_args(&self) -> Vec<&'static str> {
        match self.backend {
            Backend::Aws => vec!["rotate", "--local"],
            _ => vec!["rotate"],
        }
    }

    /// Runs `rotor rotate` through the proxies, killed at `kill_at`. Returns whether it was
    /// killed, and the calls it made (in order).
    async fn rotate_killed(
        &self,
        target: &str,
        kill_at: Option<(usize, When)>,
    ) -> (bool, Vec<String>) {
        self.plan.reset(kill_at, None);
        let mut args = self.rotate_args();
        args.push(target);
        let mut cmd = self.rotor(&args, true);
        if kill_at.is_none() {
            // The clean run counts the calls of a rotation: a lease long enough never to be
            // renewed (a renewal under load would add a ledger write).
            cmd.env("ROTOR_LEASE_TTL", "2m");
        }
        cmd.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        let child = cmd.spawn().expect("spawn rotor");
        self.plan.set_victim(Some(child.id()));
        let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
            .await
            .unwrap();
        let killed = self.plan.killed();
        if kill_at.is_none() {
            assert!(
                out.status.success(),
                "the clean rotation failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        (killed, self.plan.calls())
    }

    /// The documented recovery: `rotate --resume`, else a fresh `rotate`, waiting out a dead
    /// worker's lease (exit 3 naming it).
    async fn recover(&self, target: &str, what: &str) {
        let mut resume = self.rotate_args();
        resume.push("--resume");
        resume.push(target);
        let mut fresh = self.rotate_args();
        fresh.push(target);
        let mut use_fresh = false;
        for _ in 0..20 {
            let args = if use_fresh { &fresh } else { &resume };
            let out = run(self.rotor(args, false)).await;
            let err = String::from_utf8_lossy(&out.stderr).to_string();
            assert_no_full_key(&err, what);
            if out.status.success() {
                return;
            }
            if err.contains("holds this secret's lease") {
                tokio::time::sleep(Duration::from_millis(1100)).await;
                continue;
            }
            if !use_fresh
                && (err.contains("no rotation is in progress")
                    || err.contains("No rotation is in progress"))
            {
                use_fresh = true;
                continue;
            }
            panic!("{what}: recovery `{}` failed: {err}", args.join(" "));
        }
        panic!("{what}: recovery did not finish");
    }

    /// The key hashes the secret records (every version's key and older keys, per `rotor status`).
    async fn recorded(&self, target: &str) -> BTreeSet<String> {
        let out = run(self.rotor(&["status", "--json", target], false)).await;
        assert!(
            out.status.success(),
            "status: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
        let status = if v.get("versions").is_some() {
            v
        } else {
            v["status"].clone()
        };
        let mut out = BTreeSet::new();
        for version in status["versions"].as_array().into_iter().flatten() {
            if let Some(h) = version["key"]["key_hash"].as_str() {
                out.insert(h.to_owned());
            }
        }
        for older in status["older_keys"].as_array().into_iter().flatten() {
            if let Some(h) = older["key_hash"].as_str() {
                out.insert(h.to_owned());
            }
        }
        out
    }

    /// Live keys at the emulator whose name carries this secret's name.
    async fn live_keys_of(&self, name: &str) -> BTreeSet<String> {
        self.emu
            .control()
            .keys()
            .await
            .unwrap()
            .into_iter()
            .filter(|k| !k.deleted && k.name.contains(name))
            .map(|k| k.hash)
            .collect()
    }

    /// The `api_key` an application reads now.
    async fn app_key(&self, name: &str, target: &str) -> String {
        match self.backend {
            Backend::File => {
                let text =
                    std::fs::read_to_string(self.dir.path().join("s").join(format!("{name}.json")))
                        .unwrap();
                let f: serde_json::Value = serde_json::from_str(&text).unwrap();
                let id = f["stages"]["AWSCURRENT"].as_str().unwrap();
                let doc: serde_json::Value =
                    serde_json::from_str(f["versions"][id]["value"].as_str().unwrap()).unwrap();
                doc["api_key"].as_str().unwrap().to_owned()
            }
            Backend::Vault => vault_app_key(&format!("rotor-crash/{name}")).await,
            Backend::Aws => {
                let _ = target;
                aws_app_key(name).await
            }
        }
    }

    async fn check(&self, name: &str, target: &str, what: &str) {
        let live = self.live_keys_of(name).await;
        let recorded = self.recorded(target).await;
        let orphans: Vec<_> = live.difference(&recorded).collect();
        assert!(orphans.is_empty(), "{what}: orphaned keys {orphans:?}");
        let key = self.app_key(name, target).await;
        assert!(
            key_works(&self.emu, &key).await,
            "{what}: the key applications read does not work"
        );
    }
}

async fn aws_app_key(name: &str) -> String {
    let sm = aws_sdk_secretsmanager::Client::new(&aws::sdk_config().await);
    let v = sm
        .get_secret_value()
        .secret_id(name)
        .version_stage("AWSCURRENT")
        .send()
        .await
        .expect("GetSecretValue AWSCURRENT");
    let doc: serde_json::Value = serde_json::from_str(v.secret_string().unwrap()).unwrap();
    doc["api_key"].as_str().unwrap().to_owned()
}

async fn enumerate(backend: Backend) {
    let h = Harness::new(backend).await;
    let run_id = &uuid::Uuid::new_v4().simple().to_string()[..8];
    // The clean run: how many external calls one rotation makes.
    let name = format!("crash-{run_id}-clean");
    let target = h.target(&name);
    let init = run(h.rotor(&["init", &target], false)).await;
    assert!(
        init.status.success(),
        "init: {}",
        String::from_utf8_lossy(&init.stderr)
    );
    let (_, calls) = h.rotate_killed(&target, None).await;
    let total = calls.len();
    let openrouter = calls.iter().filter(|c| c.starts_with("openrouter")).count();
    eprintln!(
        "{backend:?}: one rotation makes {total} external calls ({openrouter} OpenRouter, {} store): {calls:#?}",
        total - openrouter
    );
    assert!(total >= 4, "{backend:?}: too few calls seen: {calls:?}");
    h.check(&name, &target, &format!("{backend:?} clean run"))
        .await;
    // The next rotation of the same secret: what every rotation after the first costs (the
    // ledger exists, the store holds a previous version).
    let (_, steady) = h.rotate_killed(&target, None).await;
    let steady_openrouter = steady
        .iter()
        .filter(|c| c.starts_with("openrouter"))
        .count();
    eprintln!(
        "{backend:?}: the next rotation makes {} external calls ({steady_openrouter} OpenRouter, {} store): {steady:#?}",
        steady.len(),
        steady.len() - steady_openrouter
    );
    h.check(&name, &target, &format!("{backend:?} second clean run"))
        .await;
    // The cost of a rotation (BENCHMARKS.md): OpenRouter 5 calls (look the current key up, create,
    // read the new key and the guardrail assignments at setSecret, GET /key with the new key),
    // plus 2 per retired key; the store's calls per backend.
    let (first_store, next_store) = match backend {
        Backend::File => (0, 0),
        Backend::Vault => (15, 14),
        Backend::Aws => (18, 17),
    };
    assert!(
        openrouter <= 5 && total - openrouter <= first_store,
        "{backend:?}: the first rotation made {openrouter} OpenRouter calls (at most 5) and {} store calls (at most {first_store})",
        total - openrouter
    );
    assert!(
        steady_openrouter <= 7 && steady.len() - steady_openrouter <= next_store,
        "{backend:?}: the next rotation made {steady_openrouter} OpenRouter calls (at most 7 with one retired key) and {} store calls (at most {next_store})",
        steady.len() - steady_openrouter
    );
    if std::env::var("ROTOR_CRASH_CLEAN_ONLY").is_ok() {
        // Only the call count of one rotation (BENCHMARKS.md); no enumeration.
        return;
    }

    let mut points = 0;
    let mut killed_points = 0;
    for n in 1..=total {
        for when in [When::Before, When::After] {
            let name = format!("crash-{run_id}-{n}-{when:?}").to_lowercase();
            let target = h.target(&name);
            let init = run(h.rotor(&["init", &target], false)).await;
            assert!(
                init.status.success(),
                "init: {}",
                String::from_utf8_lossy(&init.stderr)
            );
            let what = format!("{backend:?} killed {when:?} call {n}");
            let (killed, calls) = h.rotate_killed(&target, Some((n, when))).await;
            points += 1;
            if std::env::var("ROTOR_CRASH_VERBOSE").is_ok() {
                eprintln!(
                    "{backend:?} {n} {when:?}: killed={killed} calls={}",
                    calls.len()
                );
            }
            if killed {
                killed_points += 1;
            }
            let what = format!(
                "{what} ({})",
                calls
                    .get(n - 1)
                    .map(String::as_str)
                    .unwrap_or("not reached")
            );
            h.recover(&target, &what).await;
            h.check(&name, &target, &what).await;
        }
    }
    eprintln!(
        "{backend:?}: {points} crash points ({killed_points} killed the process), 0 orphans, the current key works at every one"
    );
    assert_eq!(
        killed_points, points,
        "{backend:?}: every crash point killed the process"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_at_every_external_call_on_a_file_store_recovers_with_no_orphan() {
    enumerate(Backend::File).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_at_every_external_call_on_vault_recovers_with_no_orphan() {
    enumerate(Backend::Vault).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_at_every_external_call_on_aws_local_recovers_with_no_orphan() {
    enumerate(Backend::Aws).await;
}
