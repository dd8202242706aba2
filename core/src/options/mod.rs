//! [`CallOptions`]: how a call builds its peer connections and reaches its
//! signalling service, with a `key=value` text form ([`CallOptions::parse`])
//! that every surface (C, Kotlin/Swift, GStreamer, the CLI) shares.

mod parse;

pub use parse::CALL_OPTION_KEYS;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A STUN or TURN server.
///
/// TURN works over UDP only (`turn:host:port` or `turn:host:port?transport=udp`):
/// the WebRTC stack skips `turns:` and `?transport=tcp` URLs with a warning, so a
/// list copied from a TURN provider may keep them but needs a UDP one to relay.
///
/// ```
/// use rtcgate_core::IceServer;
///
/// let stun = IceServer::stun("stun:stun.example.org:3478");
/// let turn = IceServer::turn("turn:turn.example.org:3478", "user", "secret")
///     .with_url("turn:turn.example.org:3478?transport=tcp");
/// assert_eq!(turn.urls.len(), 2);
/// # let _ = stun;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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

    /// The same server reachable at one more URL.
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.urls.push(url.into());
        self
    }
}

/// Which ICE candidates a call may use (W3C `RTCIceTransportPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
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
/// [`Disconnected`](crate::ConnectionState::Disconnected) (it comes back by
/// itself if packets resume); after a further `failed` it is
/// [`Failed`](crate::ConnectionState::Failed) and the call restarts ICE. A
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
///
/// ```
/// use std::time::Duration;
/// use rtcgate_core::IceTimeouts;
///
/// let quick = IceTimeouts::new(Duration::from_secs(2), Duration::from_secs(5), Duration::from_millis(500));
/// assert_eq!(quick.failed, Duration::from_secs(5));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct IceTimeouts {
    /// Silence after which the connection is disconnected.
    pub disconnected: Duration,
    /// Further silence after which it is failed.
    pub failed: Duration,
    /// Interval of consent checks on the selected path.
    pub keepalive_interval: Duration,
}

impl IceTimeouts {
    /// Timeouts of `disconnected`, a further `failed`, and a consent check every
    /// `keepalive_interval`.
    pub fn new(disconnected: Duration, failed: Duration, keepalive_interval: Duration) -> Self {
        Self {
            disconnected,
            failed,
            keepalive_interval,
        }
    }
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

/// Options of a [`Call`](crate::Call): how it builds its peer connections.
///
/// Start from [`Default`] and change what you need with the `with_*` methods
/// (or assign the public fields); options added later keep their defaults.
///
/// ```
/// use std::time::Duration;
/// use rtcgate_core::{CallOptions, IceServer, IceTransportPolicy};
///
/// let options = CallOptions::default()
///     .with_ice_server(IceServer::turn("turn:turn.example.org:3478", "user", "secret"))
///     .with_ice_transport_policy(IceTransportPolicy::Relay)
///     .with_ice_restart_delay(Duration::from_secs(1));
/// assert_eq!(options.ice_servers.len(), 1);
/// assert_eq!(options.socket_buffer_size, 4 << 20, "untouched options keep their defaults");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CallOptions {
    /// STUN/TURN servers.
    pub ice_servers: Vec<IceServer>,
    /// Which candidates may be used (default: all).
    pub ice_transport_policy: IceTransportPolicy,
    /// Disconnection/failure detection (default: 5 s / +25 s, keepalive 2 s).
    pub ice_timeouts: IceTimeouts,
    /// The local UDP addresses to bind; each socket is a host candidate, so
    /// this list *is* the set of host candidates. The default, the wildcard
    /// `0.0.0.0:0`, binds one socket on an ephemeral port per interface present
    /// when the connection is built, skipping loopback and link-local
    /// addresses. Naming addresses (e.g. `10.0.0.5:0`, or a fixed port)
    /// restricts host candidates to exactly those; a loopback address named
    /// here is used even without [`include_loopback`](Self::include_loopback).
    pub udp_addrs: Vec<SocketAddr>,
    /// Also bind the loopback address (`127.0.0.1:0`, and `[::1]:0` when an
    /// IPv6 wildcard is bound) besides what `udp_addrs` gives. Useful only when
    /// both peers are on one machine and no other interface exists: peers on
    /// other machines cannot reach a loopback candidate. Off by default.
    pub include_loopback: bool,
    /// How long a failed connection waits before an ICE restart is attempted
    /// (by the impolite side of the pair; the other side answers it).
    pub ice_restart_delay: Duration,
    /// Send and receive buffer size asked for on every UDP socket (default 4 MiB;
    /// the kernel caps it at `net.core.rmem_max` / `wmem_max`; 0 keeps the
    /// kernel's default). Small buffers drop bursts, and SCTP repairs such
    /// losses only after a ≥ 1 s timeout (docs/transport.md).
    pub socket_buffer_size: usize,
    /// PEM files of CA certificates trusted for `https://` and `wss://`
    /// signalling (WHIP/WHEP, rooms behind TLS) besides the system's roots;
    /// e.g. a private CA or a test certificate.
    pub tls_ca_files: Vec<PathBuf>,
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
            tls_ca_files: Vec::new(),
        }
    }
}

