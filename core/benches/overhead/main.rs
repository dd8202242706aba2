//! rtcgate against raw webrtc 0.21, side by side in one run:
//!
//! 1. data-channel throughput (reliable/ordered 16 KiB messages with
//!    buffered-amount back-pressure; unordered/unreliable 1 KiB messages),
//!    with process CPU time;
//! 2. join → first data channel open (p50/p95);
//! 3. resident memory per connected idle pair (N = 20 and 100).
//!
//! Needs non-loopback interfaces (ICE skips loopback): build outside, run inside
//! the network namespace wrapper —
//!
//! ```text
//! cargo bench -p rtcgate-core --bench overhead --no-run
//! .ci/with-netns cargo bench -p rtcgate-core --offline --bench overhead            # full
//! RTCGATE_BENCH_QUICK=1 .ci/with-netns cargo bench -p rtcgate-core --offline --bench overhead
//! ```
//!
//! Extra words after `--` pick sections: `throughput`, `join`, `memory`.
//! See docs/benchmarks.md for the recorded figures.

mod config;
mod gate;
mod latency;
mod memory;
mod raw;
mod report;
mod stack;
mod sys;
mod throughput;

use std::net::SocketAddr;
use std::time::Instant;

use rtcgate_core::signalling::{ServerConfig, SignallingServer};

use config::{Config, Section, TransferPlan};
use report::Row;
use stack::Stack;
use throughput::TransferResult;

/// Errors of either stack, or of the benchmark itself.
pub type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = Config::from_args(&args);
    sys::raise_fd_limit();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "error".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
    if !sys::has_non_loopback_interface() {
        eprintln!(
            "this benchmark needs a non-loopback interface: run it through \
             `.ci/with-netns cargo bench -p rtcgate-core --offline --bench overhead` \
             (see docs/benchmarks.md)"
        );
        std::process::exit(2);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let outcome = match memory_child_args(&args) {
        Some((stack, pairs)) => runtime.block_on(memory::child(&config, stack, pairs)),
        None => runtime.block_on(run(config)),
    };
    if let Err(err) = outcome {
        eprintln!("benchmark failed: {err}");
        std::process::exit(1);
    }
}

/// `--memory-child STACK N`: this process is one memory measurement.
fn memory_child_args(args: &[String]) -> Option<(Stack, usize)> {
    let at = args.iter().position(|a| a == "--memory-child")?;
    let stack = Stack::parse(args.get(at + 1)?)?;
    let pairs = args.get(at + 2)?.parse().ok()?;
    Some((stack, pairs))
}

/// The embedded signalling server on an ephemeral loopback port.
pub async fn start_server() -> BenchResult<SignallingServer> {
    Ok(SignallingServer::bind(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        ServerConfig::default(),
    )
    .await?)
}

