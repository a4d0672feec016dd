//! The accept loop. Connections are served with hyper directly (not `axum::serve`) so that a
//! commit-then-drop fault can close a connection without writing a response: each connection
//! gets a [`ConnectionAbort`] handle, and the connection task drops the connection when it fires.

use std::{sync::Arc, time::Duration};

use axum::Router;
use hyper_util::rt::TokioIo;
use tokio::{net::TcpListener, sync::watch, task::JoinSet};
use tower::ServiceExt;

use crate::shared::ConnectionAbort;

/// How long a graceful shutdown waits for in-flight requests before closing connections.
const DRAIN: Duration = Duration::from_secs(5);

/// Serves `app` on `listener` until `shutdown` turns true, then drains in-flight requests.
pub(crate) async fn serve(listener: TcpListener, app: Router, mut shutdown: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(serve_connection(stream, app.clone(), shutdown.clone()));
                }
                Err(e) => {
                    // EMFILE and friends: back off briefly instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.changed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(DRAIN, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "connections still open after the drain period; closing them"
        );
        connections.abort_all();
    }
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    app: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let abort = Arc::new(tokio::sync::Notify::new());
    let handle = ConnectionAbort(abort.clone());
    let service =
        hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(handle.clone());
            app.clone().oneshot(request.map(axum::body::Body::new))
        });
    let connection =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let mut shutting_down = *shutdown.borrow();
    if shutting_down {
        connection.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            _ = abort.notified() => {
                // Dropping the connection closes the socket without writing the pending response.
                return;
            }
            changed = shutdown.changed(), if !shutting_down => {
                shutting_down = true;
                let _ = changed;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}
