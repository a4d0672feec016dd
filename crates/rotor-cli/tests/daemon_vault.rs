//! `rotor daemon` on a `vault://` target: real OpenBao (started by tests/run), the in-process
//! OpenRouter emulator, the daemon as a real process. An application reads
//! `GET /v1/secret/data/PATH` throughout and always gets a key that works.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_rotates_a_vault_secret_on_schedule() {
    let emu = start().await;
    let path = fresh_vault_path("daemon");
    let target = format!("vault://secret/{path}");
    let mut init = rotor_vault(&emu);
    init.args(["init", &target]);
    run_ok(init).await;

    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(
        tmp.path(),
        "check_interval = \"200ms\"\n\n[defaults]\ngrace_period = \"1s\"",
        &[&format!("target = \"{target}\"\nevery = \"2s\"")],
    );
    let mut cmd = rotor_vault(&emu);
    cmd.args(["-v", "daemon", "--config"]).arg(&config);
    let mut daemon = Daemon::spawn(cmd).await;

    let mut seen = vec![vault_app_key(&path).await];
    let started = Instant::now();
    while seen.len() < 4 {
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "only {} rotation(s) in 40 s with every = 2s:\n{}",
            seen.len() - 1,
            daemon.stderr()
        );
        let key = vault_app_key(&path).await;
        assert!(
            key_works(&emu, &key).await,
            "the application's key does not work"
        );
        if seen.last() != Some(&key) {
            seen.push(key);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let text = daemon.metrics().await;
    let series = |name: &str| format!("{name}{{secret=\"{target}\"}}");
    assert!(
        metric(&text, &series("rotor_rotations_total")).unwrap() >= 3.0,
        "{text}"
    );
    assert_eq!(
        metric(&text, &series("rotor_rotations_failed_total")),
        Some(0.0),
        "{text}"
    );
    let since = metric(&text, &series("rotor_seconds_since_last_rotation")).unwrap();
    assert!((0.0..5.0).contains(&since), "{text}");
    assert!(
        metric(&text, &series("rotor_live_keys")).unwrap() >= 1.0,
        "{text}"
    );

    daemon.sigterm();
    let status = daemon.wait(Duration::from_secs(30)).await;
    assert_eq!(status.code(), Some(0), "{}", daemon.stderr());

    // With a 1 s grace period, the third rotation retired the first key: it no longer works,
    // and every key alive at the emulator is recorded in the secret.
    assert!(
        !key_works(&emu, &seen[0]).await,
        "the first key was never retired"
    );
    let status = status_json(rotor_vault(&emu), &target).await;
    assert!(status["pending_rotation"].is_null(), "{status:#}");
    let alive = live_key_hashes(&emu).await;
    let recorded = recorded_hashes(&status);
    assert!(
        alive.is_subset(&recorded),
        "orphans: {:?}",
        alive.difference(&recorded)
    );
    let logs = daemon.stderr();
    assert!(
        !seen.iter().any(|k| logs.contains(k.as_str())),
        "the daemon logged a key"
    );
}
