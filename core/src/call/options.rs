//! [`CallOptions`]: how a call builds its peer connections.

use std::net::SocketAddr;
use std::time::Duration;

/// A STUN or TURN server.
///
/// TURN works over UDP only (`turn:host:port` or `turn:host:port?transport=udp`):
/// the WebRTC stack skips `turns:` and `?transport=tcp` URLs with a warning, so a
/// list copied from a TURN provider may keep them but needs a UDP one to relay.
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

/// Which ICE candidates a call may use (W3C `RTCIceTransportPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IceTransportPolicy {
    /// Host, server-reflexive (STUN) and relay (TURN) candidates.
    #[default]
    All,
    /// Relay candidates only: every packet goes through a TURN server, which
    /// hides the local addresses from the other members. Needs a TURN server
    /// in [`CallOptions::ice_servers`]; without one no connection can form.
    Relay,
}

/// When ICE declares a path dead, and how often it checks an idle one.
///
/// ICE sends a consent check (STUN binding request) on the selected path every
/// `keepalive_interval`; any packet from the other side counts as life. After
/// `disconnected` without one the connection is
/// [`Disconnected`](super::ConnectionState::Disconnected) (it comes back by
/// itself if packets resume); after a further `failed` it is
/// [`Failed`](super::ConnectionState::Failed) and the call restarts ICE. A
/// new or restarted session that has not connected after
/// `disconnected + failed` fails too.
///
/// The defaults are webrtc-rs's (5 s, 25 s, 2 s): a dead path is given up
/// after half a minute, which rides out a Wi-Fi hand-over. Shorter values
/// detect failures sooner at the cost of restarting on brief outages;
/// `keepalive_interval` should stay well below `disconnected`. A zero
/// `disconnected` or `failed` disables that transition; a zero
/// `keepalive_interval` sends no keepalives (an idle connection then looks
/// disconnected).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IceTimeouts {
    /// Silence after which the connection is disconnected.
    pub disconnected: Duration,
    /// Further silence after which it is failed.
    pub failed: Duration,
    /// Interval of consent checks on the selected path.
    pub keepalive_interval: Duration,
}

impl Default for IceTimeouts {
    fn default() -> Self {
        Self {
            disconnected: Duration::from_secs(5),
            failed: Duration::from_secs(25),
            keepalive_interval: Duration::from_secs(2),
        }
    }
}

/// Options of a [`Call`](super::Call).
///
/// Build with struct update syntax so that new options keep their defaults:
/// `CallOptions { ice_servers: vec![...], ..Default::default() }`.
#[derive(Debug, Clone)]
pub struct CallOptions {
    /// STUN/TURN servers.
    pub ice_servers: Vec<IceServer>,
    /// Which candidates may be used (default: all).
    pub ice_transport_policy: IceTransportPolicy,
    /// Disconnection/failure detection (default: 5 s / +25 s, keepalive 2 s).
    pub ice_timeouts: IceTimeouts,
    /// Local UDP addresses to bind; the default `0.0.0.0:0` binds one socket per
    /// non-loopback interface.
    pub udp_addrs: Vec<SocketAddr>,
    /// Allow loopback host candidates (useful only when both peers are on one machine
    /// and no other interface exists).
    pub include_loopback: bool,
    /// How long a failed connection waits before an ICE restart is attempted
    /// (by the impolite side of the pair; the other side answers it).
    pub ice_restart_delay: Duration,
    /// Send and receive buffer size asked for on every UDP socket (default 4 MiB;
    /// the kernel caps it at `net.core.rmem_max` / `wmem_max`; 0 keeps the
    /// kernel's default). Small buffers drop bursts, and SCTP repairs such
    /// losses only after a ≥ 1 s timeout (docs/transport.md).
    pub socket_buffer_size: usize,
}

impl Default for CallOptions {
    fn default() -> Self {
        Self {
            ice_servers: Vec::new(),
            ice_transport_policy: IceTransportPolicy::All,
            ice_timeouts: IceTimeouts::default(),
            udp_addrs: vec![SocketAddr::from(([0, 0, 0, 0], 0))],
            include_loopback: false,
            ice_restart_delay: Duration::from_millis(500),
            socket_buffer_size: 4 << 20,
        }
    }
}
