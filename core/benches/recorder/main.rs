//! The recorder against a GStreamer pipeline doing the same job: CPU time and
//! peak memory per recorded participant, for N concurrent participants.
//!
//! N sender members (rtcgate `Call`s in this process) each send synthetic VP8
//! (~2.5 Mbit/s, 30 fps, a keyframe every 2 s and on request) and Opus
//! (~48 kbit/s, 20 ms) in real time for a fixed time. The recording side runs
//! in its own process: `rtcgate record` (this crate's program), or
//! `gst_recorder.py` (webrtcbin → rtpjitterbuffer → depayloaders → webmmux →
//! filesink, one pipeline per participant). Its CPU time (`/proc/<pid>/stat`)
//! is read over the sending window, its memory (`VmHWM`, `VmRSS`) before and
//! after; the files are read back with `ffprobe`.
//!
//! ```text
//! cargo bench -p rtcgate-core --bench recorder --no-run
//! .ci/with-netns cargo bench -p rtcgate-core --offline --bench recorder          # full
//! RTCGATE_BENCH_QUICK=1 .ci/with-netns cargo bench -p rtcgate-core --offline --bench recorder
//! .ci/with-netns cargo bench -p rtcgate-core --offline --bench recorder -- rtcgate 1,10,30
//! ```
//!
//! Words after `--`: `rtcgate` / `gst` (one side only), a comma-separated list
//! of N, `--quick`, `vp9` / `av1` (scalable video with three spatial layers
//! instead of VP8: `layered.rs`). Environment: `RTCGATE_BENCH_QUICK=1`,
//! `RTCGATE_BENCH_SECONDS` (sending time), `RTCGATE_BENCH_KEEP=1` (keep the
//! files). See docs/benchmarks.md for the recorded figures.

mod layered;
mod probe;
mod senders;
mod subject;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt;
use rtcgate_core::signalling::{ServerConfig, SignallingServer};

use layered::VideoKind;
use probe::FileReport;
use senders::{Sender, VideoSource};
use subject::{RECORDER_NAME, Side, Subject};

/// Errors of the benchmark.
pub type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// A side "keeps up" while it uses less than this many cores…
const MAX_CORES: f64 = 1.9;
/// …every file plays at least the sending time minus this…
const SPAN_SLACK: f64 = 1.5;
/// …and the files hold at least this share of the bytes sent.
const MIN_BYTES_SHARE: f64 = 0.95;

struct Config {
    quick: bool,
    seconds: u64,
    counts: Vec<usize>,
    /// Past the explicit counts, keep adding participants (10 up to 20,
    /// then 20 at a time) until both sides stopped keeping up (or
    /// `escalate_until`); off when 0.
    escalate_step: usize,
    escalate_until: usize,
    sides: Vec<Side>,
    keep: bool,
    /// The senders' video (words `vp8`, `vp9`, `av1`; default VP8).
    video: VideoKind,
}

impl Config {
    fn from_args(args: &[String]) -> Config {
        let quick = std::env::var("RTCGATE_BENCH_QUICK").is_ok_and(|v| v != "0")
            || args.iter().any(|a| a == "--quick");
        let mut config = Config {
            quick,
            seconds: if quick { 8 } else { 20 },
            counts: if quick { vec![1, 4] } else { vec![1, 10] },
            escalate_step: if quick { 0 } else { 10 },
            escalate_until: 80,
            sides: vec![Side::Rtcgate, Side::Gst],
            keep: std::env::var("RTCGATE_BENCH_KEEP").is_ok_and(|v| v != "0"),
            video: args
                .iter()
                .find_map(|a| VideoKind::parse(a))
                .unwrap_or(VideoKind::Vp8),
        };
        if let Some(s) = std::env::var("RTCGATE_BENCH_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
        {
            config.seconds = s;
        }
        let sides: Vec<Side> = args.iter().filter_map(|a| Side::parse(a)).collect();
        if !sides.is_empty() {
            config.sides = sides;
        }
        if let Some(list) = args
            .iter()
            .find(|a| a.chars().all(|c| c.is_ascii_digit() || c == ','))
        {
            config.counts = list.split(',').filter_map(|n| n.parse().ok()).collect();
            config.escalate_step = 0;
        }
        config
    }
}

/// One recorder run: one side, N participants.
struct Run {
    side: Side,
    n: usize,
    connected: usize,
    window: Duration,
    cpu: Duration,
    peak_cores: f64,
    baseline_rss: u64,
    hwm: u64,
    threads: u64,
    total_cpu: Duration,
    max_rss: u64,
    sender_cores: f64,
    bytes_sent: u64,
    files: Vec<FileReport>,
    problems: Vec<String>,
}

impl Run {
    fn cores(&self) -> f64 {
        self.cpu.as_secs_f64() / self.window.as_secs_f64()
    }

