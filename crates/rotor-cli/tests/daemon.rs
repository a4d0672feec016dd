//! `rotor daemon` as a real process against the in-process OpenRouter emulator and a file store:
//! it rotates on a short schedule, exposes its metrics, never runs two rotations of one secret at
//! once, retries failures, and stops cleanly on SIGTERM, even mid-rotation.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use rotor_emulator::RunningEmulator;
use rotor_emulator::control::FaultKind;
use rotor_testkit::emulator::fault;

struct Setup {
    emu: RunningEmulator,
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    target: String,
}

/// An emulator, a file store in a temp dir, and `rotor init` of secret `app` through the binary.
async fn setup() -> Setup {
    let emu = start().await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("secrets");
    let target = format!("file://{}#app", dir.display());
    let mut init = rotor(&emu);
    init.args(["init", &target]);
    run_ok(init).await;
    Setup {
        emu,
        _tmp: tmp,
        dir,
        target,
    }
}

fn daemon_cmd(s: &Setup, config: &Path) -> std::process::Command {
    let mut cmd = rotor(&s.emu);
    cmd.args(["-v", "daemon", "--config"]).arg(config);
    cmd
}

fn series(name: &str, target: &str) -> String {
    format!("{name}{{secret=\"{target}\"}}")
}

/// Every key alive at the emulator is recorded in the store (no orphan), and the current key
/// works as an application would use it.
async fn assert_consistent(s: &Setup) -> FileState {
    let state = file_state(&s.dir, "app").await;
    let alive = live_key_hashes(&s.emu).await;
    let orphans: BTreeSet<_> = alive.difference(&state.recorded).collect();
    assert!(
        orphans.is_empty(),
        "keys alive at the emulator but recorded nowhere in the store: {orphans:?}"
    );
    assert!(
        key_works(&s.emu, &plaintext(&state.current)).await,
        "the current key does not work at the emulator"
    );
    state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotates_on_schedule_exposes_metrics_and_never_overlaps_rotations() {
    let s = setup().await;
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(
        tmp.path(),
        "check_interval = \"200ms\"\nmax_concurrent = 2\n\n[defaults]\ngrace_period = \"1s\"",
        &[&format!("target = \"{}\"\nevery = \"2s\"", s.target)],
    );
    let initial = file_state(&s.dir, "app").await;
    let mut plaintexts = vec![plaintext(&initial.current)];
    let mut seen = vec![initial.current.key_hash.clone()];
    let daemon = Daemon::spawn(daemon_cmd(&s, &config)).await;

    // Every configured secret has its counters from the start.
    let text = daemon.metrics().await;
    assert!(
        metric(&text, &series("rotor_rotations_total", &s.target)).is_some(),
        "{text}"
    );

    // An application reads the current key over and over; it always works; it changes twice.
    let started = Instant::now();
    let mut changed_at = Vec::new();
    while seen.len() < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "only {} rotation(s) in 30 s with every = 2s:\n{}",
            seen.len() - 1,
            daemon.stderr()
        );
        let state = file_state(&s.dir, "app").await;
        let key = plaintext(&state.current);
        assert!(
            key_works(&s.emu, &key).await,
            "the current key does not work"
        );
        if seen.last() != Some(&state.current.key_hash) {
            seen.push(state.current.key_hash.clone());
            plaintexts.push(key);
            changed_at.push(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The second rotation came `every` (2 s) after the first, not sooner (minus polling slack).
    let gap = changed_at[1] - changed_at[0];
    assert!(
        gap >= Duration::from_millis(1500),
        "two rotations {gap:?} apart: faster than every = 2s"
    );

    let text = daemon.metrics().await;
    let total = metric(&text, &series("rotor_rotations_total", &s.target)).unwrap();
    assert!(total >= 2.0, "rotor_rotations_total {total}\n{text}");
    assert_eq!(
        metric(&text, &series("rotor_rotations_failed_total", &s.target)),
        Some(0.0),
        "{text}"
    );
    let count = metric(&text, "rotor_rotation_duration_seconds_count").unwrap();
    assert!(count >= 2.0, "histogram count {count}\n{text}");
    let since = metric(
        &text,
        &series("rotor_seconds_since_last_rotation", &s.target),
    )
    .unwrap();
    assert!(
        (0.0..5.0).contains(&since),
        "seconds since last rotation {since}"
    );
    let live = metric(&text, &series("rotor_live_keys", &s.target)).unwrap();
    assert!(
        (1.0..=3.0).contains(&live),
        "rotor_live_keys {live}\n{text}"
    );

    // Between rotations the daemon retires older keys past their grace period (1 s here).
    let retired = metric(&text, &series("rotor_keys_retired_total", &s.target)).unwrap_or(0.0);
    assert!(retired >= 1.0, "rotor_keys_retired_total {retired}\n{text}");
    assert_eq!(
        metric(&text, &series("rotor_retirement_stuck", &s.target)),
        Some(0.0),
        "{text}"
    );
    assert!(
        !key_works(&s.emu, &plaintexts[0]).await,
        "the first key is past its grace period and must be retired"
    );

    // Make the next createSecret take 3 s (longer than `every` and 15 check intervals): the
    // daemon must wait for it, not start a second rotation of the same secret.
    let before_total = total;
    let before_creations = key_creations(&s.emu).await;
    fault(
        &s.emu.control(),
        "POST",
        "/api/v1/keys",
        1,
        FaultKind::Delay { delay_ms: 3000 },
    )
    .await;
    wait_for(
        "the delayed rotation to start",
        Duration::from_secs(10),
        || {
            let emu = &s.emu;
            async move { (key_creations(emu).await > before_creations).then_some(()) }
        },
    )
    .await;
    let slow_started = Instant::now();
    loop {
        let text = daemon.metrics().await;
        let in_flight = metric(&text, "rotor_rotations_in_flight").unwrap();
        assert!(
            in_flight <= 1.0,
            "{in_flight} rotations in flight for one secret"
        );
        assert_eq!(
            key_creations(&s.emu).await,
            before_creations + 1,
            "a second key was created while the first rotation was still in flight"
        );
        let total = metric(&text, &series("rotor_rotations_total", &s.target)).unwrap();
        if total > before_total {
            break;
        }
        assert!(
            slow_started.elapsed() < Duration::from_secs(15),
            "slow rotation never finished"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(slow_started.elapsed() >= Duration::from_millis(2500));
    let text = daemon.metrics().await;
    assert_eq!(
        metric(&text, &series("rotor_rotations_failed_total", &s.target)),
        Some(0.0),
        "a rotation failed while another was in flight:\n{}",
        daemon.stderr()
    );

    let mut daemon = daemon;
    daemon.sigterm();
    let status = daemon.wait(Duration::from_secs(30)).await;
    assert_eq!(status.code(), Some(0), "{}", daemon.stderr());
    let state = assert_consistent(&s).await;
    assert_eq!(state.pending, None);
    plaintexts.push(plaintext(&state.current));

    // Logs name hashes and tokens, never a key.
    let logs = daemon.stderr();
    assert!(logs.contains("rotation finished"), "{logs}");
    for key in plaintexts
        .iter()
        .chain([&s.emu.management_key().to_owned()])
    {
        assert!(
            !logs.contains(key.as_str()),
            "the daemon logged key material"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_rotation_lets_the_rotation_finish_and_exits_zero() {
    let s = setup().await;
    let before = file_state(&s.dir, "app").await;
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(
        tmp.path(),
        "check_interval = \"200ms\"",
        &[&format!("target = \"{}\"\nevery = \"1s\"", s.target)],
    );
    s.emu
        .control()
        .fail_next("POST", "/api/v1/keys", FaultKind::Delay { delay_ms: 2000 })
        .await
        .unwrap();
    let creations = key_creations(&s.emu).await;
    let mut daemon = Daemon::spawn(daemon_cmd(&s, &config)).await;
    wait_for(
        "the rotation to reach POST /keys",
        Duration::from_secs(15),
        || {
            let emu = &s.emu;
            async move { (key_creations(emu).await > creations).then_some(()) }
        },
    )
    .await;
    daemon.sigterm();
    let status = daemon.wait(Duration::from_secs(30)).await;
    assert_eq!(status.code(), Some(0), "{}", daemon.stderr());
    let logs = daemon.stderr();
    assert!(logs.contains("stopping"), "{logs}");

    // The rotation in flight finished: a new current key, nothing pending, no orphan.
    let after = assert_consistent(&s).await;
    assert_eq!(after.pending, None, "{logs}");
    assert_ne!(after.current.key_hash, before.current.key_hash);
    assert_eq!(
        key_creations(&s.emu).await,
        creations + 1,
        "a rotation started after SIGTERM"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_past_the_shutdown_timeout_leaves_a_rotation_a_restarted_daemon_resumes() {
    let s = setup().await;
    let before = file_state(&s.dir, "app").await;
    let tmp = tempfile::tempdir().unwrap();
    let daemon_section = "check_interval = \"200ms\"\nshutdown_timeout = \"300ms\"";
    let config = write_config(
        tmp.path(),
        daemon_section,
        &[&format!("target = \"{}\"\nevery = \"1s\"", s.target)],
    );
    const DELAY: Duration = Duration::from_millis(4000);
    s.emu
        .control()
        .fail_next(
            "POST",
            "/api/v1/keys",
            FaultKind::Delay {
                delay_ms: DELAY.as_millis() as u64,
            },
        )
        .await
        .unwrap();
    let creations = key_creations(&s.emu).await;
    // A daemon cut short keeps its lease on the secret until the lease ends: a short one here.
    let mut cmd = daemon_cmd(&s, &config);
    cmd.env("ROTOR_LEASE_TTL", "3s");
    let mut daemon = Daemon::spawn(cmd).await;
    wait_for(
        "the rotation to reach POST /keys",
        Duration::from_secs(15),
        || {
            let emu = &s.emu;
            async move { (key_creations(emu).await > creations).then_some(()) }
        },
    )
    .await;
    let arrived = Instant::now();
    daemon.sigterm();
    let status = daemon.wait(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0), "{}", daemon.stderr());
    assert!(
        arrived.elapsed() < DELAY,
        "the daemon waited for the slow rotation despite shutdown_timeout = 300ms"
    );
    assert!(
        daemon.stderr().contains("still in flight"),
        "{}",
        daemon.stderr()
    );

    // Cut short: the rotation is pending, applications still read the old, working key.
    let cut = file_state(&s.dir, "app").await;
    let token = cut
        .pending
        .clone()
        .expect("a pending rotation after the cut-short shutdown");
    assert_eq!(cut.current.key_hash, before.current.key_hash);
    assert!(key_works(&s.emu, &plaintext(&cut.current)).await);

    // Let the abandoned POST /keys settle at the emulator (whatever it did), then restart the
    // daemon with a long schedule: it resumes the pending rotation with its token, and then
    // (last rotation read from the store) does not rotate again.
    tokio::time::sleep_until((arrived + DELAY + Duration::from_millis(300)).into()).await;
    let config = write_config(
        tmp.path(),
        daemon_section,
        &[&format!("target = \"{}\"\nevery = \"1h\"", s.target)],
    );
    let mut cmd = daemon_cmd(&s, &config);
    cmd.env("ROTOR_LEASE_TTL", "3s");
    let daemon = Daemon::spawn(cmd).await;
    wait_for(
        "the restarted daemon to finish the rotation",
        Duration::from_secs(20),
        || {
            let dir = s.dir.clone();
            async move {
                file_state(&dir, "app")
                    .await
                    .pending
                    .is_none()
                    .then_some(())
            }
        },
    )
    .await;
    let after = assert_consistent(&s).await;
    assert_eq!(
        after.current_version, token,
        "resumed with the pending rotation's own token"
    );
    let total = wait_for("rotor_rotations_total = 1", Duration::from_secs(10), || {
        let d = &daemon;
        let name = series("rotor_rotations_total", &s.target);
        async move { d.metric(&name).await.filter(|v| *v >= 1.0) }
    })
    .await;
    assert_eq!(total, 1.0);
    assert!(daemon.stderr().contains("resuming"), "{}", daemon.stderr());
    let mut daemon = daemon;
    daemon.sigterm();
    assert_eq!(daemon.wait(Duration::from_secs(30)).await.code(), Some(0));
    assert_eq!(
        file_state(&s.dir, "app").await.current_version,
        token,
        "rotated again after the restart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_rotation_is_counted_and_retried_with_back_off() {
    let s = setup().await;
    let before = file_state(&s.dir, "app").await;
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(
        tmp.path(),
        "check_interval = \"200ms\"",
        &[&format!("target = \"{}\"\nevery = \"1s\"", s.target)],
    );
    // The first rotation's POST /keys fails with a 503 (temporary): the rotation stays pending.
    fault(
        &s.emu.control(),
        "POST",
        "/api/v1/keys",
        1,
        FaultKind::Status {
            status: 503,
            retry_after: None,
        },
    )
    .await;
    let daemon = Daemon::spawn(daemon_cmd(&s, &config)).await;
    let failed = series("rotor_rotations_failed_total", &s.target);
    let total = series("rotor_rotations_total", &s.target);
    wait_for("one failed rotation", Duration::from_secs(15), || {
        let (d, failed) = (&daemon, failed.clone());
        async move { d.metric(&failed).await.filter(|v| *v >= 1.0) }
    })
    .await;
    // Then the back-off passes and the daemon finishes the same rotation.
    wait_for("the retried rotation", Duration::from_secs(15), || {
        let (d, total) = (&daemon, total.clone());
        async move { d.metric(&total).await.filter(|v| *v >= 1.0) }
    })
    .await;
    let text = daemon.metrics().await;
    assert_eq!(metric(&text, &failed), Some(1.0), "{text}");
    let logs = daemon.stderr();
    assert!(logs.contains("rotation failed"), "{logs}");
    assert!(logs.contains("retries soon"), "{logs}");
    let mut daemon = daemon;
    daemon.sigterm();
    assert_eq!(daemon.wait(Duration::from_secs(30)).await.code(), Some(0));
    let after = assert_consistent(&s).await;
    assert_ne!(after.current.key_hash, before.current.key_hash);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_a_config_without_a_schedule_or_with_a_bad_cron() {
    let s = setup().await;
    let tmp = tempfile::tempdir().unwrap();
    for (secret, expected) in [
        (format!("target = \"{}\"", s.target), "needs a schedule"),
        (
            format!("target = \"{}\"\ncron = \"0 0 25 * * *\"", s.target),
            "invalid cron",
        ),
    ] {
        let config = write_config(tmp.path(), "", &[&secret]);
        let mut cmd = daemon_cmd(&s, &config);
        cmd.stderr(std::process::Stdio::piped());
        let out = run(cmd).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cron_schedule_rotates_at_its_scheduled_times() {
    let s = setup().await;
    let tmp = tempfile::tempdir().unwrap();
    // Every third second (UTC), within one second of the scheduled time.
    let config = write_config(
        tmp.path(),
        "check_interval = \"100ms\"",
        &[&format!(
            "target = \"{}\"\ncron = \"*/3 * * * * *\"\nwindow = \"1s\"",
            s.target
        )],
    );
    let first = file_state(&s.dir, "app").await.current.key_hash;
    let mut daemon = Daemon::spawn(daemon_cmd(&s, &config)).await;
    let total = series("rotor_rotations_total", &s.target);
    wait_for("two cron rotations", Duration::from_secs(20), || {
        let (d, total) = (&daemon, total.clone());
        async move { d.metric(&total).await.filter(|v| *v >= 2.0) }
    })
    .await;
    daemon.sigterm();
    assert_eq!(daemon.wait(Duration::from_secs(30)).await.code(), Some(0));
    // Each rotation was started for a scheduled time (the log names it).
    let logs = daemon.stderr();
    let due: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("rotation due"))
        .collect();
    assert!(due.len() >= 2, "{logs}");
    for line in &due {
        assert!(line.contains("scheduled at"), "{line}");
    }
    let after = assert_consistent(&s).await;
    assert_ne!(after.current.key_hash, first);
}

/// `rotate_before_expiry`: the daemon rotates a secret whose current key expires within the
/// lead time, whatever its schedule, once; `/metrics` shows the seconds until the new key expires.
#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_rotates_a_key_seven_days_before_it_expires() {
    let emu = start().await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("secrets");
    let target = format!("file://{}#app", dir.display());
    let mut init = rotor(&emu);
    init.env("ROTOR_EXPIRES_AFTER", "6d")
        .args(["init", &target]);
    run_ok(init).await;
    let before = file_state(&dir, "app").await;
    let expires = before.current.expires_at.expect("the first key expires");
    assert!(expires - chrono::Utc::now() < chrono::Duration::days(7));

    // A schedule far away; the key's expiry is what makes it due.
    let config = write_config(
        tmp.path(),
        "check_interval = \"200ms\"",
        &[&format!(
            "target = \"{target}\"\nevery = \"30d\"\nrotate_before_expiry = \"7d\""
        )],
    );
    // Too short a lifetime for the lead time is refused at start, clearly.
    let mut bad = rotor(&emu);
    bad.env("ROTOR_EXPIRES_AFTER", "7d")
        .args(["daemon", "--config"])
        .arg(&config);
    let out = run(bad).await;
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rotate_before_expiry"), "{err}");

    let mut cmd = rotor(&emu);
    cmd.env("ROTOR_EXPIRES_AFTER", "60d")
        .args(["-v", "daemon", "--config"])
        .arg(&config);
    let mut daemon = Daemon::spawn(cmd).await;
    let name = series("rotor_rotations_total", &target);
    wait_for("one rotation", Duration::from_secs(20), || {
        let d = &daemon;
        let name = name.clone();
        async move { d.metric(&name).await.filter(|v| *v >= 1.0) }
    })
    .await;
    let after = assert_consistent_at(&emu, &dir).await;
    assert_ne!(after.current.key_hash, before.current.key_hash);
    let new_expiry = after.current.expires_at.expect("the new key expires");
    assert!(new_expiry - chrono::Utc::now() > chrono::Duration::days(59));
    assert!(
        daemon.stderr().contains("rotate_before_expiry"),
        "{}",
        daemon.stderr()
    );
    let until = wait_for("the expiry metric", Duration::from_secs(10), || {
        let d = &daemon;
        let name = series("rotor_seconds_until_current_key_expires", &target);
        async move { d.metric(&name).await.filter(|v| *v > 59.0 * 86400.0) }
    })
    .await;
    assert!(until < 61.0 * 86400.0);
    // Not due again: the new key expires in 60 days.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(daemon.metric(&name).await, Some(1.0));
    daemon.sigterm();
    assert_eq!(daemon.wait(Duration::from_secs(30)).await.code(), Some(0));
}

async fn assert_consistent_at(emu: &RunningEmulator, dir: &Path) -> FileState {
    let state = file_state(dir, "app").await;
    let alive = live_key_hashes(emu).await;
    assert!(alive.is_subset(&state.recorded));
    assert!(key_works(emu, &plaintext(&state.current)).await);
    state
}
