//! The `rotor` binary on `vault://` targets against a real OpenBao (started by tests/run) and the
//! in-process OpenRouter emulator. After every command an independent client reads
//! `GET /v1/secret/data/PATH` exactly as an application would, and uses the key it finds.

mod common;

use std::process::Stdio;

use common::*;
use rotor_emulator::RunningEmulator;
use rotor_emulator::control::FaultKind;
use rotor_testkit::stores::vault;

async fn init(emu: &RunningEmulator, target: &str) {
    let mut cmd = rotor_vault(emu);
    cmd.args(["init", target]);
    run_ok(cmd).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_then_two_rotations_the_application_always_reads_a_working_key() {
    let emu = start().await;
    let path = fresh_vault_path("rotate");
    let target = format!("vault://secret/{path}");

    init(&emu, &target).await;
    let mut keys = vec![vault_app_key(&path).await];
    assert!(
        key_works(&emu, &keys[0]).await,
        "the key read after init does not work"
    );

    for n in 1..=2 {
        let mut cmd = rotor_vault(&emu);
        cmd.args(["rotate", &target]);
        let out = run_ok(cmd).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("rotated"), "{stdout}");
        let key = vault_app_key(&path).await;
        assert!(
            !keys.contains(&key),
            "rotation {n} did not change the application's key"
        );
        assert!(
            key_works(&emu, &key).await,
            "the key read after rotation {n} does not work"
        );
        // The key applications used until now keeps working during its grace period.
        assert!(
            key_works(&emu, keys.last().unwrap()).await,
            "the previous key stopped working"
        );
        for k in [&out.stdout, &out.stderr] {
            let text = String::from_utf8_lossy(k);
            assert!(
                !keys.iter().chain([&key]).any(|p| text.contains(p.as_str())),
                "key in output"
            );
        }
        keys.push(key);
    }

    // `rotor status --json` shows the stages and that both keys work; nothing is pending.
    let status = status_json(rotor_vault(&emu), &target).await;
    assert_eq!(status["backend"], "vault", "{status:#}");
    assert!(status["pending_rotation"].is_null(), "{status:#}");
    let versions = status["versions"].as_array().expect("versions");
    let stage_of = |stage: &str| {
        versions
            .iter()
            .find(|v| v["stages"].as_array().unwrap().iter().any(|s| s == stage))
            .unwrap_or_else(|| panic!("no {stage} version in {status:#}"))
    };
    let current = stage_of("AWSCURRENT");
    let previous = stage_of("AWSPREVIOUS");
    assert_eq!(current["key"]["state"], "active", "{status:#}");
    assert_eq!(previous["key"]["state"], "active", "{status:#}");
    assert_ne!(current["version_id"], previous["version_id"]);
    assert_eq!(
        status["older_keys"].as_array().unwrap().len(),
        2,
        "{status:#}"
    );

    // No key alive at the emulator that the secret does not record.
    let alive = live_key_hashes(&emu).await;
    let recorded = recorded_hashes(&status);
    assert!(
        alive.is_subset(&recorded),
        "orphans: {:?}",
        alive.difference(&recorded)
    );
    assert_eq!(alive.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_rotations_one_completes_the_other_fails_cleanly() {
    let emu = start().await;
    let path = fresh_vault_path("race");
    let target = format!("vault://secret/{path}");
    init(&emu, &target).await;
    let before = vault_app_key(&path).await;

    // Whichever rotation creates its key first takes 2 s doing so: the two processes overlap.
    emu.control()
        .fail_next("POST", "/api/v1/keys", FaultKind::Delay { delay_ms: 2000 })
        .await
        .unwrap();
    let spawn = || {
        let mut cmd = rotor_vault(&emu);
        cmd.args(["rotate", &target])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.spawn().expect("spawn rotor rotate")
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = tokio::task::spawn_blocking(move || {
        (a.wait_with_output().unwrap(), b.wait_with_output().unwrap())
    })
    .await
    .unwrap();
    let codes = [a.status.code(), b.status.code()];
    let (winner, loser) = match codes {
        [Some(0), Some(3)] => (a, b),
        [Some(3), Some(0)] => (b, a),
        other => panic!(
            "expected one exit 0 and one exit 3, got {other:?}\nA: {}\nB: {}",
            String::from_utf8_lossy(&a.stderr),
            String::from_utf8_lossy(&b.stderr)
        ),
    };
    let message = String::from_utf8_lossy(&loser.stderr);
    assert!(
        (message.contains("another rotation") && message.contains("in progress"))
            || (message.contains("another worker")
                && message.contains("holds this secret's lease")),
        "the loser should name the other rotation or its owner: {message}"
    );
    assert!(String::from_utf8_lossy(&winner.stdout).contains("rotated"));

    let after = vault_app_key(&path).await;
    assert_ne!(after, before);
    assert!(key_works(&emu, &after).await);
    let status = status_json(rotor_vault(&emu), &target).await;
    assert!(status["pending_rotation"].is_null(), "{status:#}");
    let alive = live_key_hashes(&emu).await;
    let recorded = recorded_hashes(&status);
    assert!(
        alive.is_subset(&recorded),
        "orphans: {:?}",
        alive.difference(&recorded)
    );
    assert_eq!(
        alive.len(),
        2,
        "one key per completed init/rotation, nothing else"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_management_key_can_come_from_vault() {
    let emu = start().await;
    let mgmt_path = fresh_vault_path("mgmt");
    vault_write(
        &mgmt_path,
        serde_json::json!({ "management_key": emu.management_key() }),
    )
    .await;
    let path = fresh_vault_path("from-vault");
    let target = format!("vault://secret/{path}");
    let from = format!("vault://secret/{mgmt_path}#management_key");
    let with_vault_key = |args: &[&str]| {
        let mut cmd = rotor_without_key(&emu);
        cmd.env("VAULT_ADDR", vault::addr())
            .env("VAULT_TOKEN", vault::root_token())
            .args(args)
            .args(["--management-key-from", &from]);
        cmd
    };

    run_ok(with_vault_key(&["init", &target])).await;
    let first = vault_app_key(&path).await;
    assert!(key_works(&emu, &first).await);
    run_ok(with_vault_key(&["rotate", &target])).await;
    let second = vault_app_key(&path).await;
    assert_ne!(first, second);
    assert!(key_works(&emu, &second).await);

    // A missing field is an error naming where rotor looked, without any key in it.
    let mut cmd = rotor_without_key(&emu);
    cmd.env("VAULT_ADDR", vault::addr())
        .env("VAULT_TOKEN", vault::root_token())
        .args(["rotate", &target, "--management-key-from"])
        .arg(format!("vault://secret/{mgmt_path}#nope"));
    let out = run(cmd).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains(&mgmt_path), "{stderr}");
    assert!(
        !stderr.contains(emu.management_key()),
        "management key in the error"
    );
    assert_eq!(
        vault_app_key(&path).await,
        second,
        "a failed command changed the secret"
    );
}
