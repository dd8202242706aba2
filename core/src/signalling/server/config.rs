//! Settings of the signalling server and their defaults.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use super::tls::TlsConfig;
use crate::error::{Error, Result};
use crate::signalling::token::{TokenKey, TokenVerifier};

/// Settings of a [`SignallingServer`](super::SignallingServer).
///
/// Start from [`ServerConfig::default()`] and change what you need with the
/// `with_*` methods (or by assigning the public fields); `docs/signalling.md`
/// explains each limit.
///
/// ```
/// use std::time::Duration;
/// use rtcgate_core::signalling::{RateLimitConfig, ServerConfig};
///
/// let config = ServerConfig::default()
///     .with_web_root("examples/web")
///     .with_room_token("board", "s3cret")
///     .with_max_members_per_room(8)
///     .with_rate_limit(RateLimitConfig::new(20.0, 40))
///     .with_idle_timeout(Duration::from_secs(30));
/// assert_eq!(config.max_members_per_room, 8);
/// assert_eq!(config.max_rooms, 10_000, "untouched settings keep their defaults");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Directory served as static files at `/` (for example `examples/web`).
    /// `None` (the default) serves only the WebSocket endpoint.
    pub web_root: Option<PathBuf>,
    /// Rooms whose token is fixed by the operator: room name → token.
    /// Rooms not listed here take the token of the join that created them.
    pub room_tokens: HashMap<String, String>,
    /// Largest text message the protocol accepts, in bytes (default 64 KiB).
    /// A larger frame is answered with a non-fatal `too-large` error.
    pub max_message_size: usize,
    /// Hard cap on a WebSocket message or frame, in bytes (default 1 MiB).
    /// A larger one closes the connection with close code 1009.
    pub max_frame_size: usize,
    /// Per-connection message rate limit.
    pub rate_limit: RateLimitConfig,
    /// Most rooms that may exist at once (default 10 000).
    pub max_rooms: usize,
    /// Most members in one room (default 32).
    pub max_members_per_room: usize,
    /// Most WebSocket connections at once (default 10 000); further upgrade
    /// requests get HTTP 503.
    pub max_connections: usize,
    /// Messages queued for one connection before it counts as a slow reader
    /// and is disconnected (default 256).
    pub outgoing_queue: usize,
    /// Interval of the server's WebSocket pings (default 15 s).
    pub ping_interval: Duration,
    /// A connection that sends nothing (not even a pong) for this long is
    /// closed (default 45 s).
    pub idle_timeout: Duration,
    /// How long closing a connection may take (flushing the last messages and
    /// the close handshake) before it is cut (default 3 s). Also bounds
    /// [`SignallingServer::shutdown`](super::SignallingServer::shutdown).
    pub close_timeout: Duration,
    /// Certificate and key: the server then speaks only `https://` and
    /// `wss://` (default `None`: plain `http://` and `ws://`).
    pub tls: Option<TlsConfig>,
    /// Keys of signed access tokens (JWT). With at least one, every join
    /// must carry a valid token for its room and
    /// [`room_tokens`](Self::room_tokens) (access codes) are off.
    pub token_keys: Vec<TokenKey>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            web_root: None,
            room_tokens: HashMap::new(),
            max_message_size: 64 * 1024,
            max_frame_size: 1024 * 1024,
            rate_limit: RateLimitConfig::default(),
            max_rooms: 10_000,
            max_members_per_room: 32,
            max_connections: 10_000,
            outgoing_queue: 256,
            ping_interval: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(45),
            close_timeout: Duration::from_secs(3),
            tls: None,
            token_keys: Vec::new(),
        }
    }
}

impl ServerConfig {
    /// Serves the files of `dir` at `/`.
    pub fn with_web_root(mut self, dir: impl Into<PathBuf>) -> Self {
        self.web_root = Some(dir.into());
        self
    }

    /// Fixes the token of `room`.
    pub fn with_room_token(mut self, room: impl Into<String>, token: impl Into<String>) -> Self {
        self.room_tokens.insert(room.into(), token.into());
        self
    }

    /// Sets the largest text message the protocol accepts, in bytes.
    pub fn with_max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Sets the hard cap on a WebSocket message or frame, in bytes.
    pub fn with_max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// Sets the per-connection message rate limit.
    pub fn with_rate_limit(mut self, rate_limit: RateLimitConfig) -> Self {
        self.rate_limit = rate_limit;
        self
    }

    /// Sets the most rooms that may exist at once.
    pub fn with_max_rooms(mut self, rooms: usize) -> Self {
        self.max_rooms = rooms;
        self
    }

    /// Sets the most members in one room.
    pub fn with_max_members_per_room(mut self, members: usize) -> Self {
        self.max_members_per_room = members;
        self
    }

