//! Resident memory per connected idle pair.
//!
//! Every (stack, N) measurement runs in a fresh child process (this same
//! binary with `--memory-child STACK N`): memory freed by an earlier
//! measurement would otherwise stay in the allocator and make the later one
//! look cheaper. The child keeps one warm-up pair open, reads the resident
//! size, connects N more pairs (each in its own room, each with one open
//! reliable channel), waits for things to settle, reads the resident size
//! again, prints one `MEMORY …` line, and closes everything.
//!
//! Two more subjects split rtcgate's figure: two Calls per "pair" that each
//! sit alone in a room, so there is signalling (WebSocket client, server
//! session, call tasks) but no peer connection; and two bare WebSocket
//! connections to the server per "pair" (no join at all).

use std::time::{Duration, Instant};

use futures::StreamExt;

use rtcgate_core::{Call, CallEvents, CallOptions};

use crate::BenchResult;
use crate::config::Config;
use crate::report::Row;
use crate::stack::{Contender, Pair, Stack};
use crate::sys;

/// What a memory measurement holds open, per pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// A connected pair of `Stack` with one open data channel.
    Pair(Stack),
    /// Two rtcgate Calls, each alone in its own room (signalling only).
    Signalling,
    /// Two WebSocket connections to the signalling server that never join.
    WebSocket,
}

impl Subject {
    /// Every subject, in the order they are measured.
    pub const ALL: [Subject; 4] = [
        Subject::Pair(Stack::Rtcgate),
        Subject::Pair(Stack::Raw),
        Subject::Signalling,
        Subject::WebSocket,
    ];

    /// Name used in output and on the child's command line.
    pub fn name(self) -> &'static str {
        match self {
            Subject::Pair(stack) => stack.name(),
            Subject::Signalling => "signalling",
            Subject::WebSocket => "websocket",
        }
    }

    /// The inverse of [`name`](Self::name).
    pub fn parse(name: &str) -> Option<Subject> {
        Subject::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Opens the `i`th unit of this subject.
    async fn open(self, url: &str, i: usize, config: &Config) -> BenchResult<Held> {
        let room = format!("memory-{i}");
        match self {
            Subject::Pair(stack) => {
                let (mut pair, _) = stack
                    .connect(url, &room, true, config.connect_timeout)
                    .await?;
                pair.idle();
                Ok(Held::Pair(pair))
            }
            Subject::Signalling => {
                let join = |side: &'static str| {
                    let room = format!("{room}-{side}");
                    async move { Call::join_url(url, &room, side, CallOptions::default()).await }
                };
                let (a, b) = tokio::try_join!(join("a"), join("b"))?;
                Ok(Held::Calls([a, b]))
            }
            Subject::WebSocket => {
                let (a, _) = tokio_tungstenite::connect_async(url).await?;
                let (b, _) = tokio_tungstenite::connect_async(url).await?;
                Ok(Held::Sockets(Box::new([a, b])))
            }
        }
    }
}

/// A client WebSocket connection, as `tokio_tungstenite::connect_async` makes it.
type WebSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One unit a memory child keeps open.
enum Held {
    Pair(Pair),
    Calls([(Call, CallEvents); 2]),
    Sockets(Box<[WebSocket; 2]>),
}

impl Held {
    async fn close(self) {
        match self {
            Held::Pair(pair) => pair.close().await,
            Held::Calls([(a, _), (b, _)]) => {
                let _ = tokio::join!(a.leave(), b.leave());
            }
            Held::Sockets(sockets) => {
                for mut socket in *sockets {
                    let _ = socket.close(None).await;
                }
            }
        }
    }
}

/// One child's measurement.
#[derive(Debug, Clone, Copy)]
pub struct Measurement {
    /// Pairs connected (beyond the warm-up pair).
    pub pairs: usize,
    /// Resident size before and after connecting them.
    pub rss_before: u64,
    /// Resident size after the pairs connected and settled.
    pub rss_after: u64,
    /// Time to connect all of them.
    pub setup: Duration,
}

impl Measurement {
    /// Resident bytes per pair.
    pub fn per_pair(&self) -> f64 {
        self.rss_after.saturating_sub(self.rss_before) as f64 / self.pairs.max(1) as f64
    }

    fn to_line(self) -> String {
        format!(
            "MEMORY pairs={} rss_before={} rss_after={} setup_ms={}",
            self.pairs,
            self.rss_before,
            self.rss_after,
            self.setup.as_millis()
        )
    }

    fn from_line(line: &str) -> Option<Measurement> {
        let rest = line.strip_prefix("MEMORY ")?;
        let field = |name: &str| -> Option<u64> {
            rest.split_whitespace()
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))?
                .parse()
                .ok()
        };
        Some(Measurement {
            pairs: field("pairs")? as usize,
            rss_before: field("rss_before")?,
            rss_after: field("rss_after")?,
            setup: Duration::from_millis(field("setup_ms")?),
        })
    }
}

