//! The conformance suite on MemoryStore and FileStore, plus what only the file store promises:
//! permissions, atomic writes, the documented layout read by jq/python, the advisory lock, and
//! concurrent read-modify-writes from several processes.
//!
//! Run: `cargo test -p rotor-core --test stores` (the crate's self dev-dependency turns the
//! `conformance` feature on for its tests).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use rotor_core::conformance::{self, new_token, sample_document};
use rotor_core::file::FileStoreOpenError;
use rotor_core::{FileStore, MemoryStore, SecretStore, Stage, StoreError, VersionSelector};
use rotor_testkit::observe::assert_same_snapshot;
use secrecy::{ExposeSecret, SecretString};

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// A fresh store directory (0700, as `tempfile` creates it) inside a temp dir.
fn store_dir() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("secrets");
    (tmp, dir)
}

fn api_key_of(value: &SecretString) -> String {
    let doc: serde_json::Value = serde_json::from_str(value.expose_secret()).unwrap();
    doc["api_key"].as_str().unwrap().to_owned()
}

// ---------------------------------------------------------------- conformance

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_passes_the_conformance_suite() {
    let store = MemoryStore::new();
    conformance::run_all(&store, "mem").await;
    conformance::racing_promotes_spawned(Arc::new(store), "mem", 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn file_store_passes_the_conformance_suite() {
    let (_tmp, dir) = store_dir();
    let store = FileStore::open(&dir).unwrap();
    conformance::run_all(&store, "file").await;
    conformance::racing_promotes_spawned(Arc::new(store), "file", 50).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn file_store_survives_reopen() {
    let (_tmp, dir) = store_dir();
    conformance::survives_reopen(
        || Box::new(FileStore::open(&dir).unwrap()) as Box<dyn SecretStore>,
        "file",
    )
    .await;
}

/// Two FileStore instances on one directory (as two processes would have): racing promotes
/// through different instances still have exactly one winner.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn file_store_instances_on_one_directory_race_safely() {
    let (_tmp, dir) = store_dir();
    let one = FileStore::open(&dir).unwrap();
    let two = FileStore::open(&dir).unwrap();
    let secret = "shared";
    let a = new_token();
    one.create_secret(secret, &a, &sample_document("shared"))
        .await
        .unwrap();
    let (mut current, mut wins) = (a, 0);
    for _ in 0..30 {
        let (t1, t2) = (new_token(), new_token());
        // Both values stored (the second put moves Pending; the first stays a valued version).
        one.put_pending(secret, &t1, &sample_document("one"))
            .await
            .unwrap();
        two.put_pending(secret, &t2, &sample_document("two"))
            .await
            .unwrap();
        let (r1, r2) = tokio::join!(
            one.promote(secret, &t1, &current),
            two.promote(secret, &t2, &current)
        );
        let winner = match (r1, r2) {
            (Ok(()), Err(StoreError::Conflict { .. })) => t1,
            (Err(StoreError::Conflict { .. }), Ok(())) => t2,
            (r1, r2) => panic!("expected one winner and one Conflict, got {r1:?} / {r2:?}"),
        };
        let desc = two.describe(secret).await.unwrap();
        assert_eq!(
            desc.with_stage(Stage::Current).map(|v| v.id.as_str()),
            Some(winner.as_str())
        );
        assert_eq!(
            desc.with_stage(Stage::Previous).map(|v| v.id.as_str()),
            Some(current.as_str())
        );
        current = winner;
        wins += 1;
    }
    assert_eq!(wins, 30);
}

// ---------------------------------------------------------------- shared extras

#[tokio::test]
async fn memory_store_reports_rotation_settings_and_times() {
    let store = MemoryStore::new();
    check_rotation_settings_and_times(&store).await;
    store.set_rotation_enabled("settings", Some(false)).unwrap();
    assert_eq!(
        store.describe("settings").await.unwrap().rotation_enabled,
        Some(false)
    );
    store.set_rotation_enabled("settings", None).unwrap();
    assert_eq!(
        store.describe("settings").await.unwrap().rotation_enabled,
        None
    );
    assert!(matches!(
        store.set_rotation_enabled("nope", Some(true)),
        Err(StoreError::NotFound { .. })
    ));
    // Clones share state.
    let clone = store.clone();
    clone
        .create_secret("from-clone", &new_token(), &sample_document("c"))
        .await
        .unwrap();
    assert!(store.describe("from-clone").await.is_ok());
}

#[tokio::test]
async fn file_store_reports_rotation_settings_and_times() {
    let (_tmp, dir) = store_dir();
    let store = FileStore::open(&dir).unwrap();
    check_rotation_settings_and_times(&store).await;
    store.set_rotation_enabled("settings", false).await.unwrap();
    assert_eq!(
        store.describe("settings").await.unwrap().rotation_enabled,
        Some(false)
    );
    let doc: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("settings.json")).unwrap()).unwrap();
    assert_eq!(doc["rotation_enabled"], serde_json::Value::Bool(false));
    assert!(matches!(
        store.set_rotation_enabled("nope", true).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(!dir.join("nope.json").exists());
}

async fn check_rotation_settings_and_times(store: &dyn SecretStore) {
    let secret = "settings";
    let a = new_token();
    store
        .create_secret(secret, &a, &sample_document("settings"))
        .await
        .unwrap();
    let desc = store.describe(secret).await.unwrap();
    assert_eq!(desc.secret_id, secret);
    assert_eq!(desc.rotation_enabled, Some(true));
    assert_eq!(desc.last_rotated, None);
    let created_a = desc
        .version(&a)
        .unwrap()
        .created_at
        .expect("created_at of the first version");

    let b = new_token();
    store.begin_rotation(secret, &b).await.unwrap();
    store
        .put_pending(secret, &b, &sample_document("settings"))
        .await
        .unwrap();
    let desc = store.describe(secret).await.unwrap();
    let created_b = desc
        .version(&b)
        .unwrap()
        .created_at
        .expect("created_at of the pending version");
    assert!(created_b >= created_a);
    assert_eq!(desc.last_rotated, None, "put_pending is not a rotation");

    store.promote(secret, &b, &a).await.unwrap();
    let rotated = store
        .describe(secret)
        .await
        .unwrap()
        .last_rotated
        .expect("last_rotated after promote");
    assert!(rotated >= created_b);
    store.promote(secret, &b, &a).await.unwrap();
    assert_eq!(
        store.describe(secret).await.unwrap().last_rotated,
        Some(rotated),
        "a no-op promote is not a rotation"
    );
    let value = store
        .get_value(secret, &VersionSelector::Stage(Stage::Current))
        .await
        .unwrap();
    assert_eq!(value.created_at, Some(created_b));
}

// ---------------------------------------------------------------- file store: permissions

#[tokio::test]
async fn file_store_creates_private_files_and_directories() {
    let (_tmp, dir) = store_dir();
    let store = FileStore::open(&dir).unwrap();
    assert_eq!(mode(&dir), 0o700);
    store
        .create_secret("team/prod-app", &new_token(), &sample_document("p"))
        .await
        .unwrap();
    assert_eq!(mode(&dir.join("team")), 0o700);
    assert_eq!(mode(&dir.join("team/prod-app.json")), 0o600);
    assert_eq!(mode(&dir.join("team/prod-app.lock")), 0o600);
    assert_eq!(
        store.secret_path("team/prod-app").unwrap(),
        dir.join("team/prod-app.json")
    );
}

#[tokio::test]
async fn file_store_refuses_a_directory_open_to_others() {
    let (_tmp, dir) = store_dir();
    fs::create_dir(&dir).unwrap();
    chmod(&dir, 0o755);
    match FileStore::open(&dir) {
        Err(FileStoreOpenError::Precondition { message, .. }) => {
            assert!(
                message.contains(&format!("chmod 700 {}", dir.display())),
                "{message}"
            );
            assert!(message.contains("0755"), "{message}");
        }
        other => panic!("expected a Precondition error, got {other:?}"),
    }

    // A directory loosened after open is refused at the next operation.
    chmod(&dir, 0o700);
    let store = FileStore::open(&dir).unwrap();
    store
        .create_secret("app", &new_token(), &sample_document("a"))
        .await
        .unwrap();
    chmod(&dir, 0o750);
    let err = store.describe("app").await.unwrap_err();
    assert!(matches!(err, StoreError::Precondition { .. }), "{err}");
    assert!(
        err.to_string()
            .contains(&format!("chmod 700 {}", dir.display())),
        "{err}"
    );
    let err = store
        .put_pending("app", &new_token(), &sample_document("a"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Precondition { .. }), "{err}");
}

#[tokio::test]
async fn file_store_refuses_a_file_readable_by_others() {
    let (_tmp, dir) = store_dir();
    let store = FileStore::open(&dir).unwrap();
    let value = sample_document("perm");
    let a = new_token();
    store.create_secret("app", &a, &value).await.unwrap();
    let file = dir.join("app.json");
    chmod(&file, 0o644);
    let before = fs::read(&file).unwrap();

    let err = store
        .get_value("app", &VersionSelector::Stage(Stage::Current))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Precondition { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&format!("chmod 600 {}", file.display())),
        "{text}"
    );
    assert!(!text.contains(&api_key_of(&value)));
    let err = store
        .put_pending("app", &new_token(), &sample_document("perm"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Precondition { .. }), "{err}");
    assert_eq!(
        fs::read(&file).unwrap(),
        before,
        "a refused write changed the file"
    );
    assert_eq!(
        mode(&file),
        0o644,
        "the store must not silently fix permissions"
    );

    chmod(&file, 0o600);
    store.describe("app").await.unwrap();
}

// ---------------------------------------------------------------- file store: names, writes, layout

#[tokio::test]
async fn file_store_refuses_unsafe_secret_names() {
    let (tmp, dir) = store_dir();
    let store = FileStore::open(&dir).unwrap();
    for name in [
        "../escape",
        "/etc/passwd",
        "a//b",
        "a/",
        ".hidden",
        "a/../b",
        "sp ace",
        "",
        "ü",
    ] {
        let err = store
            .create_secret(name, &new_token(), &sample_document("n"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Precondition { .. }),
            "{name:?}: {err}"
        );
        assert!(
            err.to_string().contains("letters, digits"),
            "{name:?}: {err}"
        );
        assert!(matches!(
            store.describe(name).await,
            Err(StoreError::Precondition { .. })
        ));
    }
    let outside: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        outside,
        ["secrets"],
        "nothing may be written outside the store directory"
    );
}