impl CallOptions {
    /// Adds a STUN or TURN server.
    pub fn with_ice_server(mut self, server: IceServer) -> Self {
        self.ice_servers.push(server);
        self
    }

    /// Replaces the STUN/TURN servers.
    pub fn with_ice_servers(mut self, servers: Vec<IceServer>) -> Self {
        self.ice_servers = servers;
        self
    }

    /// Sets which candidates may be used.
    pub fn with_ice_transport_policy(mut self, policy: IceTransportPolicy) -> Self {
        self.ice_transport_policy = policy;
        self
    }

    /// Sets disconnection/failure detection.
    pub fn with_ice_timeouts(mut self, timeouts: IceTimeouts) -> Self {
        self.ice_timeouts = timeouts;
        self
    }

    /// Sets the local UDP addresses to bind (see [`udp_addrs`](Self::udp_addrs)).
    pub fn with_udp_addrs(mut self, addrs: Vec<SocketAddr>) -> Self {
        self.udp_addrs = addrs;
        self
    }

    /// Also binds loopback (see [`include_loopback`](Self::include_loopback)).
    pub fn with_include_loopback(mut self, include: bool) -> Self {
        self.include_loopback = include;
        self
    }

    /// Sets the wait before an ICE restart.
    pub fn with_ice_restart_delay(mut self, delay: Duration) -> Self {
        self.ice_restart_delay = delay;
        self
    }

    /// Sets the UDP socket buffer size (0: the kernel's default).
    pub fn with_socket_buffer_size(mut self, bytes: usize) -> Self {
        self.socket_buffer_size = bytes;
        self
    }

    /// Trusts the CA certificates of a PEM file for TLS signalling, besides the system's.
    pub fn with_tls_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls_ca_files.push(path.into());
        self
    }

    /// The addresses a connection binds: [`udp_addrs`](Self::udp_addrs), plus
    /// loopback when [`include_loopback`](Self::include_loopback) is set.
    pub(crate) fn bind_addrs(&self) -> Vec<SocketAddr> {
        let mut addrs = self.udp_addrs.clone();
        if self.include_loopback {
            let mut loopbacks = vec![SocketAddr::from(([127, 0, 0, 1], 0))];
            if addrs.iter().any(|a| a.is_ipv6() && a.ip().is_unspecified()) {
                loopbacks.push(SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 0)));
            }
            for loopback in loopbacks {
                if !addrs.iter().any(|a| {
                    a.ip() == loopback.ip()
                        || (a.ip().is_loopback() && a.is_ipv4() == loopback.is_ipv4())
                }) {
                    addrs.push(loopback);
                }
            }
        }
        addrs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_added_to_the_wildcard_only_when_asked() {
        let options = CallOptions::default();
        assert_eq!(options.bind_addrs(), options.udp_addrs);
        let options = options.with_include_loopback(true);
        assert_eq!(
            options.bind_addrs(),
            vec![
                SocketAddr::from(([0, 0, 0, 0], 0)),
                SocketAddr::from(([127, 0, 0, 1], 0))
            ]
        );
        let named = CallOptions::default()
            .with_udp_addrs(vec![
                "127.0.0.1:5000".parse().unwrap(),
                "[::]:0".parse().unwrap(),
            ])
            .with_include_loopback(true);
        assert_eq!(
            named.bind_addrs(),
            vec![
                "127.0.0.1:5000".parse::<SocketAddr>().unwrap(),
                "[::]:0".parse().unwrap(),
                "[::1]:0".parse().unwrap()
            ],
            "a loopback already named is not bound twice; an IPv6 wildcard brings ::1"
        );
    }

    #[test]
    fn builders_change_only_what_they_name() {
        let options = CallOptions::default()
            .with_socket_buffer_size(0)
            .with_ice_server(IceServer::stun("stun:a"))
            .with_ice_server(IceServer::stun("stun:b"));
        assert_eq!(options.socket_buffer_size, 0);
        assert_eq!(options.ice_servers.len(), 2);
        let defaults = CallOptions::default();
        assert_eq!(options.ice_timeouts, defaults.ice_timeouts);
        assert_eq!(options.ice_restart_delay, defaults.ice_restart_delay);
        assert_eq!(options.udp_addrs, defaults.udp_addrs);
    }
}
