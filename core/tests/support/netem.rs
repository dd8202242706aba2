//! Network impairments for tests that run inside `.ci/with-netns`, removed
//! again when the [`Impairment`] guard drops (also when the test panics).
//!
//! Two facts shape how paths are impaired here:
//! - Inside the namespace both ends of the veth pair are local addresses, so the
//!   kernel delivers 10.99.0.1 <-> 10.99.0.2 through `lo`, not through
//!   rtcg0/rtcg1 (`ip route get 10.99.0.2 from 10.99.0.1` says `dev lo`): a
//!   qdisc on the veth ends sees none of the calls' traffic.
//! - The kernel of these machines has no `netem` qdisc (`CONFIG_NET_SCH_NETEM`
//!   is off), but it has nftables and HTB.
//!
//! So loss, up to a blackhole, is an nftables rule in the `input` hook that
//! drops UDP to the test subnet at random (`numgen random`); dropping on input
//! rather than output keeps `sendto` succeeding, as on a real lossy path.
//! Delay that varies with load (jitter) is an HTB class on `lo` that the same
//! UDP is shaped through, so a large frame queues behind the previous ones.
//! Signalling (TCP on 127.0.0.1) is never touched.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// The subnet `.ci/with-netns` gives the veth pair.
pub const TEST_SUBNET: &str = "10.99.0.0/24";

/// Runs `program args`, feeding `stdin`; the error names the command and its stderr.
pub fn run_tool(program: &str, args: &[&str], stdin: Option<&str>) -> Result<String, String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            format!("cannot run `{program}` ({e}); install it with `.ci/setup` (docs/testing.md)")
        })?;
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .expect("piped stdin")
            .write_all(text.as_bytes())
            .map_err(|e| format!("{program}: writing stdin: {e}"))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| format!("{program}: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// True inside the namespace `.ci/with-netns` makes (its veth end exists).
pub fn in_test_namespace() -> bool {
    std::path::Path::new("/sys/class/net/rtcg0").exists()
}

/// An impairment of every UDP path between 10.99.0.1 and 10.99.0.2 (ICE
/// host and relay traffic alike). Dropping the guard removes it.
#[derive(Debug)]
pub struct Impairment {
    /// The nftables table holding the loss rule, while installed.
    nft_table: Option<String>,
    /// True while our HTB qdisc is the root qdisc of `lo`.
    lo_shaper: bool,
}

impl Impairment {
    /// Drops every UDP datagram to the test subnet.
    pub fn blackhole() -> Impairment {
        Self::lossy(100, None)
    }

    /// Drops `loss_percent` % of the UDP datagrams to the test subnet at
    /// random and, with `rate_kbit`, shapes them through a queue draining at
    /// that rate (a 6 kB video frame then waits up to ~50 ms at 1 Mbit/s,
    /// small audio packets behind it less: delay varies with load).
    pub fn lossy(loss_percent: u32, rate_kbit: Option<u32>) -> Impairment {
        Self::install(loss_percent, rate_kbit, None)
    }

    /// Drops `loss_percent` % of the UDP datagrams to local port `port` (one
    /// peer connection's socket; the other paths of the test stay clean).
    pub fn lossy_to_port(loss_percent: u32, port: u16) -> Impairment {
        Self::install(loss_percent, None, Some(port))
    }

    fn install(loss_percent: u32, rate_kbit: Option<u32>, port: Option<u16>) -> Impairment {
        assert!(
            in_test_namespace(),
            "network impairments only inside `.ci/with-netns` (see docs/testing.md)"
        );
        assert!(loss_percent <= 100, "loss is a percentage");
        let mut impairment = Impairment {
            nft_table: None,
            lo_shaper: false,
        };
        if loss_percent > 0 {
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let table = format!(
                "rtcgate_impair_{}_{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            );
            let verdict = if loss_percent == 100 {
                "counter drop".to_owned()
            } else {
                format!("numgen random mod 100 < {loss_percent} counter drop")
            };
            let port_match = port.map_or(String::new(), |p| format!("udp dport {p} "));
            let ruleset = format!(
                "table inet {table} {{\n\
                 \x20 chain input {{\n\
                 \x20   type filter hook input priority 0; policy accept;\n\
                 \x20   ip daddr {TEST_SUBNET} meta l4proto udp {port_match}{verdict}\n\
                 \x20 }}\n\
                 }}\n"
            );
            run_tool("nft", &["-f", "-"], Some(&ruleset)).unwrap_or_else(|e| panic!("{e}"));
            impairment.nft_table = Some(table);
        }
        if let Some(rate) = rate_kbit {
            impairment.lo_shaper = true; // from here on, Drop removes whatever was added
            let rate = format!("{rate}kbit");
            let steps: [&[&str]; 4] = [
                &[
                    "qdisc", "add", "dev", "lo", "root", "handle", "1:", "htb", "default", "10",
                ],
                &[
                    "class", "add", "dev", "lo", "parent", "1:", "classid", "1:10", "htb", "rate",
                    "1gbit", "quantum", "60000",
                ],
                &[
                    "class", "add", "dev", "lo", "parent", "1:", "classid", "1:20", "htb", "rate",
                    &rate, "burst", "1600", "cburst", "1600",
                ],
                &[
                    "filter",
                    "add",
                    "dev",
                    "lo",
                    "parent",
                    "1:",
                    "protocol",
                    "ip",
                    "prio",
                    "1",
                    "u32",
                    "match",
                    "ip",
                    "dst",
                    TEST_SUBNET,
                    "match",
                    "ip",
                    "protocol",
                    "17",
                    "0xff",
                    "flowid",
                    "1:20",
                ],
            ];
            for args in steps {
                run_tool("tc", args, None).unwrap_or_else(|e| panic!("{e}"));
            }
        }
        impairment
    }

    /// Datagrams the loss rule dropped so far (0 without one).
    pub fn dropped(&self) -> u64 {
        let Some(table) = &self.nft_table else {
            return 0;
        };
        let listing = run_tool("nft", &["list", "table", "inet", table], None)
            .unwrap_or_else(|e| panic!("{e}"));
        listing
            .split_whitespace()
            .skip_while(|word| *word != "packets")
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    /// Removes the impairment now (dropping the guard does the same).
    pub fn remove(mut self) {
        self.restore();
    }

    fn restore(&mut self) {
        if let Some(table) = self.nft_table.take()
            && let Err(e) = run_tool("nft", &["delete", "table", "inet", &table], None)
        {
            eprintln!("impairment cleanup: {e}");
        }
        if std::mem::take(&mut self.lo_shaper)
            && let Err(e) = run_tool("tc", &["qdisc", "del", "dev", "lo", "root"], None)
        {
            eprintln!("impairment cleanup: {e}");
        }
    }
}

impl Drop for Impairment {
    fn drop(&mut self) {
        self.restore();
    }
}
