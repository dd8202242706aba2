//! A coturn TURN server (Debian package `coturn`, binary `turnserver`) for
//! tests that run inside `.ci/with-netns`; killed when the [`Turn`] guard drops.

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::netem::in_test_namespace;

/// Where the server listens: the first veth end, the standard TURN port.
pub const TURN_ADDR: &str = "10.99.0.1:3478";
/// Its realm (long-term credentials).
pub const TURN_REALM: &str = "rtcgate.test";

/// A running coturn with one static long-term-credential user, UDP only
/// (no TCP, TLS, DTLS, CLI), relaying from 10.99.0.1 on ports 20000–20199
/// (below the kernel's ephemeral range, so they never collide with the calls'
/// own sockets). Its config-free state (pid file, user database, log) lives in
/// a temporary directory removed with the guard.
pub struct Turn {
    child: Child,
    dir: PathBuf,
}

impl Turn {
    /// Starts coturn with user `user`/`password` and waits until it answers
    /// STUN on [`TURN_ADDR`] (at most 20 s).
    pub fn start(user: &str, password: &str) -> Turn {
        assert!(
            in_test_namespace(),
            "coturn is started only inside `.ci/with-netns` (see docs/testing.md)"
        );
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rtcgate-turn-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("turn temp dir");
        let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
        let (ip, port) = TURN_ADDR.split_once(':').unwrap();
        let args = [
            "-n".to_owned(), // no configuration file
            "--no-cli".into(),
            format!("--listening-ip={ip}"),
            format!("--relay-ip={ip}"),
            format!("--listening-port={port}"),
            "--min-port=20000".into(),
            "--max-port=20199".into(),
            "--lt-cred-mech".into(),
            format!("--user={user}:{password}"),
            format!("--realm={TURN_REALM}"),
            "--no-tls".into(),
            "--no-dtls".into(),
            "--no-tcp".into(),
            "--no-tcp-relay".into(),
            "--no-rfc5780".into(),
            "--no-software-attribute".into(),
            "--no-stdout-log".into(),
            "--verbose".into(), // logs allocations, which the tests look for
            "--simple-log".into(),
            format!("--log-file={}", path("turn.log")),
            format!("--pidfile={}", path("turn.pid")),
            format!("--userdb={}", path("turndb")),
        ];
        let child = Command::new("turnserver")
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run `turnserver` ({e}): install coturn with `.ci/setup`")
            });
        let mut turn = Turn { child, dir };
        turn.wait_until_listening(Duration::from_secs(20));
        turn
    }

    /// The `turn:` URL of the server (UDP).
    pub fn url(&self) -> String {
        format!("turn:{TURN_ADDR}?transport=udp")
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("turn.log")).unwrap_or_default()
    }

    /// Sends STUN Binding requests until one is answered; panics with the log
    /// if the server exits or stays silent for `limit`.
    fn wait_until_listening(&mut self, limit: Duration) {
        let server: SocketAddr = TURN_ADDR.parse().unwrap();
        let socket = UdpSocket::bind("0.0.0.0:0").expect("stun probe socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let started = Instant::now();
        let mut request = [0u8; 20];
        request[1] = 0x01; // Binding request, no attributes
        request[4..8].copy_from_slice(&0x2112_A442u32.to_be_bytes());
        request[8..20].copy_from_slice(b"rtcgateprobe");
        let mut buf = [0u8; 512];
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "turnserver exited ({status}) before listening:\n{}",
                    self.log()
                );
            }
            let _ = socket.send_to(&request, server);
            if let Ok((n, _)) = socket.recv_from(&mut buf)
                && n >= 20
                && buf[..2] == [0x01, 0x01]
                && buf[8..20] == request[8..20]
            {
                return;
            }
            assert!(
                started.elapsed() < limit,
                "turnserver did not answer STUN on {TURN_ADDR} within {limit:?}:\n{}",
                self.log()
            );
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("turnserver log kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
