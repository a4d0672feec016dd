//! The binary's user-facing surface, without external services (the OpenRouter emulator runs in
//! process): long help, fixed-choice values, completions, the man page, configuration discovery
//! and precedence, NO_COLOR and `--log-format json`.

use std::path::Path;
use std::process::Output;

use rotor_emulator::RunningEmulator;
use rotor_testkit::emulator::start;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_rotor");
const NO_ENV: &[(&str, &str)] = &[];

/// Variables of the developer's shell that would change what the binary does.
const SCRUBBED: &[&str] = &[
    "OPENROUTER_BASE_URL",
    "OPENROUTER_MANAGEMENT_KEY",
    "ROTOR_CONFIG",
    "ROTOR_LOG_FORMAT",
    "ROTOR_NAME_TEMPLATE",
    "ROTOR_GRACE_PERIOD",
    "RUST_LOG",
    "NO_COLOR",
    "CLICOLOR",
    "CLICOLOR_FORCE",
];

/// `rotor ARGS` in `cwd` with a clean environment plus `env`.
async fn run_in<V: AsRef<std::ffi::OsStr>>(cwd: &Path, args: &[&str], env: &[(&str, V)]) -> Output {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.args(args)
        .current_dir(cwd)
        .stdin(std::process::Stdio::null());
    for v in SCRUBBED {
        cmd.env_remove(v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().await.expect("rotor runs")
}

async fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    run_in(dir.path(), args, env).await
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exit code")
}

#[tokio::test]
async fn long_help_explains_targets_the_management_key_and_precedence() {
    let out = run(&["--help"], &[]).await;
    assert_eq!(code(&out), 0);
    let help = stdout(&out);
    for expected in [
        "file://DIR#SECRET",
        "vault://MOUNT/PATH",
        "OPENROUTER_MANAGEMENT_KEY",
        "ROTOR_CONFIG",
        "./rotor.toml",
        "command-line flags, environment variables",
        "NO_COLOR",
        "completions",
        "man",
    ] {
        assert!(
            help.contains(expected),
            "--help lacks {expected:?}:\n{help}"
        );
    }
    // -h stays short.
    let short = stdout(&run(&["-h"], &[]).await);
    assert!(!short.contains("ROTOR_CONFIG"), "{short}");
    // Subcommands show their long description too.
    let daemon = stdout(&run(&["daemon", "--help"], &[]).await);
    assert!(daemon.contains("0 or 7 = Sunday"), "{daemon}");
}

#[tokio::test]
async fn fixed_choice_flags_list_their_values_and_reject_others() {
    let init = stdout(&run(&["init", "-h"], &[]).await);
    for expected in [
        "[possible values: daily, weekly, monthly, none, current]",
        "[possible values: auth, completion]",
        "[possible values: true, false, current]",
    ] {
        assert!(
            init.contains(expected),
            "init -h lacks {expected:?}:\n{init}"
        );
    }
    let step = stdout(&run(&["step", "-h"], &[]).await);
    assert!(
        step.contains("[possible values: createSecret, setSecret, testSecret, finishSecret]"),
        "{step}"
    );
    let top = stdout(&run(&["-h"], &[]).await);
    assert!(top.contains("[possible values: text, json]"), "{top}");

    let out = run(&["init", "file://./s#app", "--test-mode", "bogus"], &[]).await;
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("bogus") && stderr(&out).contains("auth, completion"),
        "{}",
        stderr(&out)
    );
    let out = run(&["init", "file://./s#app", "--limit-reset", "Daily"], &[]).await;
    assert_eq!(code(&out), 2, "values are case-sensitive, as before");
    let out = run(&["--log-format", "xml", "man"], &[]).await;
    assert_eq!(code(&out), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn fixed_choice_values_reach_the_secret_as_before() {
    let emu = start().await;
    let dir = tempfile::tempdir().unwrap();
    let target = format!("file://{}#app", dir.path().join("secrets").display());
    let out = run_in(
        dir.path(),
        &[
            "init",
            &target,
            "--limit-reset",
            "none",
            "--test-mode",
            "completion",
            "--include-byok-in-limit",
            "current",
        ],
        &emulator_env(&emu),
    )
    .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let rotation = current_document(dir.path(), "app")["rotation"].clone();
    assert_eq!(rotation["limit_reset"], Value::Null, "{rotation}");
    assert_eq!(rotation["test_mode"], "completion", "{rotation}");
    assert_eq!(rotation["include_byok_in_limit"], "current", "{rotation}");
}

#[tokio::test]
async fn completions_for_every_shell_list_subcommands_and_values() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = run(&["completions", shell], &[]).await;
        assert_eq!(code(&out), 0, "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        for sub in ["rotate", "daemon", "sweep", "completions"] {
            assert!(script.contains(sub), "{shell} script lacks {sub}");
        }
        // elvish and powershell scripts complete flags, not their values.
        if matches!(shell, "bash" | "zsh" | "fish") {
            for value in ["createSecret", "finishSecret", "weekly", "completion"] {
                assert!(script.contains(value), "{shell} script lacks {value}");
            }
        }
    }
    let out = run(&["completions", "tcsh"], &[]).await;
    assert_eq!(code(&out), 2);
}

