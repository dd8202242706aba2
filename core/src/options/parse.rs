//! The `key=value` text form of [`CallOptions`]: one parser that the C API,
//! the Kotlin/Swift bindings, the GStreamer elements and the CLI all use, so a
//! setting has one name and one syntax everywhere (docs/signalling.md,
//! "Call options as text").
//!
//! Items are separated by whitespace, `;` or new lines; each is `key=value`.
//! Keys may repeat where they add to a list (`ice-server`, `udp-addr`,
//! `tls-ca`). Unknown keys and malformed values are refused with an
//! [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) error
//! naming the item.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use super::{CallOptions, IceServer, IceTimeouts, IceTransportPolicy};
use crate::error::{Error, Result};

/// Every key [`CallOptions::parse`] knows, for messages and documentation.
pub const CALL_OPTION_KEYS: &[&str] = &[
    "ice-server",
    "ice-transport-policy",
    "ice-timeouts",
    "ice-restart-delay",
    "socket-buffer-size",
    "udp-addr",
    "include-loopback",
    "tls-ca",
];

impl CallOptions {
    /// Options from their text form, starting from the defaults:
    ///
    /// ```
    /// use std::time::Duration;
    /// use rtcgate_core::{CallOptions, IceTransportPolicy};
    ///
    /// let options = CallOptions::parse(
    ///     "ice-server=turn://user:secret@turn.example.org:3478 ice-transport-policy=relay \
    ///      ice-timeouts=2s,5s,500ms ice-restart-delay=1s socket-buffer-size=1M",
    /// )?;
    /// assert_eq!(options.ice_servers[0].urls, ["turn:turn.example.org:3478"]);
    /// assert_eq!(options.ice_transport_policy, IceTransportPolicy::Relay);
    /// assert_eq!(options.ice_timeouts.failed, Duration::from_secs(5));
    /// assert_eq!(options.socket_buffer_size, 1 << 20);
    /// # Ok::<(), rtcgate_core::Error>(())
    /// ```
    ///
    /// | key | value |
    /// |---|---|
    /// | `ice-server` | `stun:host:port`, `turn://user:password@host:port[?transport=udp]` (webrtcsink's form; user and password percent-decoded), or `turn:host:port?username=U&credential=P`; repeatable |
    /// | `ice-transport-policy` | `all` or `relay` |
    /// | `ice-timeouts` | `DISCONNECTED,FAILED,KEEPALIVE`, durations such as `5s`, `500ms`, `1m` |
    /// | `ice-restart-delay` | a duration |
    /// | `socket-buffer-size` | bytes, with an optional `K`/`M` (×1024) suffix; `0` keeps the kernel's default |
    /// | `udp-addr` | a local `IP:PORT` to bind (repeatable; the first replaces the wildcard default) |
    /// | `include-loopback` | `true` or `false` |
    /// | `tls-ca` | a PEM file of CA certificates trusted for `https://`/`wss://` signalling besides the system's; repeatable |
    pub fn parse(text: &str) -> Result<CallOptions> {
        CallOptions::default().apply(text)
    }

    /// These options with the settings of `text` applied (see [`parse`](Self::parse)).
    pub fn apply(mut self, text: &str) -> Result<CallOptions> {
        let mut replaced_addrs = false;
        for item in text
            .split(|c: char| c.is_whitespace() || c == ';')
            .filter(|item| !item.is_empty())
        {
            let (key, value) = item.split_once('=').ok_or_else(|| {
                Error::invalid_argument(format!("call option {item:?} is not key=value"))
            })?;
            if key == "udp-addr" && !replaced_addrs {
                self.udp_addrs.clear();
                replaced_addrs = true;
            }
            self.set(key, value)?;
        }
        Ok(self)
    }

