//! Finds out whether the machine has a network interface ICE can use.

use std::net::SocketAddr;

use rtcgate_core::CallOptions;

/// True when an interface other than loopback is up (Linux: `/sys/class/net`).
pub fn has_non_loopback_interface() -> bool {
    let Ok(entries) = std::fs::read_dir("/sys/class/net") else {
        return true; // not Linux: assume a normal machine
    };
    entries.flatten().any(|entry| {
        let name = entry.file_name();
        let state = std::fs::read_to_string(entry.path().join("operstate")).unwrap_or_default();
        name != "lo" && matches!(state.trim(), "up" | "unknown")
    })
}

/// Call options for this machine: the defaults, or loopback-only candidates
/// when loopback is all there is (both members then run in this process).
pub fn call_options() -> CallOptions {
    if has_non_loopback_interface() {
        return CallOptions::default();
    }
    tracing::warn!("no network interface besides loopback: native members use 127.0.0.1 only");
    CallOptions::default().with_udp_addrs(vec![SocketAddr::from(([127, 0, 0, 1], 0))])
}