#[tokio::test]
async fn man_prints_a_roff_page_with_every_subcommand() {
    let out = run(&["man"], &[]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let page = stdout(&out);
    assert!(
        page.starts_with(".ie") || page.contains(".TH rotor 1"),
        "{page}"
    );
    for expected in [
        ".SH DESCRIPTION",
        ".SH \"ROTOR DAEMON\"",
        ".SH \"ROTOR STEP\"",
        "createSecret",
        "OPENROUTER_MANAGEMENT_KEY",
        "ROTOR_LOG_FORMAT",
    ] {
        assert!(page.contains(expected), "man page lacks {expected:?}");
    }
}

#[tokio::test]
async fn no_color_wins_over_forced_colors() {
    // CLICOLOR_FORCE colors the help even into a pipe...
    let forced = run(&["--help"], &[("CLICOLOR_FORCE", "1")]).await;
    assert!(stdout(&forced).contains('\u{1b}'), "expected colors");
    // ...unless NO_COLOR is set.
    let plain = run(&["--help"], &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]).await;
    assert!(!stdout(&plain).contains('\u{1b}'), "{}", stdout(&plain));
    // And log lines are never colored into a pipe.
    let out = run(&["-vv", "demo", "--rotations", "1"], &[("NO_COLOR", "1")]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!stderr(&out).contains('\u{1b}'), "{}", stderr(&out));
}

