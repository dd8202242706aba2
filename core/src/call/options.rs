//! [`CallOptions`]: how a call builds its peer connections.

use std::net::SocketAddr;
use std::time::Duration;

/// A STUN or TURN server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceServer {
    /// `stun:host:port` or `turn:host:port?transport=udp` URLs.
    pub urls: Vec<String>,
    /// TURN user name.
    pub username: String,
    /// TURN credential.
    pub credential: String,
}

impl IceServer {
    /// A STUN server.
    pub fn stun(url: impl Into<String>) -> Self {
        Self {
            urls: vec![url.into()],
            username: String::new(),
            credential: String::new(),
        }
    }

    /// A TURN server (UDP) with credentials.
    pub fn turn(
        url: impl Into<String>,
        username: impl Into<String>,
        credential: impl Into<String>,
    ) -> Self {
        Self {
            urls: vec![url.into()],
            username: username.into(),
            credential: credential.into(),
        }
    }
}

/// Options of a [`Call`](super::Call).
#[derive(Debug, Clone)]
pub struct CallOptions {
    /// STUN/TURN servers.
    pub ice_servers: Vec<IceServer>,
    /// Local UDP addresses to bind; the default `0.0.0.0:0` binds one socket per
    /// non-loopback interface.
    pub udp_addrs: Vec<SocketAddr>,
    /// Allow loopback host candidates (useful only when both peers are on one machine
    /// and no other interface exists).
    pub include_loopback: bool,
    /// How long a failed connection waits before an ICE restart is attempted.
    pub ice_restart_delay: Duration,
}

impl Default for CallOptions {
    fn default() -> Self {
        Self {
            ice_servers: Vec::new(),
            udp_addrs: vec![SocketAddr::from(([0, 0, 0, 0], 0))],
            include_loopback: false,
            ice_restart_delay: Duration::from_millis(500),
        }
    }
}
