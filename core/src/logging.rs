//! Logging: rtcgate logs through `tracing` and installs no subscriber itself.
//! This module holds what an application's filter needs to know: what
//! webrtc-rs logs as a warning in every healthy connection, and the filter
//! directives that keep it out of a default log output.

/// `tracing` filter directives (`EnvFilter` syntax) to append to a default
/// filter such as `warn`: `format!("warn,{QUIET_WEBRTC_LOGS}")`. The CLI and
/// the C API's `log_level` use them; an explicit filter (`RUST_LOG`, the C
/// API's `log_filter`) replaces them.
///
/// - `rtc_dtls::config=error`: rtc 0.21 builds every DTLS configuration
///   without the remote address, so rtc-dtls warns "conn.remote_addr is empty,
///   please set explicitly server_name in Config!" once per connection (on
///   its DTLS client side) and uses `localhost`. A server name matters only
///   to certificate-chain verification, which WebRTC does not do: rtc checks
///   the peer's certificate against the fingerprint in its SDP.
/// - `rtc_dtls::handshake::handshake_message_client_hello=error`: a DTLS
///   server warns "Unsupported Extension Type 0 35" (and `0 22`) for every
///   ClientHello extension it does not implement: session tickets and
///   encrypt-then-MAC in OpenSSL's (GStreamer webrtcbin's) ClientHello, a
///   dozen lines per connection. Ignoring them is what TLS requires
///   (RFC 5246 §7.4.1.4).
/// - `rtc_sctp::endpoint=error`: Chromium sends an SCTP INIT from both ends.
///   When rtcgate is the DTLS client, its SCTP endpoint accepts no incoming
///   association and refuses the browser's INIT ("refusing first packet due
///   to empty server_config"); the association comes up through rtcgate's
///   own INIT.
///
/// Each of these modules logs no other warning; their errors still show.
/// The other set-up warnings seen before (a connectivity check before the
/// remote credentials, checks before any candidate pair, ICE-TCP connects to
/// link-local addresses) were fixed in rtcgate's forks (`core/vendor/README.md`).
pub const QUIET_WEBRTC_LOGS: &str = "rtc_dtls::config=error,\
     rtc_dtls::handshake::handshake_message_client_hello=error,\
     rtc_sctp::endpoint=error";

#[cfg(test)]
mod tests {
    use super::QUIET_WEBRTC_LOGS;

    #[test]
    fn the_directives_are_a_valid_filter() {
        let filter = format!("warn,{QUIET_WEBRTC_LOGS}");
        tracing_subscriber::EnvFilter::try_new(&filter).expect("a valid EnvFilter");
    }
}