/// Every file left in the store directory: relative paths, sorted.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn file_store_writes_leave_no_temporary_files() {
    let (_tmp, dir) = store_dir();
    let store = FileStore::open(&dir).unwrap();
    for secret in ["app", "team/app"] {
        let mut current = new_token();
        store
            .create_secret(secret, &current, &sample_document(secret))
            .await
            .unwrap();
        for _ in 0..5 {
            let t = new_token();
            store.begin_rotation(secret, &t).await.unwrap();
            store
                .put_pending(secret, &t, &sample_document(secret))
                .await
                .unwrap();
            store.promote(secret, &t, &current).await.unwrap();
            current = t;
        }
    }
    assert_eq!(
        files_under(&dir),
        ["app.json", "app.lock", "team/app.json", "team/app.lock"]
    );

    // A temp file left by a writer that crashed mid-write is removed by the next write.
    let stale = dir.join(".app.json.tmp");
    fs::write(&stale, b"{\"partial").unwrap();
    chmod(&stale, 0o600);
    let t = new_token();
    store.begin_rotation("app", &t).await.unwrap();
    assert!(!stale.exists(), "stale temporary file was not cleaned up");
    store.clear_pending("app", &t).await.unwrap();
    // ...and never confuses readers.
    store.describe("app").await.unwrap();
}

