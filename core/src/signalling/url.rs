//! The signaller a URL names, the same on every surface (Rust, C,
//! Kotlin/Swift, GStreamer's `signaller::uri`, the CLI):
//!
//! | URL | Signaller |
//! |---|---|
//! | `ws://host:port/ws`, `wss://…` | our room protocol ([`WsSignaller`]); the room comes from the join request |
//! | `whip+http://…`, `whip+https://…` | a WHIP client ([`WhipSignaller::whip`]) POSTing to the `http(s)://…` part |
//! | `whep+http://…`, `whep+https://…` | a WHEP client ([`WhipSignaller::whep`]) |

use std::sync::Arc;

use super::{Signaller, WhipKind, WhipSignaller, WsSignaller};
use crate::error::{Error, Result};
use crate::options::CallOptions;

/// A signalling URL, parsed: which protocol, and where.
///
/// ```
/// use rtcgate_core::signalling::SignallingUrl;
///
/// assert_eq!(
///     "whip+https://example.org/whip/live".parse::<SignallingUrl>()?,
///     SignallingUrl::Whip("https://example.org/whip/live".into())
/// );
/// assert!(matches!("ws://127.0.0.1:8080/ws".parse()?, SignallingUrl::Room(_)));
/// assert!("http://example.org/".parse::<SignallingUrl>().is_err());
/// # Ok::<(), rtcgate_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignallingUrl {
    /// A room server (`ws://`, `wss://`): the URL as given.
    Room(String),
    /// A WHIP endpoint: its `http(s)://` URL.
    Whip(String),
    /// A WHEP endpoint: its `http(s)://` URL.
    Whep(String),
}

impl std::str::FromStr for SignallingUrl {
    type Err = Error;

    fn from_str(url: &str) -> Result<Self> {
        let lower = url.to_ascii_lowercase();
        if lower.starts_with("ws://") || lower.starts_with("wss://") {
            return Ok(SignallingUrl::Room(url.to_owned()));
        }
        for (prefix, kind) in [("whip+", WhipKind::Whip), ("whep+", WhipKind::Whep)] {
            if lower.starts_with(prefix) {
                let rest = &url[prefix.len()..];
                let rest_lower = rest.to_ascii_lowercase();
                if !(rest_lower.starts_with("http://") || rest_lower.starts_with("https://")) {
                    break;
                }
                return Ok(match kind {
                    WhipKind::Whip => SignallingUrl::Whip(rest.to_owned()),
                    WhipKind::Whep => SignallingUrl::Whep(rest.to_owned()),
                });
            }
        }
        Err(Error::invalid_argument(format!(
            "signalling URL {url:?}: expected ws://…/ws or wss://… (a room server), \
             whip+http(s)://… (a WHIP endpoint) or whep+http(s)://… (a WHEP endpoint)"
        )))
    }
}

/// The signaller for `url` (see the module's table), configured from
/// `options` (CA files for `https://`/`wss://`).
///
/// ```
/// use rtcgate_core::CallOptions;
/// use rtcgate_core::signalling::signaller_for_url;
///
/// let signaller = signaller_for_url("whep+http://127.0.0.1:7080/whep/endpoint/demo", &CallOptions::default())?;
/// # let _ = signaller;
/// # Ok::<(), rtcgate_core::Error>(())
/// ```
pub fn signaller_for_url(url: &str, options: &CallOptions) -> Result<Arc<dyn Signaller>> {
    Ok(match url.parse::<SignallingUrl>()? {
        SignallingUrl::Room(url) => {
            Arc::new(WsSignaller::new(url).with_ca_files(options.tls_ca_files.clone()))
        }
        SignallingUrl::Whip(url) => {
            Arc::new(WhipSignaller::whip(&url)?.with_ca_files(options.tls_ca_files.clone()))
        }
        SignallingUrl::Whep(url) => {
            Arc::new(WhipSignaller::whep(&url)?.with_ca_files(options.tls_ca_files.clone()))
        }
    })
}
