//! Join → first data channel open, sampled alternately on rtcgate and raw
//! webrtc, then by each anchor program (its own pairs, its own samples).

use std::time::Duration;

use crate::config::Config;
use crate::report::Row;
use crate::stack::{Contender, Stack};
use crate::throughput::column;

/// Setup times of one stack.
#[derive(Debug, Default, Clone)]
pub struct Samples {
    /// Successful samples.
    pub times: Vec<Duration>,
    /// Attempts that failed or timed out.
    pub failures: usize,
}

impl Samples {
    /// Nearest-rank percentile (`p` in 0..=100), if there is any sample.
    pub fn percentile(&self, p: f64) -> Option<Duration> {
        let mut sorted = self.times.clone();
        sorted.sort();
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted.get(rank.clamp(1, sorted.len().max(1)) - 1).copied()
    }
}

/// Takes `config.joins` samples per contender and returns the p50/p95/p99 table rows.
pub async fn run(config: &Config, url: &str, contenders: &[Contender]) -> Vec<Row> {
    println!(
        "\njoin → data channel open ({} samples per stack)",
        config.joins
    );
    let mut samples: [Samples; 4] = Default::default();
    let (gate, raw) = sample(config, url).await;
    samples[column(Contender::Local(Stack::Rtcgate))] = gate;
    samples[column(Contender::Local(Stack::Raw))] = raw;
    for &contender in contenders {
        let Contender::Anchor(anchor) = contender else {
            continue;
        };
        let measured = &mut samples[column(contender)];
        match anchor.joins(config.joins).await {
            Ok(times) => measured.times = times,
            Err(err) => {
                println!("  {:<10} failed: {err}", anchor.name());
                measured.failures = config.joins;
            }
        }
        print_samples(anchor.name(), measured);
    }
    let ms = |s: &Samples, p| s.percentile(p).map(|d| d.as_secs_f64() * 1e3);
    [50.0, 95.0, 99.0]
        .into_iter()
        .map(|p| {
            Row::of(format!("join → channel open p{p:.0} (ms)"), |c| {
                ms(&samples[column(c)], p)
            })
            .decimals(0)
        })
        .collect()
}

/// rtcgate and raw alternate so that both see the same machine conditions.
/// Returns (rtcgate, raw).
async fn sample(config: &Config, url: &str) -> (Samples, Samples) {
    let (mut gate, mut raw) = (Samples::default(), Samples::default());
    for i in 0..config.joins {
        for stack in Stack::BOTH {
            let samples = match stack {
                Stack::Rtcgate => &mut gate,
                Stack::Raw => &mut raw,
            };
            let room = format!("join-{i}");
            match stack
                .connect(url, &room, true, config.connect_timeout)
                .await
            {
                Ok((pair, setup)) => {
                    samples.times.push(setup);
                    pair.close().await;
                }
                Err(err) => {
                    eprintln!("  join {i} on {}: {err}", stack.name());
                    samples.failures += 1;
                }
            }
        }
    }
    print_samples(Stack::Rtcgate.name(), &gate);
    print_samples(Stack::Raw.name(), &raw);
    (gate, raw)
}

fn print_samples(name: &str, samples: &Samples) {
    let ms = |d: Option<Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1e3);
    println!(
        "  {:<10} {} samples, {} failed: min {:.1} ms, p50 {:.1}, p90 {:.1}, p95 {:.1}, p99 {:.1}, max {:.1} ms",
        name,
        samples.times.len(),
        samples.failures,
        ms(samples.percentile(0.0)),
        ms(samples.percentile(50.0)),
        ms(samples.percentile(90.0)),
        ms(samples.percentile(95.0)),
        ms(samples.percentile(99.0)),
        ms(samples.percentile(100.0)),
    );
}