async fn run(config: Config) -> BenchResult<()> {
    let started = Instant::now();
    println!(
        "rtcgate overhead benchmark ({} mode) on {}",
        if config.quick { "quick" } else { "full" },
        sys::machine_description()
    );
    let server = start_server().await?;
    let url = server.url();
    let mut rows = Vec::new();

    if config.runs(Section::Throughput) {
        for plan in [config.reliable, config.unreliable] {
            let (gate, raw) = transfers(&config, &url, plan).await;
            rows.extend(throughput_rows(plan, &gate, &raw));
        }
    }
    if config.runs(Section::Join) {
        println!(
            "\njoin → data channel open ({} samples per stack)",
            config.joins
        );
        let (gate, raw) = latency::run(&config, &url).await;
        let ms = |s: &latency::Samples, p| s.percentile(p).map(|d| d.as_secs_f64() * 1e3);
        rows.push(
            Row::new(
                "join → channel open p50 (ms)",
                ms(&gate, 50.0),
                ms(&raw, 50.0),
            )
            .decimals(0),
        );
        rows.push(
            Row::new(
                "join → channel open p95 (ms)",
                ms(&gate, 95.0),
                ms(&raw, 95.0),
            )
            .decimals(0),
        );
    }
    server.shutdown().await;
    if config.runs(Section::Memory) {
        println!("\nmemory per connected idle pair (one child process per measurement)");
        let results = memory::run(&config).await;
        for &pairs in &config.memory_pairs {
            let kib = |stack| {
                results.iter().find_map(|(s, n, m)| {
                    (*s == stack && *n == pairs)
                        .then(|| m.as_ref().ok().map(|m| m.per_pair() / 1024.0))
                        .flatten()
                })
            };
            rows.push(
                Row::new(
                    format!("memory per idle pair, N={pairs} (KiB RSS)"),
                    kib(Stack::Rtcgate),
                    kib(Stack::Raw),
                )
                .decimals(0),
            );
        }
    }

    println!("\n{}", report::table(&rows));
    println!("total time {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Runs `plan` `config.rounds` times on each stack (the stack that goes first
/// alternates) and returns the results per stack.
async fn transfers(
    config: &Config,
    url: &str,
    plan: TransferPlan,
) -> (Vec<TransferResult>, Vec<TransferResult>) {
    println!(
        "\n{} {} KiB messages, {} MiB, pause above {} KiB buffered, resume at {} KiB",
        kind(plan),
        plan.message_size / 1024,
        plan.total_bytes >> 20,
        plan.high_water / 1024,
        plan.low_water / 1024
    );
    let (mut gate, mut raw) = (Vec::new(), Vec::new());
    for round in 0..config.rounds {
        let mut order = Stack::BOTH;
        if round % 2 == 1 {
            order.reverse();
        }
        for stack in order {
            let room = format!("throughput-{}-{round}", kind(plan));
            match transfer(config, url, &room, stack, plan).await {
                Ok(result) => {
                    print_transfer(stack, round, &result);
                    match stack {
                        Stack::Rtcgate => gate.push(result),
                        Stack::Raw => raw.push(result),
                    }
                }
                Err(err) => println!("  {:<8} round {round}: failed: {err}", stack.name()),
            }
        }
    }
    (gate, raw)
}

async fn transfer(
    config: &Config,
    url: &str,
    room: &str,
    stack: Stack,
    plan: TransferPlan,
) -> BenchResult<TransferResult> {
    let (pair, _) = stack
        .connect(url, room, plan.reliable, config.connect_timeout)
        .await?;
    let (sender, receiver) = pair.ends();
    let result = throughput::run(plan, sender, receiver).await;
    pair.close().await;
    result
}

fn kind(plan: TransferPlan) -> &'static str {
    if plan.reliable {
        "reliable"
    } else {
        "unreliable"
    }
}

fn print_transfer(stack: Stack, round: usize, r: &TransferResult) {
    println!(
        "  {:<8} round {round}: {:>6.1} MB/s, {}/{} messages in {:.2} s, CPU {:.2} s, \
         {} stalls > {} ms ({:.1} s), corrupt {}, out of order {}, duplicates {}{}{}",
        stack.name(),
        r.mb_per_s(),
        r.delivered_messages,
        r.offered_messages,
        r.elapsed.as_secs_f64(),
        r.cpu.as_secs_f64(),
        r.stalls,
        throughput::STALL.as_millis(),
        r.stalled.as_secs_f64(),
        r.corrupt,
        r.out_of_order,
        r.duplicates,
        if r.timed_out { ", TIMED OUT" } else { "" },
        r.sender_error
            .as_ref()
            .map(|e| format!(", sender: {e}"))
            .unwrap_or_default(),
    );
}

/// Median of `values` (upper median for an even count).
fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied()
}

fn throughput_rows(
    plan: TransferPlan,
    gate: &[TransferResult],
    raw: &[TransferResult],
) -> Vec<Row> {
    let size = format!("{} KiB", plan.message_size / 1024);
    let stat = |results: &[TransferResult], f: fn(&TransferResult) -> f64| {
        median(results.iter().map(f).collect())
    };
    let mut rows = vec![Row::new(
        format!("{} {size} throughput (MB/s)", kind(plan)),
        stat(gate, TransferResult::mb_per_s),
        stat(raw, TransferResult::mb_per_s),
    )];
    rows.push(Row::new(
        format!("{} {size} throughput outside stalls (MB/s)", kind(plan)),
        stat(gate, TransferResult::active_mb_per_s),
        stat(raw, TransferResult::active_mb_per_s),
    ));
    let stalled = |r: &TransferResult| r.stalled.as_secs_f64();
    rows.push(
        Row::new(
            format!("{} {size} time in stalls > 100 ms (s)", kind(plan)),
            stat(gate, stalled),
            stat(raw, stalled),
        )
        .decimals(1),
    );
    if plan.reliable {
        let clean = |results: &[TransferResult]| {
            Some(results.iter().filter(|r| r.is_clean()).count() as f64)
        };
        rows.push(
            Row::new(
                format!("reliable: clean transfers of {}", gate.len().max(raw.len())),
                clean(gate),
                clean(raw),
            )
            .decimals(0),
        );
    } else {
        let percent = |r: &TransferResult| r.delivered_fraction() * 100.0;
        rows.push(Row::new(
            "unreliable delivered (%)",
            stat(gate, percent),
            stat(raw, percent),
        ));
    }
    let cpu = |r: &TransferResult| r.cpu.as_secs_f64();
    rows.push(
        Row::new(
            format!("{} {size} CPU time (s)", kind(plan)),
            stat(gate, cpu),
            stat(raw, cpu),
        )
        .decimals(2),
    );
    rows
}
