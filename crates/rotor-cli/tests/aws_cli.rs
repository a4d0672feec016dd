//! The `rotor` binary on `aws://` targets against the AWS emulator started by tests/run
//! (LocalStack, or moto) and the in-process OpenRouter emulator. Applications are played by the
//! AWS SDK reading `AWSCURRENT` / `AWSPREVIOUS`, and each key read is used at the emulator.

mod common;

use std::process::Command;

use common::*;
use rotor_testkit::stores::aws;

async fn sdk() -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&aws::sdk_config().await)
}

fn with_aws(mut cmd: Command) -> Command {
    cmd.env("AWS_ENDPOINT_URL", aws::endpoint())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("ROTOR_GRACE_PERIOD", "0s");
    cmd
}

/// The `api_key` an application reads from the version carrying `stage`.
async fn app_key(sm: &aws_sdk_secretsmanager::Client, id: &str, stage: &str) -> String {
    let v = sm
        .get_secret_value()
        .secret_id(id)
        .version_stage(stage)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetSecretValue {id} {stage}: {e}"));
    let doc: serde_json::Value =
        serde_json::from_str(v.secret_string().expect("a string secret")).expect("JSON document");
    doc["api_key"].as_str().expect("api_key").to_owned()
}

fn fresh(label: &str) -> String {
    aws::fresh_prefix(&format!("cli-{label}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_rotate_local_status_and_management_key_from_aws() {
    let emu = start().await;
    let sm = sdk().await;
    let id = fresh("app");
    let target = format!("aws://{id}");

    let mut cmd = with_aws(rotor(&emu));
    cmd.args(["init", &target]);
    run_ok(cmd).await;
    let first = app_key(&sm, &id, "AWSCURRENT").await;
    assert!(
        key_works(&emu, &first).await,
        "the key read after init works"
    );

    // No rotation function is attached: asking Secrets Manager to rotate is refused clearly.
    let mut cmd = with_aws(rotor(&emu));
    cmd.args(["rotate", &target]);
    let out = run(cmd).await;
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--local"));

    let mut keys = vec![first];
    for n in 1..=2 {
        let mut cmd = with_aws(rotor(&emu));
        cmd.args(["rotate", &target, "--local"]);
        let out = run_ok(cmd).await;
        for stream in [&out.stdout, &out.stderr] {
            let text = String::from_utf8_lossy(stream);
            assert!(
                !keys.iter().any(|k| text.contains(k.as_str())),
                "a key in rotor's output"
            );
        }
        let current = app_key(&sm, &id, "AWSCURRENT").await;
        let previous = app_key(&sm, &id, "AWSPREVIOUS").await;
        assert!(!keys.contains(&current), "rotation {n} changed AWSCURRENT");
        assert_eq!(
            &previous,
            keys.last().unwrap(),
            "the old key became AWSPREVIOUS"
        );
        assert!(
            key_works(&emu, &current).await,
            "rotation {n}: AWSCURRENT works"
        );
        assert!(
            key_works(&emu, &previous).await,
            "rotation {n}: AWSPREVIOUS still works"
        );
        keys.push(current);
    }
    assert!(
        !key_works(&emu, &keys[0]).await,
        "the first key is retired (grace 0s)"
    );
    assert_eq!(
        live_key_hashes(&emu).await.len(),
        2,
        "exactly two live keys"
    );

    let status = status_json(with_aws(rotor(&emu)), &target).await;
    assert_eq!(status["backend"], "aws", "{status:#}");
    let stages: Vec<String> = status["versions"]
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
    assert!(stages.iter().any(|s| s == "AWSCURRENT") && stages.iter().any(|s| s == "AWSPREVIOUS"));
    let alive = live_key_hashes(&emu).await;
    assert!(
        alive.is_subset(&recorded_hashes(&status)),
        "every live key is recorded"
    );

    // The management key itself from a Secrets Manager secret (JSON field).
    let mgmt_id = fresh("mgmt");
    sm.create_secret()
        .name(&mgmt_id)
        .secret_string(serde_json::json!({"management_key": emu.management_key()}).to_string())
        .send()
        .await
        .unwrap();
    let mut cmd = with_aws(rotor_without_key(&emu));
    cmd.args([
        "status",
        &target,
        "--management-key-from",
        &format!("aws://{mgmt_id}#management_key"),
    ]);
    let out = run_ok(cmd).await;
    assert!(!String::from_utf8_lossy(&out.stdout).contains(emu.management_key()));
    let mut cmd = with_aws(rotor_without_key(&emu));
    cmd.args([
        "status",
        &target,
        "--management-key-from",
        &format!("aws://{mgmt_id}#nope"),
    ]);
    let out = run(cmd).await;
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains(emu.management_key()));
}

/// Secrets Manager cannot hold an empty AWSPENDING version outside `RotateSecret`, so two
/// `rotor rotate --local` processes both start. The first to store its key wins; the other is
/// refused (its key deleted, or — if it stored a key after the winner finished — refused at
/// finishSecret because the current key changed), and `--abandon` cleans up. No key is orphaned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_local_rotations_at_once_one_wins_and_no_key_is_orphaned() {
    let emu = start().await;
    let sm = sdk().await;
    let id = fresh("race");
    let target = format!("aws://{id}");
    let mut cmd = with_aws(rotor(&emu));
    cmd.args(["init", &target]);
    run_ok(cmd).await;

    // The first key creation is slow: the other process overtakes it.
    emu.control()
        .fail_next(
            "POST",
            "/api/v1/keys",
            rotor_emulator::control::FaultKind::Delay { delay_ms: 1500 },
        )
        .await
        .unwrap();
    let mut a = with_aws(rotor(&emu));
    a.args(["rotate", &target, "--local"]);
    let mut b = with_aws(rotor(&emu));
    b.args(["rotate", &target, "--local"]);
    let (a, b) = tokio::join!(run(a), async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        run(b).await
    });
    let mut codes = [a.status.code(), b.status.code()];
    codes.sort();
    assert_eq!(
        codes,
        [Some(0), Some(3)],
        "one wins, the other is refused:\nA: {}\nB: {}",
        String::from_utf8_lossy(&a.stderr),
        String::from_utf8_lossy(&b.stderr)
    );
    let current = app_key(&sm, &id, "AWSCURRENT").await;
    assert!(key_works(&emu, &current).await);

    // Whatever the loser left pending is abandoned; afterwards every live key is recorded.
    let status = status_json(with_aws(rotor(&emu)), &target).await;
    if !status["pending_rotation"].is_null() {
        let mut cmd = with_aws(rotor(&emu));
        cmd.args(["rotate", &target, "--local", "--abandon"]);
        run_ok(cmd).await;
    }
    let status = status_json(with_aws(rotor(&emu)), &target).await;
    assert!(status["pending_rotation"].is_null(), "{status:#}");
    let alive = live_key_hashes(&emu).await;
    let recorded = recorded_hashes(&status);
    assert!(
        alive.is_subset(&recorded),
        "orphans: {:?}",
        alive.difference(&recorded).collect::<Vec<_>>()
    );
    assert_eq!(alive.len(), 2, "the initial key and the winner's");
}
