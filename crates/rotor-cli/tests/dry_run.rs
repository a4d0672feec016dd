//! `--dry-run` on every mutating command through the real binary: it prints what would be
//! created, promoted, disabled or deleted, and changes nothing — the store file is byte-for-byte
//! the same and OpenRouter saw no create, change or delete.

mod common;

use std::collections::BTreeMap;

use common::*;
use rotor_emulator::control::FaultKind;
use serde_json::Value;

async fn mutations(emu: &rotor_emulator::RunningEmulator) -> BTreeMap<String, u64> {
    emu.control()
        .counters()
        .await
        .unwrap()
        .into_iter()
        .filter(|(k, _)| {
            k.starts_with("POST ") || k.starts_with("PATCH ") || k.starts_with("DELETE ")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_shows_the_plan_of_every_mutating_command_and_changes_nothing() {
    let emu = start().await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("secrets");
    let target = format!("file://{}#app", dir.display());
    let cmd = |args: &[&str]| {
        let mut c = rotor(&emu);
        c.env("ROTOR_GRACE_PERIOD", "0s").args(args);
        c
    };
    run_ok(cmd(&["init", &target])).await;
    run_ok(cmd(&["rotate", &target])).await;
    let config = tmp.path().join("rotor.toml");
    std::fs::write(
        &config,
        format!("[defaults]\ngrace_period = \"0s\"\n[[secrets]]\ntarget = \"{target}\"\n"),
    )
    .unwrap();
    let config = config.to_str().unwrap().to_owned();
    let file = dir.join("app.json");
    let before_file = std::fs::read(&file).unwrap();
    let before_calls = mutations(&emu).await;
    let state = file_state(&dir, "app").await;
    let older = state
        .current
        .older_keys
        .first()
        .expect("an older key")
        .key_hash
        .clone();
    let new_secret = format!("file://{}#fresh", dir.display());

    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["init", &new_secret], "would create key"),
        (vec!["rotate", &target], "would make the new key current"),
        (vec!["retire", &target], "dry run of `retire`"),
        (vec!["retire", "--force", &target], "would delete key"),
        (vec!["rollback", &target], "would make the previous key"),
        (vec!["revoke", &target], "would delete key"),
        (
            vec!["revoke", "--hash", &older, &target],
            "would delete key",
        ),
        (
            vec!["sweep", "--delete", &target],
            "rotor key(s) in the account",
        ),
        (
            vec!["rotate", "--all", "--config", &config],
            "would create key",
        ),
        (
            vec!["retire", "--all", "--config", &config],
            "dry run of `retire`",
        ),
    ];
    for (args, expect) in &cases {
        let mut full = vec!["--dry-run"];
        full.extend(args.iter().copied());
        let out = run(cmd(&full)).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains(expect), "{args:?}: {stdout}");
        assert_eq!(
            std::fs::read(&file).unwrap(),
            before_file,
            "{args:?}: the store is byte-for-byte unchanged"
        );
        assert_eq!(
            mutations(&emu).await,
            before_calls,
            "{args:?}: nothing was created, changed or deleted at OpenRouter"
        );
        assert!(
            !dir.join("fresh.json").exists(),
            "{args:?}: no secret created"
        );
    }

    // JSON: the plan of a rotation, as data.
    let out = run(cmd(&["--dry-run", "--json", "rotate", &target])).await;
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let changes = v["dry_run"][0]["changes"].as_array().unwrap();
    let actions: Vec<&str> = changes
        .iter()
        .map(|c| c["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"create_key") && actions.contains(&"promote"),
        "{v}"
    );
    assert!(v["dry_run"][0]["refused"].is_null());

    // A command that would be refused says so (exit 3) and still changes nothing.
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
    let left_pending = run(cmd(&["rotate", &target])).await;
    assert_ne!(left_pending.status.code(), Some(0));
    let before_file = std::fs::read(&file).unwrap();
    let before_calls = mutations(&emu).await;
    let out = run(cmd(&["--dry-run", "rotate", &target])).await;
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stdout).contains("would be refused"));
    let out = run(cmd(&["--dry-run", "rotate", "--abandon", &target])).await;
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("would give up the pending rotation"));
    assert_eq!(std::fs::read(&file).unwrap(), before_file);
    assert_eq!(mutations(&emu).await, before_calls);
}
