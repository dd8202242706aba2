//! The embedded signalling server: rooms over WebSocket + JSON, in-process.
//!
//! ```no_run
//! # async fn demo() -> rtcgate_core::Result<()> {
//! use rtcgate_core::signalling::{ServerConfig, SignallingServer};
//!
//! let server = SignallingServer::bind("127.0.0.1:0".parse().unwrap(), ServerConfig::default()).await?;
//! println!("clients connect to {}", server.url());
//! // ...
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! The protocol, its errors and limits are described in `docs/signalling.md`.
//!
//! Modules: `config` (settings), `http` (accept loop, routes, upgrade),
//! `connection` (one WebSocket), `room` (rooms and relaying), `outbox`
//! (bounded per-connection queue), `rate_limit` (token bucket), `tls`
//! (certificate and key).

mod config;
mod connection;
mod http;
mod outbox;
mod rate_limit;
mod room;
mod tls;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::timeout;
use tracing::info;

pub use config::{RateLimitConfig, ServerConfig};
use room::{Registry, RoomRules};
pub use tls::TlsConfig;

use crate::error::Result;
use crate::signalling::token::TokenVerifier;

/// State shared by the server's tasks.
#[derive(Debug)]
struct Shared {
    config: ServerConfig,
    registry: Registry,
    /// Becomes `true` once shutdown starts.
    shutdown: watch::Receiver<bool>,
    /// WebSocket connection tasks; taken (`None`) once shutdown starts.
    tasks: Mutex<Option<JoinSet<()>>>,
    /// Open WebSocket connections.
    connections: AtomicUsize,
    /// Verifies signed access tokens, when the server requires them.
    tokens: Option<TokenVerifier>,
}

/// Resolves once shutdown has started (or the server handle is gone).
async fn stopping(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

impl Shared {
    fn lock_tasks(&self) -> MutexGuard<'_, Option<JoinSet<()>>> {
        self.tasks.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running signalling server.
///
/// Serves the room protocol at `/ws` and, when
/// [`ServerConfig::web_root`] is set, static files at `/`. Stop it with
/// [`shutdown`](Self::shutdown); dropping it also stops it, best effort
/// (in the background when a tokio runtime is available, by aborting the
/// tasks otherwise).
pub struct SignallingServer {
    local_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    shared: Arc<Shared>,
    accept_task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SignallingServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignallingServer")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl SignallingServer {
    /// Binds `addr` (port 0 picks a free port) and starts serving on the
    /// current tokio runtime.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) error for
    /// inconsistent settings (or a `web_root` that is not a directory), and
    /// an [`ErrorKind::Io`](crate::ErrorKind::Io) error when the address cannot be bound.
    pub async fn bind(addr: SocketAddr, config: ServerConfig) -> Result<Self> {
        config.validate()?;
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let registry = Registry::new(RoomRules {
            room_tokens: config.room_tokens.clone(),
            max_rooms: config.max_rooms,
            max_members_per_room: config.max_members_per_room,
        });
        let grace = config.close_timeout;
        let tls = config.tls.as_ref().map(tls::TlsConfig::acceptor);
        let tokens = config.token_verifier();
        let shared = Arc::new(Shared {
            config,
            registry,
            shutdown: shutdown_rx.clone(),
            tasks: Mutex::new(Some(JoinSet::new())),
            connections: AtomicUsize::new(0),
            tokens,
        });
        let router = http::router(Arc::clone(&shared));
        let accept_task =
            tokio::spawn(http::accept_loop(listener, tls, router, shutdown_rx, grace));
        info!(%local_addr, tls = shared.config.tls.is_some(), tokens = shared.tokens.is_some(), "signalling server listening");
        Ok(Self {
            local_addr,
            shutdown,
            shared,
            accept_task: Some(accept_task),
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The WebSocket URL clients connect to, `ws://HOST:PORT/ws`
    /// (`wss://` with TLS). A wildcard bind address (`0.0.0.0`, `::`) is
    /// replaced by the loopback address.
    pub fn url(&self) -> String {
        let scheme = if self.tls() { "wss" } else { "ws" };
        format!("{scheme}://{}/ws", self.reachable_addr())
    }

    /// The base HTTP URL, `http://HOST:PORT/` (`https://` with TLS), where
    /// the static files (if any) are served.
    pub fn http_url(&self) -> String {
        let scheme = if self.tls() { "https" } else { "http" };
        format!("{scheme}://{}/", self.reachable_addr())
    }

    fn tls(&self) -> bool {
        self.shared.config.tls.is_some()
    }

    /// Stops accepting, closes every connection (close code 1001 after the
    /// messages already queued) and waits until every task of the server
    /// has ended. Takes at most about twice
    /// [`ServerConfig::close_timeout`].
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.begin_stop() {
            stop.run().await;
        }
        info!(local_addr = %self.local_addr, "signalling server stopped");
    }

    fn reachable_addr(&self) -> SocketAddr {
        let ip = match self.local_addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        SocketAddr::new(ip, self.local_addr.port())
    }

    /// Signals shutdown and takes the task handles; `None` if already done.
    fn begin_stop(&mut self) -> Option<Stop> {
        let accept = self.accept_task.take()?;
        self.shutdown.send_replace(true);
        let connections = self.shared.lock_tasks().take();
        Some(Stop {
            accept: Some(accept),
            connections,
            grace: self.shared.config.close_timeout,
        })
    }
}

impl Drop for SignallingServer {
    fn drop(&mut self) {
        let Some(stop) = self.begin_stop() else {
            return;
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(stop.run());
        }
        // Otherwise dropping `stop` aborts every task.
    }
}

/// The tasks still to wind down after the shutdown signal.
struct Stop {
    accept: Option<JoinHandle<()>>,
    connections: Option<JoinSet<()>>,
    grace: Duration,
}

impl Stop {
    /// Waits for the tasks to end by themselves (each bounds its own close by
    /// `grace`), aborting whatever is left after twice that.
    async fn run(mut self) {
        let limit = self.grace * 2 + Duration::from_secs(1);
        let accept = self.accept.take();
        let connections = self.connections.take();
        let accept_done = async move {
            if let Some(mut accept) = accept
                && timeout(limit, &mut accept).await.is_err()
            {
                accept.abort();
                let _ = accept.await;
            }
        };
        let connections_done = async move {
            if let Some(mut connections) = connections {
                let _ = timeout(limit, async {
                    while connections.join_next().await.is_some() {}
                })
                .await;
                connections.shutdown().await;
            }
        };
        tokio::join!(accept_done, connections_done);
    }
}

impl Drop for Stop {
    fn drop(&mut self) {
        if let Some(accept) = &self.accept {
            accept.abort();
        }
        // Dropping the JoinSet aborts the connection tasks.
    }
}