#[tokio::test]
async fn file_store_corrupt_file_gives_a_clear_error_without_the_key() {
    let (_tmp, dir) = store_dir();
    let store = FileStore::open(&dir).unwrap();
    let file = dir.join("bad.json");
    let leak = "sk-or-v1-LEAKCANARY0123456789";
    for text in [
        format!(
            "{{\"format\":\"rotor-file-store/1\",\"secret\":\"bad\",\"stages\":\"{leak}\",\"versions\":{{}}}}"
        ),
        format!(
            "{{\"format\":\"rotor-file-store/1\",\"secret\":\"bad\",\"stages\":{{}},\"versions\":{{\"v\":{{\"value\":7,\"created_at\":\"{leak}\"}}}}}}"
        ),
        format!("{{\"api_key\":\"{leak}\""),
    ] {
        fs::write(&file, text).unwrap();
        chmod(&file, 0o600);
        let err = store.describe("bad").await.unwrap_err();
        assert!(matches!(err, StoreError::Backend { .. }), "{err}");
        let message = err.to_string();
        assert!(
            message.contains("bad.json") && message.contains("rotor-file-store/1"),
            "{message}"
        );
        assert!(
            !message.contains("LEAKCANARY"),
            "the error echoes file content: {message}"
        );
    }
}

/// Writes a secret with a known current and previous key, returns (file, current key, previous key).
async fn secret_with_two_keys(store: &FileStore, secret: &str) -> (PathBuf, String, String) {
    let (a, va) = (new_token(), sample_document(secret));
    store.create_secret(secret, &a, &va).await.unwrap();
    let (b, vb) = (new_token(), sample_document(secret));
    store.begin_rotation(secret, &b).await.unwrap();
    store.put_pending(secret, &b, &vb).await.unwrap();
    store.promote(secret, &b, &a).await.unwrap();
    // A pending rotation in progress must not confuse the one-liners.
    let c = new_token();
    store.begin_rotation(secret, &c).await.unwrap();
    store
        .put_pending(secret, &c, &sample_document(secret))
        .await
        .unwrap();
    (
        store.secret_path(secret).unwrap(),
        api_key_of(&vb),
        api_key_of(&va),
    )
}

