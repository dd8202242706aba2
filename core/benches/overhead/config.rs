//! Sizes of each section in quick (CI smoke) and full (recorded) mode, and
//! the command line.

use std::time::Duration;

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// One data-channel transfer: how much, in what pieces, over which kind of channel.
#[derive(Debug, Clone, Copy)]
pub struct TransferPlan {
    /// Reliable and ordered, or unordered with `maxRetransmits = 0`.
    pub reliable: bool,
    /// Size of every message.
    pub message_size: usize,
    /// Bytes offered in total (a whole number of messages).
    pub total_bytes: usize,
    /// The sender pauses when more than this is buffered …
    pub high_water: usize,
    /// … and resumes when the buffered amount falls to this.
    pub low_water: usize,
    /// The transfer gives up (and reports what arrived) after this long.
    pub timeout: Duration,
    /// Runs per stack (alternating stacks); the median is reported.
    pub rounds: usize,
}

impl TransferPlan {
    /// Number of messages the sender offers.
    pub fn messages(&self) -> usize {
        self.total_bytes / self.message_size
    }
}

/// Everything the benchmark run needs to know.
#[derive(Debug, Clone)]
pub struct Config {
    /// Quick mode: small sizes so that CI can smoke-run it in under a minute.
    pub quick: bool,
    /// Reliable/ordered transfer.
    pub reliable: TransferPlan,
    /// Unordered/unreliable transfer.
    pub unreliable: TransferPlan,
    /// Reliable transfer over the emulated wide-area path.
    pub lossy: TransferPlan,
    /// Join → channel-open samples per stack.
    pub joins: usize,
    /// Pair counts of the memory section.
    pub memory_pairs: Vec<usize>,
    /// Pairs connected at once while setting up the memory section.
    pub memory_concurrency: usize,
    /// Wait after the last pair connected before reading the resident size.
    pub settle: Duration,
    /// Limit on connecting one pair.
    pub connect_timeout: Duration,
    /// Sections to run.
    pub sections: Vec<Section>,
}

/// A part of the benchmark that can be run on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// Data-channel throughput.
    Throughput,
    /// Join → first data channel open.
    Join,
    /// Memory per connected idle pair.
    Memory,
    /// Reliable throughput over an emulated 20 ms RTT, 1 % loss path.
    Lossy,
}

impl Section {
    const ALL: [Section; 4] = [
        Section::Throughput,
        Section::Lossy,
        Section::Join,
        Section::Memory,
    ];

    fn parse(word: &str) -> Option<Section> {
        match word {
            "throughput" => Some(Section::Throughput),
            "join" => Some(Section::Join),
            "memory" => Some(Section::Memory),
            "lossy" => Some(Section::Lossy),
            _ => None,
        }
    }
}

impl Config {
    /// Quick mode when `RTCGATE_BENCH_QUICK` is set (not `0`) or `--quick` is given;
    /// `RTCGATE_BENCH_ROUNDS` overrides the number of transfer rounds, `RTCGATE_BENCH_JOINS`
    /// the number of join samples.
    /// Words `throughput`, `lossy`, `join`, `memory` select sections (default all);
    /// everything else (`--bench` from cargo) is ignored.
    pub fn from_args(args: &[String]) -> Config {
        let quick = args.iter().any(|a| a == "--quick")
            || std::env::var("RTCGATE_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        let mut sections: Vec<Section> = args.iter().filter_map(|a| Section::parse(a)).collect();
        if sections.is_empty() {
            sections = Section::ALL.to_vec();
        }
        let mut config = if quick { Self::quick() } else { Self::full() };
        config.sections = sections;
        if let Some(rounds) = std::env::var("RTCGATE_BENCH_ROUNDS")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            config.reliable.rounds = rounds;
            config.unreliable.rounds = rounds;
            config.lossy.rounds = rounds;
        }
        if let Some(joins) = std::env::var("RTCGATE_BENCH_JOINS")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            config.joins = joins;
        }
        config
    }

    fn full() -> Config {
        Config {
            quick: false,
            reliable: TransferPlan {
                reliable: true,
                message_size: 16 * KIB,
                total_bytes: 64 * MIB,
                high_water: MIB,
                low_water: 512 * KIB,
                timeout: Duration::from_secs(90),
                // Each run takes 2–12 s, mostly in retransmission stalls.
                rounds: 9,
            },
            unreliable: TransferPlan {
                reliable: false,
                message_size: KIB,
                total_bytes: 32 * MIB,
                high_water: MIB,
                low_water: 512 * KIB,
                timeout: Duration::from_secs(90),
                // Each run takes well under 2 s but varies ±50 %: more of them.
                rounds: 15,
            },
            lossy: TransferPlan {
                reliable: true,
                message_size: 16 * KIB,
                // ~0.5–1 MB/s is what loss-based congestion control gets at 1 % loss
                // and 20 ms RTT (Mathis et al.): 8 MiB take 10–20 s.
                total_bytes: 8 * MIB,
                high_water: MIB,
                low_water: 512 * KIB,
                timeout: Duration::from_secs(120),
                rounds: 3,
            },
            // Enough for a p99 that is not the maximum (issue 15: ≥ 200).
            joins: 200,
            memory_pairs: vec![20, 100],
            memory_concurrency: 8,
            settle: Duration::from_secs(3),
            connect_timeout: Duration::from_secs(30),
            sections: Section::ALL.to_vec(),
        }
    }

    fn quick() -> Config {
        let full = Self::full();
        Config {
            quick: true,
            reliable: TransferPlan {
                total_bytes: 4 * MIB,
                timeout: Duration::from_secs(15),
                rounds: 1,
                ..full.reliable
            },
            unreliable: TransferPlan {
                total_bytes: 2 * MIB,
                timeout: Duration::from_secs(15),
                rounds: 1,
                ..full.unreliable
            },
            lossy: TransferPlan {
                total_bytes: MIB,
                timeout: Duration::from_secs(30),
                rounds: 1,
                ..full.lossy
            },
            joins: 4,
            memory_pairs: vec![3, 6],
            settle: Duration::from_secs(1),
            ..full
        }
    }

    /// True when `section` was selected.
    pub fn runs(&self, section: Section) -> bool {
        self.sections.contains(&section)
    }
}
