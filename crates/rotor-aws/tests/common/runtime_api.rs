//! A small Lambda Runtime API server (the part of AWS Lambda a custom runtime talks to), so tests
//! and the benchmark drive the real `bootstrap` binary exactly as Lambda does:
//! `GET /2018-06-01/runtime/invocation/next` hands out events, `POST …/{id}/response|error`
//! collects results, `POST /2018-06-01/runtime/init/error` records a failed start.

use std::{
    collections::HashMap,
    net::SocketAddr,
    process::Stdio,
    sync::{Arc, Mutex as StdMutex},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use tokio::{
    io::AsyncReadExt,
    process::{Child, Command},
    sync::{Mutex, mpsc, oneshot},
};

/// What the function answered: `Ok(response body)` or `Err((errorType, errorMessage))`.
pub type Outcome = Result<serde_json::Value, (String, String)>;

struct Shared {
    queue_rx: Mutex<mpsc::UnboundedReceiver<(String, Vec<u8>)>>,
    waiting: StdMutex<HashMap<String, oneshot::Sender<Outcome>>>,
    first_next: StdMutex<Option<Instant>>,
    init_error: StdMutex<Option<String>>,
}

pub struct RuntimeApi {
    pub addr: SocketAddr,
    queue_tx: mpsc::UnboundedSender<(String, Vec<u8>)>,
    shared: Arc<Shared>,
}

impl RuntimeApi {
    pub async fn start() -> RuntimeApi {
        let (queue_tx, queue_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            queue_rx: Mutex::new(queue_rx),
            waiting: StdMutex::new(HashMap::new()),
            first_next: StdMutex::new(None),
            init_error: StdMutex::new(None),
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind runtime API");
        let addr = listener.local_addr().expect("runtime API address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        RuntimeApi {
            addr,
            queue_tx,
            shared,
        }
    }

    /// Sends one event and waits (at most `timeout`) for the function's answer.
    pub async fn invoke(&self, payload: &serde_json::Value, timeout: Duration) -> Outcome {
        let id = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = oneshot::channel();
        self.shared
            .waiting
            .lock()
            .expect("lock")
            .insert(id.clone(), tx);
        self.queue_tx
            .send((id, serde_json::to_vec(payload).expect("payload")))
            .expect("queue");
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => panic!("runtime API: the invocation was dropped"),
            Err(_) => panic!(
                "runtime API: no answer from bootstrap within {timeout:?} (init error: {:?})",
                self.init_error()
            ),
        }
    }

    /// When the function first asked for an event (it is initialised and ready).
    pub fn first_next(&self) -> Option<Instant> {
        *self.shared.first_next.lock().expect("lock")
    }

    pub fn init_error(&self) -> Option<String> {
        self.shared.init_error.lock().expect("lock").clone()
    }
}

async fn next(State(s): State<Arc<Shared>>) -> Response {
    {
        let mut first = s.first_next.lock().expect("lock");
        first.get_or_insert_with(Instant::now);
    }
    let Some((id, body)) = s.queue_rx.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() + 60_000)
        .unwrap_or(0);
    let mut headers = HeaderMap::new();
    let hv = |s: &str| HeaderValue::from_str(s).expect("header");
    headers.insert("lambda-runtime-aws-request-id", hv(&id));
    headers.insert("lambda-runtime-deadline-ms", hv(&deadline.to_string()));
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        hv("arn:aws:lambda:us-east-1:000000000000:function:rotor-rotation"),
    );
    headers.insert(
        "lambda-runtime-trace-id",
        hv("Root=1-00000000-000000000000000000000000"),
    );
    headers.insert("content-type", hv("application/json"));
    (StatusCode::OK, headers, body).into_response()
}

async fn response(State(s): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    let value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    if let Some(tx) = s.waiting.lock().expect("lock").remove(&id) {
        let _ = tx.send(Ok(value));
    }
    StatusCode::ACCEPTED
}

async fn error(State(s): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    let t = v["errorType"].as_str().unwrap_or("").to_owned();
    let m = v["errorMessage"].as_str().unwrap_or("").to_owned();
    if let Some(tx) = s.waiting.lock().expect("lock").remove(&id) {
        let _ = tx.send(Err((t, m)));
    }
    StatusCode::ACCEPTED
}

async fn init_error(State(s): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    *s.init_error.lock().expect("lock") = Some(String::from_utf8_lossy(&body).into_owned());
    StatusCode::ACCEPTED
}

/// The real `bootstrap` binary, running against a [`RuntimeApi`].
pub struct Bootstrap {
    pub api: RuntimeApi,
    pub child: Child,
    pub started: Instant,
    logs: Arc<StdMutex<Vec<u8>>>,
}

impl Bootstrap {
    /// Spawns `bootstrap` with Lambda's usual environment plus `env`.
    pub async fn spawn(binary: &str, env: &[(&str, String)]) -> Bootstrap {
        let api = RuntimeApi::start().await;
        let mut cmd = Command::new(binary);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", "rotor-rotation")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/rotor-rotation")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let started = Instant::now();
        let mut child = cmd.spawn().expect("spawn bootstrap");
        let logs = Arc::new(StdMutex::new(Vec::new()));
        for mut pipe in [
            Box::new(child.stdout.take().expect("stdout"))
                as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let logs = logs.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 8192];
                while let Ok(n) = pipe.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    logs.lock().expect("lock").extend_from_slice(&buf[..n]);
                }
            });
        }
        Bootstrap {
            api,
            child,
            started,
            logs,
        }
    }

    pub async fn invoke(&self, payload: &serde_json::Value) -> Outcome {
        self.api.invoke(payload, Duration::from_secs(60)).await
    }

    /// Everything the function logged so far (stdout and stderr).
    pub fn logs(&self) -> String {
        String::from_utf8_lossy(&self.logs.lock().expect("lock")).into_owned()
    }

    /// Peak RSS of the process so far (VmHWM from /proc), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let pid = self.child.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    }

    /// Where the resident memory is right now: `Threads`, `RssAnon`, `RssFile` from
    /// /proc/PID/status, e.g. `threads 2, RssAnon 6.1 MiB, RssFile 5.9 MiB`.
    pub fn rss_split(&self) -> Option<String> {
        let pid = self.child.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        };
        Some(format!(
            "threads {}, RssAnon {:.1} MiB, RssFile {:.1} MiB",
            field("Threads:")?,
            field("RssAnon:")? as f64 / 1024.0,
            field("RssFile:")? as f64 / 1024.0
        ))
    }

    /// User + system CPU time of the process so far (/proc/PID/stat), in milliseconds.
    pub fn cpu_ms(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()?)).ok()?;
        // The fields after the command name (which may hold spaces) in parentheses.
        let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
        let ticks: u64 =
            fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        // USER_HZ is 100 on Linux.
        Some(ticks as f64 * 10.0)
    }

    /// /proc/PID/smaps of the process (every mapping with its Rss), for a closer look.
    pub fn smaps(&self) -> Option<String> {
        std::fs::read_to_string(format!("/proc/{}/smaps", self.child.id()?)).ok()
    }
}
