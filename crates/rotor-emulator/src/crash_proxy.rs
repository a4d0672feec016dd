//! A counting HTTP proxy for black-box crash tests: put one in front of every service a process
//! calls (OpenRouter, Vault, Secrets Manager), share one [`KillPlan`], and the proxy kills the
//! process with SIGKILL right before or right after the chosen call. Tests only.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;

/// Kill the process before the call reaches the service, or after the service answered (the
/// answer never reaches the process).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Before,
    After,
}

/// What every proxy of one run shares: the call counter, the plan, the victim, the call log.
#[derive(Debug, Default)]
pub struct KillPlan {
    calls: AtomicUsize,
    kill_at: Mutex<Option<(usize, When)>>,
    victim: Mutex<Option<u32>>,
    killed: Mutex<bool>,
    log: Mutex<Vec<String>>,
}

impl KillPlan {
    /// A new run: count from 1, kill `victim` at `kill_at` (call number, when), if given.
    pub fn reset(&self, kill_at: Option<(usize, When)>, victim: Option<u32>) {
        self.calls.store(0, Ordering::SeqCst);
        *self.kill_at.lock().unwrap() = kill_at;
        *self.victim.lock().unwrap() = victim;
        *self.killed.lock().unwrap() = false;
        self.log.lock().unwrap().clear();
    }

    /// Sets the process to kill (once it is spawned).
    pub fn set_victim(&self, pid: Option<u32>) {
        *self.victim.lock().unwrap() = pid;
    }

    /// Whether the planned kill happened.
    pub fn killed(&self) -> bool {
        *self.killed.lock().unwrap()
    }

    /// The calls seen in this run, in order (`NAME METHOD PATH [X-Amz-Target]`).
    pub fn calls(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    fn kill(&self) {
        if let Some(pid) = *self.victim.lock().unwrap() {
            // Flag first: the test reads it as soon as the process is gone.
            *self.killed.lock().unwrap() = true;
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        }
    }
}

struct ProxyState {
    upstream: String,
    plan: Arc<KillPlan>,
    http: reqwest::Client,
    name: &'static str,
}

/// Starts a proxy named `name` (in the call log) to `upstream` on a free loopback port; returns
/// its base URL.
pub async fn start(name: &'static str, upstream: &str, plan: Arc<KillPlan>) -> String {
    let state = Arc::new(ProxyState {
        upstream: upstream.trim_end_matches('/').to_owned(),
        plan,
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("an HTTP client"),
        name,
    });
    let app = axum::Router::new().fallback(forward).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("its address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

fn bad_gateway() -> Response {
    Response::builder()
        .status(502)
        .body(Body::empty())
        .expect("a response")
}

async fn forward(State(st): State<Arc<ProxyState>>, req: Request) -> Response {
    let n = st.plan.calls.fetch_add(1, Ordering::SeqCst) + 1;
    let method = req.method().clone();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let target = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(|t| format!(" {t}"))
        .unwrap_or_default();
    st.plan.log.lock().unwrap().push(format!(
        "{} {method} {}{target}",
        st.name,
        path.split('?').next().unwrap_or("")
    ));
    let plan = *st.plan.kill_at.lock().unwrap();
    if plan == Some((n, When::Before)) {
        st.plan.kill();
        return bad_gateway();
    }
    let headers = req.headers().clone();
    let body = axum::body::to_bytes(req.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    let mut out = st
        .http
        .request(method, format!("{}{path}", st.upstream))
        .body(body);
    for (k, v) in &headers {
        if k != "host" && k != "content-length" && k != "connection" {
            out = out.header(k, v);
        }
    }
    let Ok(resp) = out.send().await else {
        return bad_gateway();
    };
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.unwrap_or_default();
    if plan == Some((n, When::After)) {
        st.plan.kill();
    }
    let mut builder = Response::builder().status(status);
    for (k, v) in &headers {
        if k != "transfer-encoding" && k != "connection" && k != "content-length" {
            builder = builder.header(k, v);
        }
    }
    builder
        .body(Body::from(bytes))
        .unwrap_or_else(|_| bad_gateway())
}
