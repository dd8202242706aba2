//! [`SignallingServer`]: the embedded room server.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use rtcgate_core::signalling::{ServerConfig, SignallingServer as CoreServer};

use super::{Result, block_on, invalid, on_runtime, runtime};

/// The embedded signalling server (rooms over WebSocket + JSON). Stop it with
/// [`stop`](Self::stop) or `close()`; a server dropped without either is
/// stopped in the background.
#[derive(uniffi::Object)]
pub struct SignallingServer {
    server: Mutex<Option<CoreServer>>,
    url: String,
    port: u16,
}

#[uniffi::export]
impl SignallingServer {
    /// Starts a server on `bind_address` (`HOST:PORT`; `None`:
    /// `127.0.0.1:0`, a free port on loopback), serving the files of
    /// `web_root` at `/` if given. Blocks until it listens.
    #[uniffi::constructor]
    pub fn start(bind_address: Option<String>, web_root: Option<String>) -> Result<Arc<Self>> {
        let text = bind_address.as_deref().unwrap_or("127.0.0.1:0");
        let addr: SocketAddr = text
            .parse()
            .map_err(|e| invalid(format!("bind address {text:?}: {e}")))?;
        let mut config = ServerConfig::default();
        config.web_root = web_root.map(Into::into);
        let handle = runtime()?;
        let server = block_on(async move { handle.spawn(CoreServer::bind(addr, config)).await })?
            .map_err(|e| super::RtcgateError::Internal {
                detail: e.to_string(),
            })??;
        Ok(Arc::new(SignallingServer {
            url: server.url(),
            port: server.local_addr().port(),
            server: Mutex::new(Some(server)),
        }))
    }

    /// The WebSocket URL clients join with, `ws://HOST:PORT/ws`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The TCP port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// True until [`stop`](Self::stop).
    pub fn is_running(&self) -> bool {
        self.lock().is_some()
    }

    /// Stops the server, closing every connection (a few seconds at most).
    /// Stopping again does nothing.
    pub async fn stop(&self) -> Result<()> {
        let server = self.lock().take();
        if let Some(server) = server {
            on_runtime(server.shutdown()).await?;
        }
        Ok(())
    }
}

impl SignallingServer {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<CoreServer>> {
        self.server.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for SignallingServer {
    fn drop(&mut self) {
        if let Some(server) = self.lock().take()
            && let Ok(handle) = runtime()
        {
            handle.spawn(server.shutdown());
        }
    }
}