fn run_one_liner(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .trim_end_matches('\n')
        .to_owned()
}

/// The python one-liner documented in docs/file-store.md (python3 is always installed).
#[tokio::test]
async fn file_store_layout_is_readable_by_the_documented_python_one_liner() {
    let (_tmp, dir) = store_dir();
    let store = FileStore::open(&dir).unwrap();
    let (file, current, previous) = secret_with_two_keys(&store, "team/prod-app").await;
    let file = file.to_str().unwrap();
    let read = |stage: &str| {
        let script = format!(
            "import json,sys; d=json.load(open(sys.argv[1])); \
             print(json.loads(d['versions'][d['stages']['{stage}']]['value'])['api_key'])"
        );
        run_one_liner("python3", &["-c", &script, file])
    };
    assert!(
        read("AWSCURRENT") == current,
        "python one-liner did not read the current key"
    );
    assert!(
        read("AWSPREVIOUS") == previous,
        "python one-liner did not read the previous key"
    );
}

/// The jq one-liner documented in docs/file-store.md, run for real (`tests/run` installs jq).
#[tokio::test]
async fn file_store_layout_is_readable_by_the_documented_jq_one_liner() {
    let (_tmp, dir) = store_dir();
    let store = FileStore::open(&dir).unwrap();
    let (file, current, previous) = secret_with_two_keys(&store, "prod-app").await;
    let file = file.to_str().unwrap();
    assert!(
        Command::new("jq").arg("--version").output().is_ok(),
        "jq is not installed: run tests/run, which installs it (the documented one-liner uses it)"
    );
    let current_read = run_one_liner(
        "jq",
        &[
            "-r",
            ".versions[.stages.AWSCURRENT].value | fromjson | .api_key",
            file,
        ],
    );
    assert!(
        current_read == current,
        "jq one-liner did not read the current key"
    );
    let previous_read = run_one_liner(
        "jq",
        &[
            "-r",
            ".versions[.stages.AWSPREVIOUS].value | fromjson | .api_key",
            file,
        ],
    );
    assert!(
        previous_read == previous,
        "jq one-liner did not read the previous key"
    );
}

