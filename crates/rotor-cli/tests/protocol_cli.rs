//! The rotation protocol through the real `rotor` binary: several workers on one secret (two
//! `rotor rotate --resume`, two daemon replicas beside an operator), and many rotations of one
//! Vault secret inside one grace period. Each reproduces a failure the protocol review measured.

mod common;

use std::time::{Duration, Instant};

use common::*;
use rotor_emulator::control::FaultKind;
use rotor_testkit::emulator::fault;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Reproduction 1: a rotation left pending by a failed `POST /keys`; the next `GET /keys` is
/// slow; two `rotor rotate --resume` start 0.5 s apart. On the old protocol the slower one listed
/// the faster one's new key by its tag, judged it against a stale Current, and deleted it: the
/// current key then answered 401. Now the second worker is refused (or finds nothing to resume)
/// and the current key works.
#[tokio::test(flavor = "multi_thread")]
async fn two_resumes_of_one_pending_rotation_never_break_the_current_key() {
    let emu = start().await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("secrets");
    let target = format!("file://{}#app", dir.display());
    let mut init = rotor(&emu);
    init.args(["init", &target]);
    run_ok(init).await;

    emu.control()
        .fail_next(
            "POST",
            "/api/v1/keys",
            FaultKind::Status {
                status: 400,
                retry_after: None,
            },
        )
        .await
        .unwrap();
    let mut first = rotor(&emu);
    first.args(["rotate", &target]);
    let out = run(first).await;
    assert_ne!(out.status.code(), Some(0), "the rotation is left pending");
    assert!(file_state(&dir, "app").await.pending.is_some());

    fault(
        &emu.control(),
        "GET",
        "/api/v1/keys",
        1,
        FaultKind::Delay { delay_ms: 2500 },
    )
    .await;
    let resume = || {
        let mut c = rotor(&emu);
        c.args(["rotate", "--resume", &target]);
        c
    };
    let b = tokio::spawn(run(resume()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let a = run(resume()).await;
    let b = b.await.unwrap();
    for out in [&a, &b] {
        let code = out.status.code();
        assert!(
            code == Some(0) || code == Some(3),
            "each worker completes or is refused cleanly: {code:?} {}",
            stderr(out)
        );
        if code == Some(3) {
            let e = stderr(out);
            assert!(
                e.contains("holds this secret's lease") || e.contains("no rotation is in progress"),
                "{e}"
            );
        }
    }
    assert!(
        a.status.success() || b.status.success(),
        "one of them finishes the rotation:\nA: {}\nB: {}",
        stderr(&a),
        stderr(&b)
    );
    let state = file_state(&dir, "app").await;
    assert!(state.pending.is_none(), "the rotation finished");
    assert!(
        key_works(&emu, &plaintext(&state.current)).await,
        "the current key works"
    );
    let alive = live_key_hashes(&emu).await;
    assert!(
        alive.is_subset(&state.recorded),
        "orphans: {:?}",
        alive.difference(&state.recorded).collect::<Vec<_>>()
    );
}

/// Two `rotor daemon` processes on one configuration, plus an operator running `rotor rotate
/// --resume` (and `rotor rotate`) in a loop, under injected failures: at every moment the key
/// applications read works, and at the end every live key is recorded.
#[tokio::test(flavor = "multi_thread")]
async fn two_daemons_and_an_operator_never_break_the_current_key_or_orphan_one() {
    let emu = start().await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("secrets");
    let target = format!("file://{}#app", dir.display());
    let mut init = rotor(&emu);
    init.args(["init", &target]);
    run_ok(init).await;
    let config = write_config(
        tmp.path(),
        "check_interval = \"100ms\"",
        &[&format!("target = \"{target}\"\nevery = \"1s\"")],
    );
    // Failures the workers must ride out: a lost create response, slow listings and creates.
    for (method, path, count, kind) in [
        ("POST", "/api/v1/keys", 2, FaultKind::CommitThenDrop),
        ("GET", "/api/v1/keys", 3, FaultKind::Delay { delay_ms: 700 }),
        (
            "POST",
            "/api/v1/keys",
            3,
            FaultKind::Delay { delay_ms: 400 },
        ),
    ] {
        fault(&emu.control(), method, path, count, kind).await;
    }
    let daemon = |name: &str| {
        let mut cmd = rotor(&emu);
        cmd.env("ROTOR_GRACE_PERIOD", "0s")
            .env("ROTOR_LEASE_TTL", "2s")
            .env("HOSTNAME", name)
            .args(["daemon", "--config"])
            .arg(&config);
        cmd
    };
    let mut d1 = Daemon::spawn(daemon("replica-1")).await;
    let mut d2 = Daemon::spawn(daemon("replica-2")).await;
    let started = Instant::now();
    let mut operator_runs = 0;
    let mut refused = 0;
    while started.elapsed() < Duration::from_secs(8) {
        let mut c = rotor(&emu);
        c.env("ROTOR_GRACE_PERIOD", "0s")
            .env("ROTOR_LEASE_TTL", "2s");
        if operator_runs % 2 == 0 {
            c.args(["rotate", "--resume", &target]);
        } else {
            c.args(["rotate", &target]);
        }
        let out = run(c).await;
        operator_runs += 1;
        match out.status.code() {
            Some(0) => {}
            Some(3) => refused += 1,
            other => {
                // A retryable failure (exit 4) from an injected fault is fine; anything else is not.
                assert_eq!(other, Some(4), "operator: {}", stderr(&out));
            }
        }
        let state = file_state(&dir, "app").await;
        assert!(
            key_works(&emu, &plaintext(&state.current)).await,
            "the key applications read works (after {operator_runs} operator runs)"
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    d1.sigterm();
    d2.sigterm();
    assert_eq!(d1.wait(Duration::from_secs(30)).await.code(), Some(0));
    assert_eq!(d2.wait(Duration::from_secs(30)).await.code(), Some(0));
    // Let any dead worker's lease end, then finish what is pending, as an operator would.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let mut c = rotor(&emu);
    c.env("ROTOR_GRACE_PERIOD", "0s")
        .args(["rotate", "--resume", &target]);
    let _ = run(c).await;
    let state = file_state(&dir, "app").await;
    assert!(key_works(&emu, &plaintext(&state.current)).await);
    let alive = live_key_hashes(&emu).await;
    assert!(
        alive.is_subset(&state.recorded),
        "orphans: {:?}",
        alive.difference(&state.recorded).collect::<Vec<_>>()
    );
    let rotations = emu
        .control()
        .counters()
        .await
        .unwrap()
        .get("POST /api/v1/keys")
        .copied()
        .unwrap_or(0);
    eprintln!(
        "operator runs: {operator_runs} ({refused} refused by a lease or a pending rotation); keys created: {rotations}"
    );
    assert!(rotations >= 3, "the workers did rotate ({rotations})");
    assert!(
        d1.stderr().contains("rotation") && d2.stderr().contains("rotation"),
        "both replicas worked"
    );
}

/// Reproduction 3 and its done-criterion: 120 `rotor rotate` of one Vault secret inside one
/// grace period. Each completes or is refused (exit 3) before any key is created; a refused one
/// leaves nothing pending; after `rotor retire --force` rotations continue. On the old protocol
/// `older_keys` grew until OpenBao refused the write and the secret stayed pending for ever.
#[tokio::test(flavor = "multi_thread")]
async fn one_hundred_twenty_vault_rotations_inside_one_grace_period_are_bounded() {
    let emu = start().await;
    let path = format!(
        "rotor-cli-tests/bound-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let target = format!("vault://secret/{path}");
    let cmd = |args: &[&str]| {
        let mut c = rotor_vault(&emu);
        c.env("ROTOR_GRACE_PERIOD", "1d").args(args);
        c
    };
    run_ok(cmd(&["init", &target])).await;
    let mut completed = 0;
    let mut refused = 0;
    for i in 0..120 {
        let before = key_creations(&emu).await;
        let out = run(cmd(&["rotate", &target])).await;
        match out.status.code() {
            Some(0) => completed += 1,
            Some(3) => {
                refused += 1;
                let e = stderr(&out);
                assert!(e.contains("max_live_keys"), "rotation {i}: {e}");
                assert!(e.contains("rotor retire --force"), "rotation {i}: {e}");
                assert_eq!(
                    key_creations(&emu).await,
                    before,
                    "rotation {i}: refused before any key was created"
                );
            }
            other => panic!("rotation {i}: exit {other:?}: {}", stderr(&out)),
        }
    }
    assert!(
        completed >= 1 && refused >= 100,
        "{completed} completed, {refused} refused"
    );
    // Nothing pending: a new rotation is refused for the bound, not for a stuck rotation.
    let status = run(cmd(&["status", "--json", &target])).await;
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let s = if v.get("pending_rotation").is_some() {
        v
    } else {
        v["status"].clone()
    };
    assert!(s["pending_rotation"].is_null(), "nothing pending: {s}");
    let app_key = vault_app_key(&path).await;
    assert!(key_works(&emu, &app_key).await, "the current key works");

    let mut retire = cmd(&["retire", "--force", &target]);
    retire.stdin(std::process::Stdio::null());
    let out = run(retire).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "retire --force: {}",
        stderr(&out)
    );
    for _ in 0..3 {
        run_ok(cmd(&["rotate", &target])).await;
    }
    let app_key = vault_app_key(&path).await;
    assert!(key_works(&emu, &app_key).await);
    eprintln!(
        "120 rotations inside one grace period: {completed} completed, {refused} refused at the bound"
    );
}