/// Measures every subject (and anchor) for every N and returns the table rows.
pub async fn run(config: &Config, contenders: &[Contender]) -> Vec<Row> {
    println!("\nmemory per connected idle pair (one child process per measurement)");
    let results = measure_all(config).await;
    let mut anchors: Vec<(Contender, usize, f64)> = Vec::new();
    for &pairs in &config.memory_pairs {
        for &contender in contenders {
            let Contender::Anchor(anchor) = contender else {
                continue;
            };
            match anchor.memory_per_pair(pairs).await {
                Ok(bytes) => {
                    println!(
                        "  {:<10} N={pairs:<3} {:.0} KiB per pair",
                        anchor.name(),
                        bytes / 1024.0
                    );
                    anchors.push((contender, pairs, bytes / 1024.0));
                }
                Err(err) => println!("  {:<10} N={pairs:<3} failed: {err}", anchor.name()),
            }
        }
    }
    let kib = |subject, pairs| {
        results.iter().find_map(|(s, n, m)| match m {
            Ok(m) if *s == subject && *n == pairs => Some(m.per_pair() / 1024.0),
            _ => None,
        })
    };
    let mut rows = Vec::new();
    for &pairs in &config.memory_pairs {
        rows.push(
            Row::of(
                format!("memory per idle pair, N={pairs} (KiB RSS)"),
                |c| match c {
                    Contender::Local(stack) => kib(Subject::Pair(stack), pairs),
                    Contender::Anchor(_) => anchors
                        .iter()
                        .find(|(a, n, _)| *a == c && *n == pairs)
                        .map(|(_, _, kib)| *kib),
                },
            )
            .decimals(0),
        );
        for (what, subject) in [
            ("2 lone Calls (signalling)", Subject::Signalling),
            ("2 bare WebSockets", Subject::WebSocket),
        ] {
            rows.push(
                Row::new(
                    format!("… of which {what}, N={pairs} (KiB RSS)"),
                    kib(subject, pairs),
                    None,
                )
                .decimals(0),
            );
        }
    }
    rows
}

/// Runs one child process per (subject, N) and collects the results.
async fn measure_all(config: &Config) -> Vec<(Subject, usize, BenchResult<Measurement>)> {
    let mut results = Vec::new();
    for &pairs in &config.memory_pairs {
        for subject in Subject::ALL {
            let measured = measure_in_child(config, subject, pairs).await;
            match &measured {
                Ok(m) => println!(
                    "  {:<10} N={:<3} RSS {:.1} → {:.1} MiB, {:.0} KiB per pair, connected in {:.1} s",
                    subject.name(),
                    pairs,
                    m.rss_before as f64 / 1048576.0,
                    m.rss_after as f64 / 1048576.0,
                    m.per_pair() / 1024.0,
                    m.setup.as_secs_f64()
                ),
                Err(err) => println!("  {:<10} N={pairs:<3} failed: {err}", subject.name()),
            }
            results.push((subject, pairs, measured));
        }
    }
    results
}

async fn measure_in_child(
    config: &Config,
    subject: Subject,
    pairs: usize,
) -> BenchResult<Measurement> {
    let mut command = tokio::process::Command::new(std::env::current_exe()?);
    command
        .args(["--memory-child", subject.name(), &pairs.to_string()])
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true);
    if config.quick {
        command.arg("--quick");
    }
    let limit = Duration::from_secs(60) + config.connect_timeout * 4;
    let output = tokio::time::timeout(limit, command.output())
        .await
        .map_err(|_| format!("memory child did not finish within {limit:?}"))??;
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .find_map(Measurement::from_line)
        .ok_or_else(|| format!("memory child failed ({}): {stdout}", output.status).into())
}

/// The child's side: measure `pairs` units of `subject` and print the result.
pub async fn child(config: &Config, subject: Subject, pairs: usize) -> BenchResult<()> {
    let server = crate::start_server().await?;
    let url = server.url();
    let connect = |i: usize| subject.open(&url, i, config);
    let warm_up = connect(usize::MAX).await?;
    tokio::time::sleep(config.settle).await;
    let rss_before = sys::rss_bytes()?;

    let start = Instant::now();
    let connected: Vec<BenchResult<Held>> = futures::stream::iter(0..pairs)
        .map(connect)
        .buffer_unordered(config.memory_concurrency)
        .collect()
        .await;
    let setup = start.elapsed();
    let mut open = Vec::with_capacity(pairs);
    for result in connected {
        open.push(result?);
    }
    tokio::time::sleep(config.settle).await;
    let rss_after = sys::rss_bytes()?;
    let measurement = Measurement {
        pairs,
        rss_before,
        rss_after,
        setup,
    };
    println!("{}", measurement.to_line());

    open.push(warm_up);
    let closing =
        futures::stream::iter(open).for_each_concurrent(config.memory_concurrency, Held::close);
    if tokio::time::timeout(Duration::from_secs(60), closing)
        .await
        .is_err()
    {
        eprintln!("memory child: closing {pairs} pairs took over 60 s");
    }
    server.shutdown().await;
    Ok(())
}