// ---------------------------------------------------------------- file store: lock

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_store_lock_blocks_writers_but_not_readers() {
    let (_tmp, dir) = store_dir();
    let store = FileStore::open(&dir).unwrap();
    let a = new_token();
    store
        .create_secret("app", &a, &sample_document("lock"))
        .await
        .unwrap();

    // Another process's read-modify-write in progress: hold the documented lock file.
    let lock_path = dir.join("app.lock");
    assert_eq!(store.lock_path("app").unwrap(), lock_path);
    let holder = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&lock_path)
        .unwrap();
    fs4::FileExt::try_lock(&holder).unwrap();

    let impatient = store.clone().with_lock_timeout(Duration::from_millis(200));
    let err = impatient
        .put_pending("app", &new_token(), &sample_document("lock"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Transient { .. }), "{err}");
    assert!(err.is_retryable());
    assert!(
        err.to_string().contains(&lock_path.display().to_string()),
        "{err}"
    );
    assert!(store.describe("app").await.is_ok(), "reads need no lock");

    // A patient writer waits for the lock, then completes.
    let writer = {
        let store = store.clone().with_lock_timeout(Duration::from_secs(30));
        tokio::spawn(async move {
            let t = new_token();
            store
                .put_pending("app", &t, &sample_document("lock"))
                .await
                .map(|()| t)
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !writer.is_finished(),
        "the writer did not wait for the lock"
    );
    drop(holder);
    let t = tokio::time::timeout(Duration::from_secs(10), writer)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let desc = store.describe("app").await.unwrap();
    assert_eq!(desc.stages_of(&t), [Stage::Pending]);
}

// ---------------------------------------------------------------- file store: processes

const WORKER_DIR_ENV: &str = "ROTOR_FILE_STORE_RMW_WORKER_DIR";
const COUNTER: &str = "counter";
const ROTATIONS_PER_WORKER: u64 = 15;

fn counter_value(seq: u64) -> SecretString {
    let key: [u8; 32] = rand::random();
    SecretString::from(format!(
        "{{\"api_key\":\"sk-or-v1-{}\",\"seq\":{seq}}}",
        hex::encode(key)
    ))
}

fn seq_of(value: &SecretString) -> u64 {
    let doc: serde_json::Value = serde_json::from_str(value.expose_secret()).unwrap();
    doc["seq"].as_u64().unwrap()
}

/// `ROTATIONS_PER_WORKER` successful check-and-set rotations of COUNTER, each storing the
/// current value's `seq` + 1 and promoting from the version it read. If two read-modify-writes
/// ever interleaved, two promotes from the same version would both succeed and the final `seq`
/// would be lower than the number of successful promotes.
async fn counter_worker(dir: &Path) {
    let store = FileStore::open(dir)
        .unwrap()
        .with_lock_timeout(Duration::from_secs(60));
    let mut done = 0;
    while done < ROTATIONS_PER_WORKER {
        let current = store
            .get_value(COUNTER, &VersionSelector::Stage(Stage::Current))
            .await
            .unwrap();
        let token = new_token();
        store
            .put_pending(COUNTER, &token, &counter_value(seq_of(&current.value) + 1))
            .await
            .unwrap();
        match store.promote(COUNTER, &token, &current.version_id).await {
            Ok(()) => done += 1,
            Err(StoreError::Conflict { .. } | StoreError::NotFound { .. }) => {}
            Err(e) => panic!("promote failed: {e}"),
        }
    }
}

async fn final_seq(dir: &Path) -> u64 {
    let store = FileStore::open(dir).unwrap();
    seq_of(
        &store
            .get_value(COUNTER, &VersionSelector::Stage(Stage::Current))
            .await
            .unwrap()
            .value,
    )
}

async fn create_counter(dir: &Path) {
    FileStore::open(dir)
        .unwrap()
        .create_secret(COUNTER, &new_token(), &counter_value(0))
        .await
        .unwrap();
}

/// Run alone, this checks four FileStore instances in four threads of this process. Spawned by
/// `file_store_processes_never_lose_an_update` with WORKER_DIR_ENV set, it is one of the
/// worker processes (the parent checks the total).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn file_store_rmw_worker() {
    if let Ok(dir) = std::env::var(WORKER_DIR_ENV) {
        counter_worker(Path::new(&dir)).await;
        return;
    }
    let (_tmp, dir) = store_dir();
    create_counter(&dir).await;
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let dir = dir.clone();
            tokio::spawn(async move { counter_worker(&dir).await })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    assert_eq!(final_seq(&dir).await, 4 * ROTATIONS_PER_WORKER);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_store_processes_never_lose_an_update() {
    let (_tmp, dir) = store_dir();
    create_counter(&dir).await;
    let exe = std::env::current_exe().unwrap();
    const PROCESSES: u64 = 3;
    let children: Vec<_> = (0..PROCESSES)
        .map(|_| {
            tokio::process::Command::new(&exe)
                .args([
                    "--exact",
                    "file_store_rmw_worker",
                    "--test-threads=1",
                    "--nocapture",
                ])
                .env(WORKER_DIR_ENV, &dir)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().await.unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "worker process failed: {}\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(final_seq(&dir).await, PROCESSES * ROTATIONS_PER_WORKER);
    let desc = FileStore::open(&dir)
        .unwrap()
        .describe(COUNTER)
        .await
        .unwrap();
    assert!(desc.with_stage(Stage::Previous).is_some());
}

/// What the file store hands the engine's read cache after its own write
/// (`snapshot_after_write`, once) is exactly what a fresh read returns, values included.
#[tokio::test]
async fn file_store_view_after_its_write_equals_a_fresh_read() {
    let (_tmp, dir) = store_dir();
    let store = FileStore::open(&dir).unwrap();
    let first = new_token();
    store
        .create_secret("app", &first, &sample_document("app"))
        .await
        .unwrap();
    let t = new_token();
    store.begin_rotation("app", &t).await.unwrap();
    let after = store.snapshot_after_write("app").expect("after begin");
    assert!(
        store.snapshot_after_write("app").is_none(),
        "handed out once"
    );
    let fresh = store.snapshot("app").await.unwrap();
    assert_same_snapshot(&after, &fresh, "after begin_rotation");
    store
        .put_pending("app", &t, &sample_document("app"))
        .await
        .unwrap();
    let after = store
        .snapshot_after_write("app")
        .expect("after put_pending");
    let fresh = store.snapshot("app").await.unwrap();
    assert_same_snapshot(&after, &fresh, "after put_pending");
    assert_eq!(
        fresh.values.as_ref().map(Vec::len),
        Some(2),
        "current and pending values"
    );
}
