//! The HTTP side: accept loop (with TLS when configured), router (`/ws` and
//! optional static files) and the WebSocket upgrade.
//!
//! The accept loop is our own rather than `axum::serve` so that every HTTP
//! connection task is tracked and ends on shutdown, and so that slow request
//! headers time out.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, State};
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;
use tower_http::services::ServeDir;
use tracing::{debug, error, warn};

use super::{Shared, connection, stopping};

/// Time a client has to send its request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Time a client has to complete the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Routes of the server.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let web_root = shared.config.web_root.clone();
    let router = Router::new().route("/ws", get(upgrade)).with_state(shared);
    match web_root {
        Some(root) => router.fallback_service(ServeDir::new(root)),
        None => router,
    }
}

/// Accepts TCP connections until shutdown (each through a TLS handshake
/// first when `tls` is set), then gives the open HTTP connections `grace` to
/// finish and aborts the rest.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
    grace: Duration,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = stopping(&mut shutdown) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let (router, shutdown) = (router.clone(), shutdown.clone());
                    match tls.clone() {
                        Some(tls) => connections.spawn(serve_https(tls, stream, peer, router, shutdown)),
                        None => connections.spawn(serve_http(stream, peer, router, shutdown)),
                    };
                }
                Err(e) => {
                    // Typically out of file descriptors: back off instead of spinning.
                    warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(finished) = connections.join_next(), if !connections.is_empty() => log_panic(finished),
        }
    }
    drop(listener);
    let _ = timeout(grace, async {
        while let Some(finished) = connections.join_next().await {
            log_panic(finished);
        }
    })
    .await;
    connections.shutdown().await;
}

/// Completes the TLS handshake (within [`TLS_HANDSHAKE_TIMEOUT`]), then
/// serves HTTP/1.1 over it. A failed handshake (garbage, plain HTTP, an
/// untrusted certificate at the client) just ends the connection.
async fn serve_https(
    tls: TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let handshake = tokio::select! {
        result = timeout(TLS_HANDSHAKE_TIMEOUT, tls.accept(stream)) => result,
        () = stopping(&mut shutdown) => return,
    };
    match handshake {
        Ok(Ok(stream)) => serve_http(stream, peer, router, shutdown).await,
        Ok(Err(e)) => debug!(%peer, "TLS handshake failed: {e}"),
        Err(_) => debug!(%peer, "no TLS handshake within {TLS_HANDSHAKE_TIMEOUT:?}"),
    }
}

/// Serves HTTP/1.1 on one connection (requests and the upgrade to WebSocket).
async fn serve_http<S>(
    stream: S,
    peer: SocketAddr,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = router.map_request(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        request
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
        .with_upgrades();
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = stopping(&mut shutdown) => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result {
        debug!(%peer, "http connection ended with an error: {e}");
    }
}

/// `GET /ws`: upgrades to a WebSocket connection, within the connection limit.
async fn upgrade(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let Some(slot) = ConnectionSlot::acquire(&shared) else {
        warn!(%peer, limit = shared.config.max_connections, "connection limit reached; refusing websocket");
        return (StatusCode::SERVICE_UNAVAILABLE, "too many connections").into_response();
    };
    let hard_cap = shared.config.max_frame_size;
    // Signalling messages are small: 4 KiB read buffer, eager writes (tungstenite's
    // defaults are 128 KiB each, per connection; docs/transport.md).
    upgrade
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(hard_cap)
        .max_frame_size(hard_cap)
        .on_upgrade(move |socket| async move {
            let tracked = Arc::clone(&shared);
            let mut tasks = shared.lock_tasks();
            match tasks.as_mut() {
                Some(tasks) => {
                    while let Some(finished) = tasks.try_join_next() {
                        log_panic(finished);
                    }
                    tasks.spawn(async move {
                        let _slot = slot;
                        connection::run(socket, tracked, peer).await;
                    });
                }
                // Shutting down: dropping the socket closes it.
                None => drop((socket, slot)),
            }
        })
}

/// One of the `max_connections` places; freed on drop.
struct ConnectionSlot(Arc<Shared>);

impl ConnectionSlot {
    fn acquire(shared: &Arc<Shared>) -> Option<Self> {
        let max = shared.config.max_connections;
        shared
            .connections
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Self(Arc::clone(shared)))
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::AcqRel);
    }
}

fn log_panic(finished: Result<(), tokio::task::JoinError>) {
    if let Err(e) = finished
        && e.is_panic()
    {
        error!("a signalling server task panicked: {e}");
    }
}
