//! An emulated network path — one-way delay, random loss, reordering — for the
//! UDP between the two addresses of `.ci/with-netns`, removed when the
//! [`EmulatedPath`] guard drops (also on panic).
//!
//! The kernel of these machines has no `netem` qdisc (and no `fq` for
//! earliest-departure-time tricks), so the path is emulated in user space:
//! an `iptables-legacy` rule hands every UDP datagram to the test subnet to
//! NFQUEUE (the nftables `queue` expression is not built in this kernel, the
//! xtables NFQUEUE target is), and an `ip6tables-legacy` rule every IPv6 UDP
//! datagram (libnice, in webrtcbin, prefers the veth ends' link-local IPv6
//! addresses), and a thread holds each datagram's verdict for
//! the path's delay, drops some, and lets a few wait longer so that later
//! ones overtake them. The rule sits in the `OUTPUT` hook, so both directions
//! get the one-way delay: the round-trip time is twice `delay`.
//! Signalling (TCP on 127.0.0.1) is not delayed.
//!
//! Both addresses are local, so the datagrams cross `lo`, whose MTU is 65,536:
//! a stack that discovers the path MTU (usrsctp in webrtcbin) would send 64 kB
//! datagrams, each one a single loss event for ~50 Ethernet frames' worth of
//! data. A wide-area path has Ethernet's MTU, so while the path is in place `lo`
//! gets an MTU of 1,500 (restored afterwards).
//!
//! Shared by `core/tests` and `core/benches/overhead` (included by path).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::netem::{TEST_SUBNET, in_test_namespace, run_tool};

/// What the path does to each datagram.
#[derive(Debug, Clone, Copy)]
pub struct PathSpec {
    /// One-way delay (round trip = 2 × this).
    pub delay: Duration,
    /// Share of datagrams dropped, 0.0–1.0.
    pub loss: f64,
    /// Share of datagrams held `reorder_extra` longer than the rest.
    pub reorder: f64,
    /// Extra delay of a reordered datagram.
    pub reorder_extra: Duration,
}

impl PathSpec {
    /// `rtt` round trip, `loss_percent` % loss, no reordering.
    pub fn rtt_loss(rtt: Duration, loss_percent: f64) -> PathSpec {
        PathSpec {
            delay: rtt / 2,
            loss: loss_percent / 100.0,
            reorder: 0.0,
            reorder_extra: Duration::ZERO,
        }
    }
}

/// What the path did, read when it is removed.
#[derive(Debug, Clone, Copy, Default)]
pub struct PathCounts {
    /// Datagrams that went through.
    pub passed: u64,
    /// Datagrams dropped on purpose.
    pub dropped: u64,
    /// Datagrams held longer (some of them overtaken).
    pub reordered: u64,
}

/// The installed path; dropping it removes the rule and stops the thread.
pub struct EmulatedPath {
    queue_num: u16,
    /// `lo`'s MTU before the path set it to 1,500 (restored on removal).
    lo_mtu: Option<String>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<PathCounts>>,
    rule_installed: bool,
}

/// A queue number of our own per path in this process.
fn next_queue_num() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = (std::process::id() % 1000) as u16 * 16;
    1000 + base + NEXT.fetch_add(1, Ordering::Relaxed) % 16
}

