//! OpenRouter's official Python SDK (`openrouter` on PyPI), unchanged, against the emulator.
//! `tests/run` installs it (tests/services/10-python-sdk.sh) and sets `ROTOR_TEST_SDK_PYTHON`.

use std::time::Duration;

use rotor_testkit::emulator::start;
use rotor_testkit::service::required_env;

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/sdk/python_sdk_against_emulator.py"
);

#[tokio::test]
async fn the_official_python_sdk_manages_keys_against_the_emulator() {
    let python = required_env(
        "ROTOR_TEST_SDK_PYTHON",
        "OpenRouter's Python SDK (tests/services/10-python-sdk.sh)",
    );
    let emu = start().await;
    let run = tokio::process::Command::new(&python)
        .arg(SCRIPT)
        .env("ROTOR_SDK_BASE_URL", emu.base_url())
        .env("ROTOR_SDK_MANAGEMENT_KEY", emu.management_key())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the SDK script finishes within 120 s")
        .expect("run the SDK script");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "SDK script failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.contains("all key-management calls work"), "{stdout}");

    // What the SDK did really happened at the emulator.
    let control = emu.control();
    let keys = control.keys().await.expect("keys");
    assert_eq!(keys.len(), 6, "the script creates six keys");
    assert!(keys.iter().all(|k| k.deleted), "and deletes them all");
    let counters = control.counters().await.expect("counters");
    for (route, at_least) in [
        ("POST /api/v1/keys", 2),
        ("GET /api/v1/keys", 5),
        ("GET /api/v1/keys/{hash}", 2),
        ("PATCH /api/v1/keys/{hash}", 2),
        ("DELETE /api/v1/keys/{hash}", 2),
        ("GET /api/v1/key", 2),
        ("POST /api/v1/chat/completions", 3),
        ("POST /api/v1/guardrails", 1),
        ("GET /api/v1/guardrails", 1),
        ("GET /api/v1/guardrails/{id}", 2),
        ("PATCH /api/v1/guardrails/{id}", 1),
        ("DELETE /api/v1/guardrails/{id}", 1),
        ("POST /api/v1/guardrails/{id}/assignments/keys", 1),
        ("POST /api/v1/guardrails/{id}/assignments/keys/remove", 1),
        ("GET /api/v1/guardrails/{id}/assignments/keys", 2),
        ("GET /api/v1/guardrails/assignments/keys", 1),
        ("POST /api/v1/workspaces", 1),
        ("GET /api/v1/workspaces", 2),
        ("GET /api/v1/workspaces/{id}", 2),
        ("PATCH /api/v1/workspaces/{id}", 1),
        ("DELETE /api/v1/workspaces/{id}", 1),
    ] {
        assert!(
            counters.get(route).copied().unwrap_or(0) >= at_least,
            "{route}: {counters:?}"
        );
    }
}