    /// Sets the most WebSocket connections at once.
    pub fn with_max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections;
        self
    }

    /// Sets the messages queued for one connection before it is disconnected.
    pub fn with_outgoing_queue(mut self, messages: usize) -> Self {
        self.outgoing_queue = messages;
        self
    }

    /// Sets the interval of the server's WebSocket pings.
    pub fn with_ping_interval(mut self, interval: Duration) -> Self {
        self.ping_interval = interval;
        self
    }

    /// Sets how long a silent connection lives.
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets how long closing a connection may take.
    pub fn with_close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// Serves `https://` and `wss://` with this certificate and key.
    pub fn with_tls(mut self, tls: TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Requires signed access tokens and accepts those signed with `key`
    /// (call again for more keys, e.g. while rotating them).
    pub fn with_token_key(mut self, key: TokenKey) -> Self {
        self.token_keys.push(key);
        self
    }

    /// The verifier of access tokens, when token keys are configured.
    pub(crate) fn token_verifier(&self) -> Option<TokenVerifier> {
        (!self.token_keys.is_empty()).then(|| TokenVerifier::new(self.token_keys.clone()))
    }

    /// Checks that the settings make sense together.
    pub(crate) fn validate(&self) -> Result<()> {
        let fail = |what: &str| {
            Err(Error::invalid_argument(format!(
                "signalling server config: {what}"
            )))
        };
        if self.max_message_size == 0 || self.max_frame_size == 0 {
            return fail("message and frame size limits must be positive");
        }
        if self.max_message_size > self.max_frame_size {
            return fail("max_message_size must not exceed max_frame_size");
        }
        if self.max_rooms == 0 || self.max_members_per_room == 0 || self.max_connections == 0 {
            return fail("room, member and connection limits must be positive");
        }
        if self.outgoing_queue == 0 {
            return fail("outgoing_queue must be positive");
        }
        if self.ping_interval.is_zero() || self.idle_timeout.is_zero() {
            return fail("ping_interval and idle_timeout must be positive");
        }
        if !self.token_keys.is_empty() && !self.room_tokens.is_empty() {
            return fail("room tokens (access codes) and signed-token keys exclude each other");
        }
        if let Err(what) = TokenVerifier::check_keys(&self.token_keys) {
            return fail(&what);
        }
        if let Some(root) = self.web_root.as_deref().filter(|root| !root.is_dir()) {
            return fail(&format!("web_root {} is not a directory", root.display()));
        }
        self.rate_limit
            .validate()
            .map_err(|what| Error::invalid_argument(format!("signalling server config: {what}")))
    }
}

/// Token-bucket rate limit applied to every text or binary message of a connection.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct RateLimitConfig {
    /// Sustained rate: tokens added per second (default 50).
    pub messages_per_second: f64,
    /// Bucket size: messages that may arrive at once after a quiet period (default 100).
    pub burst: u32,
    /// Dropped (rate-limited) messages tolerated within [`flood_window`](Self::flood_window);
    /// one more closes the connection with a fatal `rate-limited` error (default 50).
    pub flood_threshold: u32,
    /// Window over which dropped messages are counted (default 10 s).
    pub flood_window: std::time::Duration,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            messages_per_second: 50.0,
            burst: 100,
            flood_threshold: 50,
            flood_window: Duration::from_secs(10),
        }
    }
}

impl RateLimitConfig {
    /// Sets how many dropped messages within `window` are tolerated before the
    /// connection is closed.
    pub fn with_flood(mut self, threshold: u32, window: Duration) -> Self {
        self.flood_threshold = threshold;
        self.flood_window = window;
        self
    }

    /// Creates a limit of `messages_per_second` with a bucket of `burst`,
    /// keeping the default flood settings.
    pub fn new(messages_per_second: f64, burst: u32) -> Self {
        Self {
            messages_per_second,
            burst,
            ..Self::default()
        }
    }

    fn validate(&self) -> std::result::Result<(), &'static str> {
        if !(self.messages_per_second.is_finite() && self.messages_per_second > 0.0) {
            return Err("rate_limit.messages_per_second must be a positive number");
        }
        if self.burst == 0 {
            return Err("rate_limit.burst must be positive");
        }
        if self.flood_window.is_zero() {
            return Err("rate_limit.flood_window must be positive");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        ServerConfig::default().validate().unwrap();
    }

    #[test]
    fn rejects_inconsistent_limits() {
        let mut config = ServerConfig {
            max_message_size: 2,
            max_frame_size: 1,
            ..ServerConfig::default()
        };
        assert!(config.validate().is_err());
        config = ServerConfig::default();
        config.rate_limit.messages_per_second = f64::NAN;
        assert!(config.validate().is_err());
        config = ServerConfig {
            web_root: Some("/definitely/not/here".into()),
            ..ServerConfig::default()
        };
        assert!(config.validate().is_err());
    }
}
