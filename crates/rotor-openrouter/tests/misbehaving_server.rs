//! Answers the emulator never gives (it behaves like OpenRouter): a server that ignores `offset`,
//! HTML error pages, keys echoed in error bodies, `Retry-After` as an HTTP date, a 201 whose body
//! is cut. A tiny raw HTTP/1.1 server on 127.0.0.1:0 serves canned responses over real sockets.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant, SystemTime},
};

use rotor_openrouter::{
    ApiKey, Client, ClientConfig, CreateKeyRequest, Error, ListKeysOptions, RetryPolicy,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

const MGMT: &str = "sk-or-v1-1111111111111111111111111111111111111111111111111111111111111111";

/// Serves `respond(n)` (n = 0, 1, … per request) as the raw bytes of each response, one request
/// per connection. Returns the base URL and the request counter.
async fn serve(
    respond: impl Fn(usize) -> String + Send + Sync + 'static,
) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    let respond = Arc::new(respond);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let respond = respond.clone();
            tokio::spawn(async move {
                // Read the request head and body (Content-Length) before answering.
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(read) = socket.read(&mut chunk).await else {
                        return;
                    };
                    if read == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..read]);
                    let text = String::from_utf8_lossy(&buf);
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text[..end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().to_owned())
                            })
                            .and_then(|v| v.parse::<usize>().ok())
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                let _ = socket.write_all(respond(n).as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (format!("http://{addr}/api/v1"), count)
}

fn response(status: &str, headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n{body}",
        body.len()
    )
}

fn client(base: &str, retry: RetryPolicy) -> Client {
    Client::new(
        ClientConfig::new(base, ApiKey::new(MGMT))
            .with_retry(retry)
            .with_timeout(Duration::from_secs(5)),
    )
    .expect("client")
}

fn quick(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_secs(3),
        max_elapsed: Duration::from_secs(20),
    }
}

const KEY_JSON: &str = r#"{"hash":"h1","name":"n","label":"sk-or-v1-abc...1234","disabled":false,"limit":null,
"limit_remaining":null,"limit_reset":null,"include_byok_in_limit":false,"usage":0,"usage_daily":0,"usage_weekly":0,
"usage_monthly":0,"byok_usage":0,"byok_usage_daily":0,"byok_usage_weekly":0,"byok_usage_monthly":0,
"created_at":"2025-02-19T20:52:27.363244+00:00","updated_at":null,"creator_user_id":null,
"workspace_id":"0df9e665-d932-5740-b2c7-b52af166bc11"}"#;

#[tokio::test]
async fn a_server_ignoring_offset_does_not_loop_forever() {
    let (base, count) = serve(|_| {
        response(
            "200 OK",
            "Content-Type: application/json\r\n",
            &format!("{{\"data\":[{KEY_JSON}]}}"),
        )
    })
    .await;
    let err = client(&base, quick(1))
        .list_keys(&ListKeysOptions::default())
        .await
        .expect_err("endless pages");
    assert!(matches!(err, Error::Pagination { .. }), "{err:?}");
    assert_eq!(count.load(Ordering::SeqCst), 4); // the first page, then three exact repeats
}

#[tokio::test]
async fn html_error_pages_and_echoed_keys() {
    let leaked = "sk-or-v1-2222222222222222222222222222222222222222222222222222222222222222";
    let (base, _) = serve(move |n| match n {
        0 => response("502 Bad Gateway", "Content-Type: text/html\r\n", "<html><body>\n<h1>502 Bad Gateway</h1>\n</body></html>"),
        _ => response(
            "401 Unauthorized",
            "Content-Type: application/json\r\n",
            &format!(r#"{{"error":{{"code":"unauthorized","message":"key {leaked} / {MGMT} is invalid"}}}}"#),
        ),
    })
    .await;
    let c = client(&base, quick(1));
    let err = c.get_key("h1").await.expect_err("502");
    assert!(
        matches!(&err, Error::Server { status: 502, message } if message.contains("502 Bad Gateway")),
        "{err:?}"
    );
    let err = c.get_key("h1").await.expect_err("401");
    let text = format!("{err} {err:?}");
    assert!(matches!(err, Error::Unauthorized { .. }), "{text}");
    assert!(
        !text.contains("2222222222") && !text.contains("1111111111"),
        "{text}"
    );
    assert!(text.contains("sk-or-v1-[redacted]"), "{text}");
}

#[tokio::test]
async fn retry_after_as_an_http_date_is_honoured() {
    let (base, count) = serve(|n| match n {
        0 => {
            let at = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(2));
            response(
                "429 Too Many Requests",
                &format!("Retry-After: {at}\r\n"),
                r#"{"error":{"message":"Rate limit exceeded"}}"#,
            )
        }
        _ => response(
            "200 OK",
            "Content-Type: application/json\r\n",
            &format!("{{\"data\":{KEY_JSON}}}"),
        ),
    })
    .await;
    let started = Instant::now();
    let key = client(&base, quick(3))
        .get_key("h1")
        .await
        .expect("get after 429");
    let waited = started.elapsed();
    eprintln!("429 with Retry-After as a date 2 s ahead -> retried after {waited:?}");
    assert_eq!(key.hash, "h1");
    // The date has one-second resolution: at least 1 s must have passed.
    assert!(waited >= Duration::from_secs(1), "waited only {waited:?}");
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_created_key_whose_body_cannot_be_read_is_outcome_unknown() {
    let (base, count) = serve(|_| {
        response(
            "201 Created",
            "Content-Type: application/json\r\n",
            r#"{"data":{"hash":"h1"#,
        )
    })
    .await;
    let err = client(&base, quick(5))
        .create_key(&CreateKeyRequest {
            name: "half".into(),
            ..Default::default()
        })
        .await
        .expect_err("cut body");
    assert!(
        matches!(&err, Error::OutcomeUnknown { name, .. } if name == "half"),
        "{err:?}"
    );
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn redirects_are_not_followed_with_the_key() {
    let (base, count) = serve(|_| {
        response(
            "307 Temporary Redirect",
            "Location: http://127.0.0.1:9/elsewhere\r\n",
            "",
        )
    })
    .await;
    let err = client(&base, quick(3))
        .get_key("h1")
        .await
        .expect_err("redirect");
    assert!(
        matches!(err, Error::UnexpectedStatus { status: 307, .. }),
        "{err:?}"
    );
    assert_eq!(count.load(Ordering::SeqCst), 1);
}