impl EmulatedPath {
    /// Starts the path. Panics with the reason when it cannot (outside the
    /// namespace, no `iptables-legacy`, no NFQUEUE).
    pub fn start(spec: PathSpec) -> EmulatedPath {
        assert!(
            in_test_namespace(),
            "emulated paths only inside `.ci/with-netns` (see docs/testing.md)"
        );
        assert!((0.0..=1.0).contains(&spec.loss) && (0.0..=1.0).contains(&spec.reorder));
        let queue_num = next_queue_num();
        let mut queue = nfq::Queue::open().unwrap_or_else(|e| panic!("NFQUEUE socket: {e}"));
        queue
            .bind(queue_num)
            .unwrap_or_else(|e| panic!("NFQUEUE bind {queue_num}: {e}"));
        // Metadata only: the verdict needs the packet id, not the payload.
        queue.set_copy_range(queue_num, 0).expect("copy range");
        queue
            .set_queue_max_len(queue_num, 65_536)
            .expect("queue length");
        queue.set_nonblocking(true);
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("emulated-path".into())
                .spawn(move || hold_and_release(queue, spec, &stop))
                .expect("path thread")
        };
        let mut path = EmulatedPath {
            queue_num,
            lo_mtu: None,
            stop,
            thread: Some(thread),
            rule_installed: false,
        };
        let previous = std::fs::read_to_string("/sys/class/net/lo/mtu")
            .map(|mtu| mtu.trim().to_owned())
            .unwrap_or_else(|e| panic!("lo MTU: {e}"));
        run_tool("ip", &["link", "set", "dev", "lo", "mtu", "1500"], None)
            .unwrap_or_else(|e| panic!("{e}"));
        path.lo_mtu = Some(previous);
        path.rule_installed = true; // from here on, teardown removes what was added
        for (program, args) in path.rules("-A") {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run_tool(program, &args, None).unwrap_or_else(|e| panic!("{e}"));
        }
        path
    }

    /// The two rules, as (program, arguments): IPv4 UDP to the test subnet, and
    /// all IPv6 UDP (the veth ends' link-local addresses, which libnice uses).
    fn rules(&self, action: &'static str) -> [(&'static str, Vec<String>); 2] {
        let queue = self.queue_num.to_string();
        let v4 = [
            "-t",
            "mangle",
            action,
            "OUTPUT",
            "-p",
            "udp",
            "-d",
            TEST_SUBNET,
            "-j",
            "NFQUEUE",
            "--queue-num",
            &queue,
        ];
        let v6 = [
            "-t",
            "mangle",
            action,
            "OUTPUT",
            "-p",
            "udp",
            "-j",
            "NFQUEUE",
            "--queue-num",
            &queue,
        ];
        let owned = |args: &[&str]| args.iter().map(|a| a.to_string()).collect();
        [
            ("iptables-legacy", owned(&v4)),
            ("ip6tables-legacy", owned(&v6)),
        ]
    }

    /// Removes the path now and returns what it did.
    pub fn remove(mut self) -> PathCounts {
        self.teardown()
    }

    fn teardown(&mut self) -> PathCounts {
        if std::mem::take(&mut self.rule_installed) {
            for (program, args) in self.rules("-D") {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                // A rule that was never added (start panicked half-way) fails to delete: fine.
                let _ = run_tool(program, &args, None);
            }
        }
        if let Some(mtu) = self.lo_mtu.take()
            && let Err(e) = run_tool("ip", &["link", "set", "dev", "lo", "mtu", &mtu], None)
        {
            eprintln!("emulated path cleanup: {e}");
        }
        self.stop.store(true, Ordering::SeqCst);
        self.thread
            .take()
            .and_then(|thread| thread.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for EmulatedPath {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// The path thread: takes datagrams from the queue, drops some, and accepts
/// each one when its time has come. Runs until `stop`, then accepts whatever
/// it still holds (so nothing is stuck in the kernel queue).
fn hold_and_release(mut queue: nfq::Queue, spec: PathSpec, stop: &AtomicBool) -> PathCounts {
    let mut counts = PathCounts::default();
    // Min-heap on (release time, arrival number): equal delays keep their order.
    let mut held: BinaryHeap<Reverse<(Instant, u64, Held)>> = BinaryHeap::new();
    let mut arrivals: u64 = 0;
    let mut random = rand::rng();
    loop {
        let stopping = stop.load(Ordering::SeqCst);
        // Take everything the kernel queued.
        loop {
            match queue.recv() {
                Ok(mut message) => {
                    arrivals += 1;
                    if rand::Rng::random_bool(&mut random, spec.loss) {
                        message.set_verdict(nfq::Verdict::Drop);
                        let _ = queue.verdict(message);
                        counts.dropped += 1;
                        continue;
                    }
                    let mut delay = spec.delay;
                    if spec.reorder > 0.0 && rand::Rng::random_bool(&mut random, spec.reorder) {
                        delay += spec.reorder_extra;
                        counts.reordered += 1;
                    }
                    held.push(Reverse((Instant::now() + delay, arrivals, Held(message))));
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    eprintln!("emulated path: NFQUEUE receive: {e}");
                    break;
                }
            }
        }
        // Release what is due (everything once stopping).
        let now = Instant::now();
        while held
            .peek()
            .is_some_and(|Reverse((at, _, _))| stopping || *at <= now)
        {
            let Reverse((_, _, Held(mut message))) = held.pop().expect("peeked");
            message.set_verdict(nfq::Verdict::Accept);
            let _ = queue.verdict(message);
            counts.passed += 1;
        }
        if stopping {
            return counts;
        }
        let next = held
            .peek()
            .map(|Reverse((at, _, _))| at.saturating_duration_since(now));
        std::thread::sleep(
            next.unwrap_or(Duration::from_millis(1))
                .min(Duration::from_micros(200)),
        );
    }
}

/// A queued datagram; ordered by nothing (the heap key comes before it).
struct Held(nfq::Message);

impl PartialEq for Held {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Held {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}