    /// Per participant: percent of one core.
    fn core_percent_each(&self) -> f64 {
        100.0 * self.cores() / self.connected.max(1) as f64
    }

    fn cpu_each(&self) -> f64 {
        self.cpu.as_secs_f64() / self.connected.max(1) as f64
    }

    fn mib_each(&self) -> f64 {
        self.hwm.saturating_sub(self.baseline_rss) as f64 / MIB / self.connected.max(1) as f64
    }

    fn min_span(&self) -> f64 {
        self.files
            .iter()
            .map(|f| f.span)
            .fold(f64::INFINITY, f64::min)
    }

    fn bytes_share(&self) -> f64 {
        let recorded: u64 = self.files.iter().map(|f| f.bytes).sum();
        recorded as f64 / self.bytes_sent.max(1) as f64
    }

    fn playing_files(&self) -> usize {
        self.files.iter().filter(|f| f.plays()).count()
    }

    fn kept_up(&self, seconds: u64) -> bool {
        self.connected == self.n
            && self.playing_files() == self.n
            && self.min_span() >= seconds as f64 - SPAN_SLACK
            && self.bytes_share() >= MIN_BYTES_SHARE
            && self.cores() < MAX_CORES
    }
}

const MIB: f64 = 1024.0 * 1024.0;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = Config::from_args(&args);
    raise_fd_limit();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "error".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
    if !has_non_loopback_interface() {
        eprintln!(
            "this benchmark needs a non-loopback interface: run it through \
             `.ci/with-netns cargo bench -p rtcgate-core --offline --bench recorder` \
             (see docs/benchmarks.md)"
        );
        std::process::exit(2);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Err(err) = runtime.block_on(run(config)) {
        eprintln!("benchmark failed: {err}");
        std::process::exit(1);
    }
}

async fn run(config: Config) -> BenchResult<()> {
    let started = Instant::now();
    println!(
        "rtcgate recorder benchmark ({} mode, {} video, {} s of media per run) on {}",
        if config.quick { "quick" } else { "full" },
        config.video.label(),
        config.seconds,
        machine_description()
    );
    // Room size, rate limits and queues sized for one recorder and up to
    // `escalate_until` senders trickling their candidates at once (webrtcbin
    // sends ~10 per peer connection: the defaults of 50/s and 32 members are
    // for people, not for this).
    let mut server_config = ServerConfig::default();
    server_config.max_members_per_room = config
        .escalate_until
        .max(config.counts.iter().copied().max().unwrap_or(0))
        + 8;
    server_config.outgoing_queue = 8192;
    server_config.rate_limit.messages_per_second = 10_000.0;
    server_config.rate_limit.burst = 10_000;
    let server =
        SignallingServer::bind(SocketAddr::from(([127, 0, 0, 1], 0)), server_config).await?;
    let base = std::env::temp_dir().join(format!("rtcgate-recbench-{}", std::process::id()));
    std::fs::create_dir_all(&base)?;
    let mut runs: Vec<Run> = Vec::new();
    let mut failed: Vec<Side> = Vec::new();
    let mut counts = config.counts.clone();
    let mut i = 0;
    while i < counts.len() {
        let n = counts[i];
        i += 1;
        for &side in &config.sides {
            if failed.contains(&side) {
                continue;
            }
            match run_one(&config, side, n, &server.url(), &base).await {
                Ok(run) => {
                    print_run(&run, &config);
                    if !run.kept_up(config.seconds) {
                        failed.push(side);
                    }
                    runs.push(run);
                }
                Err(err) => {
                    println!("{} N={n}: failed: {err}", side.label());
                    failed.push(side);
                }
            }
            // Let sockets and the previous process's exit settle.
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        let all_failed = config.sides.iter().all(|s| failed.contains(s));
        let next = n + if n < 20 {
            config.escalate_step
        } else {
            2 * config.escalate_step
        };
        if i == counts.len()
            && config.escalate_step > 0
            && !all_failed
            && next <= config.escalate_until
        {
            counts.push(next);
        }
    }
    server.shutdown().await;
    if !config.keep {
        let _ = std::fs::remove_dir_all(&base);
    }
    println!("\n{}", table(&runs, &config));
    println!("{}", comparison(&runs));
    println!("{}", capacity(&runs, &config));
    println!("total time {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

async fn run_one(
    config: &Config,
    side: Side,
    n: usize,
    url: &str,
    base: &Path,
) -> BenchResult<Run> {
    let room = format!("recbench-{}-{n}", side.label());
    let out = base.join(format!("{}-{n}", side.label()));
    std::fs::create_dir_all(&out)?;
    let log = base.join(format!("{}-{n}.log", side.label()));
    let subject = Subject::start(side, url, &room, &out, &log, config.video)?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let baseline_rss = subject.status_field("VmRSS");

    // Connect the senders, 8 at a time.
    let timeout = Duration::from_secs(60);
    let source = std::sync::Arc::new(VideoSource::new(config.video));
    let results: Vec<BenchResult<Sender>> = futures::stream::iter(0..n)
        .map(|i| {
            let room = room.clone();
            let source = source.clone();
            async move {
                let name = format!("sender{i:03}");
                Sender::connect(url, &room, &name, RECORDER_NAME, timeout, source).await
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let mut problems = Vec::new();
    let mut senders = Vec::new();
    for result in results {
        match result {
            Ok(sender) => senders.push(sender),
            Err(e) => problems.push(e.to_string()),
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    // The sending window.
    let media = Duration::from_secs(config.seconds);
    let cpu0 = subject.cpu();
    let self0 = subject::self_cpu();
    let t0 = Instant::now();
    let tasks: Vec<_> = senders.iter().map(|s| s.spawn_media(media)).collect();
    let mut peak_cores: f64 = 0.0;
    let (mut last_cpu, mut last_t) = (cpu0, t0);
    let all_done = futures::future::join_all(tasks);
    tokio::pin!(all_done);
    loop {
        tokio::select! {
            _ = &mut all_done => break,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {
                let (cpu, t) = (subject.cpu(), Instant::now());
                let cores = (cpu - last_cpu).as_secs_f64() / (t - last_t).as_secs_f64();
                peak_cores = peak_cores.max(cores);
                (last_cpu, last_t) = (cpu, t);
            }
        }
    }
    let window = t0.elapsed();
    let cpu = subject.cpu() - cpu0;
    let sender_cpu = subject::self_cpu() - self0;
    let hwm = subject.status_field("VmHWM");
    let threads = subject.status_field("Threads");
    let bytes_sent = senders.iter().map(Sender::bytes_sent).sum();

    // Let the jitter buffers drain into the files, then stop the recorder
    // (it closes its files), then the senders leave.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let exit = subject.stop(Duration::from_secs(30)).await;
    let connected = senders.len();
    futures::future::join_all(senders.into_iter().map(Sender::leave)).await;
    if exit.status != 0 {
        problems.push(format!(
            "exit status {:#x} (log: {})",
            exit.status,
            log.display()
        ));
    }
    if side == Side::Gst {
        gst_problems(&exit.stdout, &mut problems);
    }
    let files = probe::probe_dir(&out, config.video.ffprobe_name());
    for f in files.iter().filter(|f| f.error.is_some()) {
        problems.push(format!(
            "{}: {}",
            f.path.display(),
            f.error.as_deref().unwrap_or("")
        ));
    }
    if !config.keep {
        let _ = std::fs::remove_dir_all(&out);
    }
    Ok(Run {
        side,
        n,
        connected,
        window,
        cpu,
        peak_cores,
        baseline_rss,
        hwm,
        threads,
        total_cpu: exit.cpu,
        max_rss: exit.max_rss,
        sender_cores: sender_cpu.as_secs_f64() / window.as_secs_f64(),
        bytes_sent,
        files,
        problems,
    })
}

/// Errors the GStreamer recorder reported in its JSON line.
fn gst_problems(stdout: &[String], problems: &mut Vec<String>) {
    let Some(json) = stdout
        .iter()
        .rev()
        .find_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
    else {
        problems.push("gst_recorder.py printed no result".into());
        return;
    };
    let errors = json["errors"].as_array().cloned().unwrap_or_default();
    if !errors.is_empty() {
        problems.push(format!("{} errors, first: {}", errors.len(), errors[0]));
    }
    for file in json["files"].as_array().into_iter().flatten() {
        if file["eos"] != true {
            problems.push(format!("no EOS for {}", file["path"]));
        }
    }
}

fn print_run(run: &Run, config: &Config) {
    println!(
        "{:9} N={:<3} connected {:>3}  window {:5.1} s  recorder {:5.2} cores (peak 1 s {:4.2}), \
         {:4.1} % of a core / participant, {:5.1} MiB peak ({:5.1} idle, {:5.2} MiB / participant), \
         {} threads; total {:.1} CPU s, max RSS {:.1} MiB; senders {:.2} cores",
        run.side.label(),
        run.n,
        run.connected,
        run.window.as_secs_f64(),
        run.cores(),
        run.peak_cores,
        run.core_percent_each(),
        run.hwm as f64 / MIB,
        run.baseline_rss as f64 / MIB,
        run.mib_each(),
        run.threads,
        run.total_cpu.as_secs_f64(),
        run.max_rss as f64 / MIB,
        run.sender_cores,
    );
    let spans: Vec<f64> = run.files.iter().map(|f| f.span).collect();
    let mean = spans.iter().sum::<f64>() / spans.len().max(1) as f64;
    let (audio, video): (u64, u64) = run.files.iter().fold((0, 0), |(a, v), f| {
        (a + f.audio_packets, v + f.video_packets)
    });
    println!(
        "          files: {} of {} play (opus + {}), span min {:.2} s / mean {:.2} s of {} s sent, \
         {:.1} MB written / {:.1} MB sent ({:.1} %), packets per file: audio {:.0} / {} sent, \
         video {:.0} / {} sent; kept up: {}",
        run.playing_files(),
        run.n,
        config.video.ffprobe_name(),
        if spans.is_empty() {
            0.0
        } else {
            run.min_span()
        },
        mean,
        config.seconds,
        run.files.iter().map(|f| f.bytes).sum::<u64>() as f64 / 1e6,
        run.bytes_sent as f64 / 1e6,
        100.0 * run.bytes_share(),
        audio as f64 / run.files.len().max(1) as f64,
        config.seconds * 50,
        video as f64 / run.files.len().max(1) as f64,
        config.seconds * 30,
        if run.kept_up(config.seconds) {
            "yes"
        } else {
            "NO"
        },
    );
    for problem in run.problems.iter().take(5) {
        println!("          problem: {problem}");
    }
}

fn table(runs: &[Run], config: &Config) -> String {
    let mut out = String::from(
        "| recorder | N | CPU (cores) | CPU s / participant | % core / participant | \
         peak RSS (MiB) | idle RSS (MiB) | MiB / participant | files OK | min span (s) | \
         written / sent | kept up |\n\
         | --- | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --- |\n",
    );
    for run in runs {
        out += &format!(
            "| {} | {} | {:.2} | {:.2} | {:.1} | {:.1} | {:.1} | {:.2} | {}/{} | {:.1} | {:.1} % | {} |\n",
            run.side.label(),
            run.n,
            run.cores(),
            run.cpu_each(),
            run.core_percent_each(),
            run.hwm as f64 / MIB,
            run.baseline_rss as f64 / MIB,
            run.mib_each(),
            run.playing_files(),
            run.n,
            if run.files.is_empty() {
                0.0
            } else {
                run.min_span()
            },
            100.0 * run.bytes_share(),
            if run.kept_up(config.seconds) {
                "yes"
            } else {
                "no"
            },
        );
    }
    out
}

fn comparison(runs: &[Run]) -> String {
    let mut out = String::from(
        "| N | CPU / participant rtcgate : gstreamer | ratio (goal ≤ 0.5) | MiB / participant rtcgate : gstreamer | ratio | MiB / added participant rtcgate : gstreamer | ratio |\n\
         | --: | --: | --: | --: | --: | --: | --: |\n",
    );
    for r in runs.iter().filter(|r| r.side == Side::Rtcgate) {
        let Some(g) = runs.iter().find(|g| g.side == Side::Gst && g.n == r.n) else {
            continue;
        };
        let (rm, gm) = (marginal_mib(runs, r), marginal_mib(runs, g));
        let marginal = match (rm, gm) {
            (Some(rm), Some(gm)) => format!("{rm:.2} : {gm:.2} | {:.2}", rm / gm),
            _ => "– | –".into(),
        };
        out += &format!(
            "| {} | {:.1} % : {:.1} % | {:.2} | {:.2} : {:.2} | {:.2} | {marginal} |\n",
            r.n,
            r.core_percent_each(),
            g.core_percent_each(),
            r.core_percent_each() / g.core_percent_each(),
            r.mib_each(),
            g.mib_each(),
            r.mib_each() / g.mib_each(),
        );
    }
    out
}

/// Peak RSS per participant beyond the first: (peak at N − peak at the
/// smallest N) / (N − that N). Leaves out what the first participant loads
/// once (GStreamer plugins, code pages).
fn marginal_mib(runs: &[Run], run: &Run) -> Option<f64> {
    let first = runs
        .iter()
        .filter(|r| r.side == run.side)
        .min_by_key(|r| r.n)?;
    (run.n > first.n).then(|| {
        (run.hwm as f64 - first.hwm as f64) / MIB / (run.connected - first.connected).max(1) as f64
    })
}

/// How many participants 2 cores could record: measured (largest N that kept
/// up, with the senders on the same cores) and extrapolated from the CPU per
/// participant at that N.
fn capacity(runs: &[Run], config: &Config) -> String {
    let mut out = String::new();
    for side in [Side::Rtcgate, Side::Gst] {
        let best = runs
            .iter()
            .filter(|r| r.side == side && r.kept_up(config.seconds))
            .max_by_key(|r| r.n);
        let first_failed = runs
            .iter()
            .filter(|r| r.side == side && !r.kept_up(config.seconds))
            .min_by_key(|r| r.n);
        if let Some(best) = best {
            out += &format!(
                "{}: kept up with N = {} (senders on the same 2 cores){}; at {:.1} % of a core per \
                 participant, 2 cores would record ~{:.0} participants\n",
                side.label(),
                best.n,
                first_failed.map_or(String::new(), |f| format!(", not with N = {}", f.n)),
                best.core_percent_each(),
                200.0 / best.core_percent_each(),
            );
        }
    }
    out
}

/// Raises the soft open-file limit to the hard limit.
fn raise_fd_limit() {
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

/// True when a UDP socket towards the namespace's veth address gets a
/// non-loopback source: ICE has a host candidate to use.
fn has_non_loopback_interface() -> bool {
    std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|socket| socket.connect("10.99.0.1:9").map(|_| socket))
        .and_then(|socket| socket.local_addr())
        .is_ok_and(|addr| !addr.ip().is_loopback())
}

/// `nproc`, the CPU model and the load average.
fn machine_description() -> String {
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
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    format!("{cores} cores, {model}, load average {}", load.join(" "))
}
