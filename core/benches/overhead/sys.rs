//! What the benchmark reads from the operating system: process CPU time
//! (`getrusage`), resident memory (`/proc/self/statm`), the open-file limit,
//! and a description of the machine.

use std::time::Duration;

/// User + system CPU time the whole process has used so far.
pub fn cpu_time() -> Duration {
    // SAFETY: `getrusage` only writes into the zeroed struct we pass.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Duration::from_micros(micros(usage.ru_utime) + micros(usage.ru_stime))
}

/// Resident set size of the process in bytes (second field of `/proc/self/statm`).
pub fn rss_bytes() -> std::io::Result<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm")?;
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("unexpected statm: {statm}")))?;
    Ok(pages * page_size())
}

fn page_size() -> u64 {
    // SAFETY: `sysconf` has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 { size as u64 } else { 4096 }
}

/// Raises the soft open-file limit to the hard limit: 100 call pairs hold
/// hundreds of UDP sockets and WebSocket connections.
pub fn raise_fd_limit() {
    // SAFETY: get/setrlimit only read and write the struct we pass.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// `nproc` and the CPU model from `/proc/cpuinfo`.
pub fn machine_description() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cores} cores, {model}")
}

/// Datagrams the kernel dropped because a UDP socket's receive buffer was
/// full (`RcvbufErrors` in `/proc/net/snmp`, counted per network namespace).
pub fn udp_receive_buffer_errors() -> Option<u64> {
    let snmp = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut udp = snmp.lines().filter(|line| line.starts_with("Udp:"));
    let (names, values) = (udp.next()?, udp.next()?);
    let column = names
        .split_whitespace()
        .position(|name| name == "RcvbufErrors")?;
    values.split_whitespace().nth(column)?.parse().ok()
}

/// True when a UDP socket towards the namespace's veth address gets a
/// non-loopback source: ICE has a host candidate to use.
pub fn has_non_loopback_interface() -> bool {
    std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|socket| socket.connect("10.99.0.1:9").map(|_| socket))
        .and_then(|socket| socket.local_addr())
        .is_ok_and(|addr| !addr.ip().is_loopback())
}
