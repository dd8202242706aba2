//! Resident memory per connected idle pair.
//!
//! Every (stack, N) measurement runs in a fresh child process (this same
//! binary with `--memory-child STACK N`): memory freed by an earlier
//! measurement would otherwise stay in the allocator and make the later one
//! look cheaper. The child keeps one warm-up pair open, reads the resident
//! size, connects N more pairs (each in its own room, each with one open
//! reliable channel), waits for things to settle, reads the resident size
//! again, prints one `MEMORY …` line, and closes everything.

use std::time::{Duration, Instant};

use futures::StreamExt;

use crate::BenchResult;
use crate::config::Config;
use crate::stack::{Pair, Stack};
use crate::sys;

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

/// Runs one child process per (stack, N) and collects the results.
pub async fn run(config: &Config) -> Vec<(Stack, usize, BenchResult<Measurement>)> {
    let mut results = Vec::new();
    for &pairs in &config.memory_pairs {
        for stack in Stack::BOTH {
            let measured = measure_in_child(config, stack, pairs).await;
            match &measured {
                Ok(m) => println!(
                    "  {:<8} N={:<3} RSS {:.1} → {:.1} MiB, {:.0} KiB per pair, connected in {:.1} s",
                    stack.name(),
                    pairs,
                    m.rss_before as f64 / 1048576.0,
                    m.rss_after as f64 / 1048576.0,
                    m.per_pair() / 1024.0,
                    m.setup.as_secs_f64()
                ),
                Err(err) => println!("  {:<8} N={pairs:<3} failed: {err}", stack.name()),
            }
            results.push((stack, pairs, measured));
        }
    }
    results
}

async fn measure_in_child(config: &Config, stack: Stack, pairs: usize) -> BenchResult<Measurement> {
    let mut command = tokio::process::Command::new(std::env::current_exe()?);
    command
        .args(["--memory-child", stack.name(), &pairs.to_string()])
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

/// The child's side: measure `pairs` pairs of `stack` and print the result.
pub async fn child(config: &Config, stack: Stack, pairs: usize) -> BenchResult<()> {
    let server = crate::start_server().await?;
    let url = server.url();
    let connect = |i: usize| {
        let url = url.clone();
        async move {
            let room = format!("memory-{i}");
            let (mut pair, _) = stack
                .connect(&url, &room, true, config.connect_timeout)
                .await?;
            pair.idle();
            BenchResult::Ok(pair)
        }
    };
    let warm_up = connect(usize::MAX).await?;
    tokio::time::sleep(config.settle).await;
    let rss_before = sys::rss_bytes()?;

    let start = Instant::now();
    let connected: Vec<BenchResult<Pair>> = futures::stream::iter(0..pairs)
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
        futures::stream::iter(open).for_each_concurrent(config.memory_concurrency, Pair::close);
    if tokio::time::timeout(Duration::from_secs(60), closing)
        .await
        .is_err()
    {
        eprintln!("memory child: closing {pairs} pairs took over 60 s");
    }
    server.shutdown().await;
    Ok(())
}