#[tokio::test]
async fn log_format_json_writes_json_lines_on_stderr() {
    let out = run(
        &["--log-format", "json", "-v", "demo", "--rotations", "1"],
        &[],
    )
    .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let lines: Vec<Value> = stderr(&out)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(!lines.is_empty(), "no log lines");
    for l in &lines {
        assert!(l["level"].is_string() && l["message"].is_string(), "{l}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "rotation step succeeded" && l["level"] == "INFO"),
        "{lines:?}"
    );
    assert!(!stderr(&out).contains("sk-or-v1-"), "a key in the logs");

    // ROTOR_LOG_FORMAT does the same; an error is a JSON line too.
    let out = run(
        &["daemon", "--config", "/nonexistent/rotor.toml"],
        &[("ROTOR_LOG_FORMAT", "json")],
    )
    .await;
    assert_eq!(code(&out), 2);
    let text = stderr(&out);
    let line: Value = serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(line["level"], "ERROR");
    assert_eq!(line["exit_code"], 2);
    assert!(
        line["message"]
            .as_str()
            .unwrap()
            .contains("cannot read config /nonexistent/rotor.toml"),
        "{line}"
    );
    // The default stays text.
    let out = run(&["daemon", "--config", "/nonexistent/rotor.toml"], &[]).await;
    assert!(
        stderr(&out).starts_with("rotor: error: cannot read config"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn config_is_found_from_the_flag_then_rotor_config_then_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    // Nothing: the error says what to provide.
    for args in [&["daemon"][..], &["status", "--all"][..]] {
        let out = run_in(cwd, args, NO_ENV).await;
        assert_eq!(code(&out), 2, "{args:?}");
        let e = stderr(&out);
        assert!(
            e.contains("--config FILE") && e.contains("ROTOR_CONFIG") && e.contains("./rotor.toml"),
            "{e}"
        );
    }
    // ./rotor.toml (a secret without a schedule: the daemon refuses it, naming the file).
    std::fs::write(
        cwd.join("rotor.toml"),
        "[[secrets]]\ntarget = 'file://./s#local'\n",
    )
    .unwrap();
    let out = run_in(cwd, &["daemon"], NO_ENV).await;
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("config rotor.toml") && stderr(&out).contains("file://./s#local"),
        "{}",
        stderr(&out)
    );
    // ROTOR_CONFIG beats ./rotor.toml.
    let from_env = cwd.join("env.toml");
    std::fs::write(&from_env, "[[secrets]]\ntarget = 'file://./s#env'\n").unwrap();
    let env_path = from_env.to_str().unwrap();
    let out = run_in(cwd, &["daemon"], &[("ROTOR_CONFIG", env_path)]).await;
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("file://./s#env"), "{}", stderr(&out));
    // --config beats ROTOR_CONFIG.
    std::fs::write(
        cwd.join("flag.toml"),
        "[[secrets]]\ntarget = 'file://./s#flag'\n",
    )
    .unwrap();
    let out = run_in(
        cwd,
        &["daemon", "--config", "flag.toml"],
        &[("ROTOR_CONFIG", env_path)],
    )
    .await;
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("file://./s#flag"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn environment_beats_the_config_file_and_flags_beat_both() {
    let emu = start().await;
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let target = format!("file://{}#app", cwd.join("secrets").display());
    let out = run_in(cwd, &["init", &target], &emulator_env(&emu)).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // The file points at a dead OpenRouter and names keys `file-…`.
    std::fs::write(
        cwd.join("rotor.toml"),
        format!(
            "[openrouter]\nbase_url = 'http://127.0.0.1:9/api/v1'\n\n[defaults]\n\
             name_template = 'file-{{secret}}'\ngrace_period = '0s'\n\n[[secrets]]\ntarget = '{target}'\n"
        ),
    )
    .unwrap();
    let key = emu.management_key().to_owned();
    let base = emu.base_url();

    // Environment (OPENROUTER_BASE_URL, ROTOR_NAME_TEMPLATE) beats the file.
    let env = [
        ("OPENROUTER_MANAGEMENT_KEY", key.as_str()),
        ("OPENROUTER_BASE_URL", base.as_str()),
        ("ROTOR_NAME_TEMPLATE", "env-{secret}"),
    ];
    let out = run_in(cwd, &["rotate", "--all"], &env).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        live_names(&emu)
            .await
            .iter()
            .any(|n| n.starts_with("env-app"))
    );

    // Without the variables, the file's settings apply: its dead URL fails the rotation...
    let out = run_in(
        cwd,
        &["rotate", "--all"],
        &[("OPENROUTER_MANAGEMENT_KEY", key.as_str())],
    )
    .await;
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    // ...and a flag beats the file: the file's name template is used.
    let out = run_in(
        cwd,
        &["rotate", "--all", "--openrouter-url", &base],
        &[("OPENROUTER_MANAGEMENT_KEY", key.as_str())],
    )
    .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        live_names(&emu)
            .await
            .iter()
            .any(|n| n.starts_with("file-app"))
    );
}

fn emulator_env(emu: &RunningEmulator) -> Vec<(&'static str, String)> {
    vec![
        ("OPENROUTER_BASE_URL", emu.base_url()),
        ("OPENROUTER_MANAGEMENT_KEY", emu.management_key().to_owned()),
    ]
}

async fn live_names(emu: &RunningEmulator) -> Vec<String> {
    emu.control()
        .keys()
        .await
        .expect("keys")
        .into_iter()
        .filter(|k| !k.deleted)
        .map(|k| k.name)
        .collect()
}

/// The AWSCURRENT document of `secret` in `dir/secrets`.
fn current_document(dir: &Path, secret: &str) -> Value {
    let text = std::fs::read_to_string(dir.join("secrets").join(format!("{secret}.json")))
        .expect("secret file");
    let f: Value = serde_json::from_str(&text).unwrap();
    let id = f["stages"]["AWSCURRENT"].as_str().expect("current");
    serde_json::from_str(f["versions"][id]["value"].as_str().unwrap()).unwrap()
}