    /// Sets one option by its key (see [`parse`](Self::parse)); list keys add an entry.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let bad = |what: &str| Error::invalid_argument(format!("{key}={value:?}: {what}"));
        match key {
            "ice-server" => self.ice_servers.push(parse_ice_server(value)?),
            "ice-transport-policy" => {
                self.ice_transport_policy = match value {
                    "all" => IceTransportPolicy::All,
                    "relay" => IceTransportPolicy::Relay,
                    _ => return Err(bad("expected all or relay")),
                }
            }
            "ice-timeouts" => {
                let parts: Vec<&str> = value.split(',').collect();
                let [disconnected, failed, keepalive] = parts.as_slice() else {
                    return Err(bad(
                        "expected DISCONNECTED,FAILED,KEEPALIVE (e.g. 5s,25s,2s)",
                    ));
                };
                self.ice_timeouts = IceTimeouts::new(
                    parse_duration(disconnected).map_err(|e| bad(&e))?,
                    parse_duration(failed).map_err(|e| bad(&e))?,
                    parse_duration(keepalive).map_err(|e| bad(&e))?,
                );
            }
            "ice-restart-delay" => {
                self.ice_restart_delay = parse_duration(value).map_err(|e| bad(&e))?
            }
            "socket-buffer-size" => {
                self.socket_buffer_size = parse_size(value).map_err(|e| bad(&e))?
            }
            "udp-addr" => self.udp_addrs.push(
                SocketAddr::from_str(value)
                    .map_err(|_| bad("expected IP:PORT, e.g. 10.0.0.5:0"))?,
            ),
            "include-loopback" => {
                self.include_loopback = match value {
                    "true" | "1" | "yes" => true,
                    "false" | "0" | "no" => false,
                    _ => return Err(bad("expected true or false")),
                }
            }
            "tls-ca" => {
                if value.is_empty() {
                    return Err(bad("expected a file name"));
                }
                self.tls_ca_files.push(PathBuf::from(value))
            }
            _ => {
                return Err(Error::invalid_argument(format!(
                    "unknown call option {key:?}; known: {}",
                    CALL_OPTION_KEYS.join(", ")
                )));
            }
        }
        Ok(())
    }
}

impl FromStr for CallOptions {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        CallOptions::parse(text)
    }
}

/// The text form: every option, parseable again by [`CallOptions::parse`].
impl fmt::Display for CallOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut items = Vec::new();
        for server in &self.ice_servers {
            for url in &server.urls {
                items.push(format!("ice-server={}", format_ice_url(server, url)));
            }
        }
        items.push(format!(
            "ice-transport-policy={}",
            match self.ice_transport_policy {
                IceTransportPolicy::All => "all",
                IceTransportPolicy::Relay => "relay",
            }
        ));
        let t = self.ice_timeouts;
        items.push(format!(
            "ice-timeouts={}ms,{}ms,{}ms",
            t.disconnected.as_millis(),
            t.failed.as_millis(),
            t.keepalive_interval.as_millis()
        ));
        items.push(format!(
            "ice-restart-delay={}ms",
            self.ice_restart_delay.as_millis()
        ));
        items.push(format!("socket-buffer-size={}", self.socket_buffer_size));
        for addr in &self.udp_addrs {
            items.push(format!("udp-addr={addr}"));
        }
        items.push(format!("include-loopback={}", self.include_loopback));
        for file in &self.tls_ca_files {
            items.push(format!("tls-ca={}", file.display()));
        }
        f.write_str(&items.join(" "))
    }
}

fn format_ice_url(server: &IceServer, url: &str) -> String {
    if server.username.is_empty() && server.credential.is_empty() {
        return url.to_owned();
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    format!(
        "{url}{separator}username={}&credential={}",
        percent_encode(&server.username),
        percent_encode(&server.credential)
    )
}

/// `stun:…`, `turn://user:password@host:port[?query]` or
/// `turn[s]:host:port[?transport=…][&username=…&credential=…]`.
pub(crate) fn parse_ice_server(value: &str) -> Result<IceServer> {
    let bad = |what: &str| Error::invalid_argument(format!("ice-server {value:?}: {what}"));
    for scheme in ["turn", "turns", "stun", "stuns"] {
        // webrtcsink's spelling: turn://user:password@host:port
        if let Some(rest) = value.strip_prefix(&format!("{scheme}://")) {
            let (credentials, host) = match rest.rsplit_once('@') {
                Some((credentials, host)) => (Some(credentials), host),
                None => (None, rest),
            };
            if host.is_empty() {
                return Err(bad("no host"));
            }
            let url = format!("{scheme}:{host}");
            return Ok(match credentials {
                Some(credentials) => {
                    let (user, password) = credentials
                        .split_once(':')
                        .ok_or_else(|| bad("expected user:password@ before the host"))?;
                    IceServer::turn(
                        url,
                        percent_decode(user).map_err(|e| bad(&e))?,
                        percent_decode(password).map_err(|e| bad(&e))?,
                    )
                }
                None => IceServer::stun(url),
            });
        }
        if let Some(rest) = value.strip_prefix(&format!("{scheme}:")) {
            let (host, query) = match rest.split_once('?') {
                Some((host, query)) => (host, Some(query)),
                None => (rest, None),
            };
            if host.is_empty() {
                return Err(bad("no host"));
            }
            let (mut username, mut credential, mut kept) = (String::new(), String::new(), vec![]);
            for pair in query.into_iter().flat_map(|q| q.split('&')) {
                match pair.split_once('=') {
                    Some(("username", v)) => username = percent_decode(v).map_err(|e| bad(&e))?,
                    Some(("credential", v)) => {
                        credential = percent_decode(v).map_err(|e| bad(&e))?
                    }
                    _ => kept.push(pair),
                }
            }
            let url = if kept.is_empty() {
                format!("{scheme}:{host}")
            } else {
                format!("{scheme}:{host}?{}", kept.join("&"))
            };
            return Ok(IceServer::turn(url, username, credential));
        }
    }
    Err(bad("expected a stun:, stuns:, turn: or turns: URL"))
}

/// `250ms`, `5s`, `1.5s`, `2m`; a bare `0` is zero.
fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("{text:?} has no unit (ms, s or m)"))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration"))?;
    let seconds = match unit {
        "ms" => number / 1000.0,
        "s" => number,
        "m" => number * 60.0,
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (ms, s or m)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("{text:?} is out of range"))
}

