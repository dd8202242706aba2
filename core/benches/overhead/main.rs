//! rtcgate against raw webrtc 0.21, GStreamer webrtcbin and aiortc, side by
//! side in one run:
//!
//! 1. data-channel throughput (reliable/ordered 16 KiB messages with
//!    buffered-amount back-pressure; unordered/unreliable 1 KiB messages),
//!    with process CPU time;
//! 2. reliable throughput over an emulated 20 ms RTT, 1 % loss path;
//! 3. join → first data channel open (min, p50, p90, p95, p99, max);
//! 4. resident memory per connected idle pair (N = 20 and 100).
//!
//! webrtcbin and aiortc are Python programs run as child processes
//! (`core/benches/anchors/`, set up by its `setup.sh`); `core/benches/transport.sh`
//! does the set-up, the build and the run in one command.
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
//! Extra words after `--` pick sections: `throughput`, `lossy`, `join`, `memory`.
//! See docs/benchmarks.md for the recorded figures.

mod anchors;
mod config;
mod gate;
mod latency;
mod lossy;
mod memory;
mod raw;
mod report;
mod stack;
mod sys;
mod throughput;
mod transfer;

/// The test helpers for network paths, shared with `core/tests`.
#[allow(dead_code)]
#[path = "../../tests/support"]
mod support {
    pub mod netem;
    pub mod path;
}

use std::net::SocketAddr;
use std::time::Instant;

use rtcgate_core::signalling::{ServerConfig, SignallingServer};

use config::{Config, Section};

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
        Some((subject, pairs)) => runtime.block_on(memory::child(&config, subject, pairs)),
        None => runtime.block_on(run(config)),
    };
    if let Err(err) = outcome {
        eprintln!("benchmark failed: {err}");
        std::process::exit(1);
    }
}

/// `--memory-child SUBJECT N`: this process is one memory measurement.
fn memory_child_args(args: &[String]) -> Option<(memory::Subject, usize)> {
    let at = args.iter().position(|a| a == "--memory-child")?;
    let subject = memory::Subject::parse(args.get(at + 1)?)?;
    let pairs = args.get(at + 2)?.parse().ok()?;
    Some((subject, pairs))
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
    let contenders = stack::Contender::available();
    println!(
        "contenders: {}",
        contenders
            .iter()
            .map(|c| c.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let server = start_server().await?;
    let url = server.url();
    let mut rows = Vec::new();
    if config.runs(Section::Throughput) {
        rows.extend(throughput::run(&config, &url, &contenders).await);
    }
    if config.runs(Section::Lossy) {
        rows.extend(lossy::run(&config, &url, &contenders).await);
    }
    if config.runs(Section::Join) {
        rows.extend(latency::run(&config, &url, &contenders).await);
    }
    server.shutdown().await;
    if config.runs(Section::Memory) {
        rows.extend(memory::run(&config, &contenders).await);
    }
    println!("\n{}", report::table(&rows));
    println!("total time {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}