/// `65536`, `64K`, `4M` (binary multiples).
fn parse_size(text: &str) -> std::result::Result<usize, String> {
    let (number, multiplier) = match text.strip_suffix(['K', 'k']) {
        Some(n) => (n, 1usize << 10),
        None => match text.strip_suffix(['M', 'm']) {
            Some(n) => (n, 1 << 20),
            None => (text, 1),
        },
    };
    number
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(|| format!("{text:?} is not a size in bytes (e.g. 65536, 64K, 4M)"))
}

fn percent_decode(text: &str) -> std::result::Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent escape in {text:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{text:?} is not UTF-8 once decoded"))
}

fn percent_encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_parses() {
        let options = CallOptions::parse(
            "ice-server=stun:stun.example.org:3478\n\
             ice-server=turn://us%40er:p%3Ass@10.0.0.1:3478?transport=udp;\
             ice-server=turn:10.0.0.2:3478?transport=udp&username=u&credential=c \
             ice-transport-policy=relay ice-timeouts=2s,5s,500ms ice-restart-delay=1.5s \
             socket-buffer-size=64K udp-addr=10.0.0.5:0 udp-addr=10.0.0.6:5000 \
             include-loopback=true tls-ca=/etc/ca.pem",
        )
        .unwrap();
        assert_eq!(options.ice_servers.len(), 3);
        assert_eq!(
            options.ice_servers[0],
            IceServer::stun("stun:stun.example.org:3478")
        );
        assert_eq!(
            options.ice_servers[1],
            IceServer::turn("turn:10.0.0.1:3478?transport=udp", "us@er", "p:ss")
        );
        assert_eq!(
            options.ice_servers[2],
            IceServer::turn("turn:10.0.0.2:3478?transport=udp", "u", "c")
        );
        assert_eq!(options.ice_transport_policy, IceTransportPolicy::Relay);
        assert_eq!(
            options.ice_timeouts,
            IceTimeouts::new(
                Duration::from_secs(2),
                Duration::from_secs(5),
                Duration::from_millis(500)
            )
        );
        assert_eq!(options.ice_restart_delay, Duration::from_millis(1500));
        assert_eq!(options.socket_buffer_size, 65536);
        assert_eq!(
            options.udp_addrs,
            vec![
                "10.0.0.5:0".parse::<SocketAddr>().unwrap(),
                "10.0.0.6:5000".parse().unwrap()
            ],
            "the first udp-addr replaces the wildcard"
        );
        assert!(options.include_loopback);
        assert_eq!(options.tls_ca_files, [PathBuf::from("/etc/ca.pem")]);
    }

    #[test]
    fn the_text_form_round_trips() {
        let options = CallOptions::parse(
            "ice-server=turn://a%20b:c&d@h:1 ice-transport-policy=relay ice-timeouts=1s,2s,3ms \
             socket-buffer-size=0 udp-addr=127.0.0.1:9 include-loopback=true tls-ca=ca.pem",
        )
        .unwrap();
        let again = CallOptions::parse(&options.to_string()).unwrap();
        assert_eq!(again.to_string(), options.to_string());
        assert_eq!(again.ice_servers, options.ice_servers);
        assert_eq!(
            CallOptions::parse("").unwrap().to_string(),
            CallOptions::default().to_string()
        );
    }

    #[test]
    fn mistakes_are_refused_by_name() {
        for (text, needle) in [
            ("ice-transport-policy=some", "ice-transport-policy"),
            ("ice-timeouts=1s,2s", "DISCONNECTED,FAILED,KEEPALIVE"),
            ("ice-timeouts=1,2s,3s", "no unit"),
            ("ice-restart-delay=3h", "unknown unit"),
            ("socket-buffer-size=lots", "size in bytes"),
            ("udp-addr=localhost", "IP:PORT"),
            ("include-loopback=maybe", "true or false"),
            ("ice-server=http://x", "stun:"),
            ("ice-server=turn://nopassword@h:1", "user:password"),
            ("ice-server=turn://u:p%zz@h:1", "percent"),
            ("stun-server=stun:x", "unknown call option"),
            ("relay", "not key=value"),
        ] {
            let err = CallOptions::parse(text).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::InvalidArgument);
            assert!(err.to_string().contains(needle), "{text}: {err}");
        }
    }
}
