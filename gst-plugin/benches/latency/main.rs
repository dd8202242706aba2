//! End-to-end latency and CPU of one VP8 stream through rtcgate
//! (`videotestsrc ! vp8enc ! rtcgatesink` → `rtcgatesrc ! fakesink`) and
//! through two GStreamer `webrtcbin`s (`… ! vp8enc ! rtpvp8pay ! webrtcbin` →
//! `webrtcbin ! rtpvp8depay ! fakesink`), same source and encoder settings.
//!
//! Each stack runs in its own child process (this program with `--child
//! STACK`), one after the other, so that its CPU time is the process's. A frame's
//! latency is the time from the encoder's output (just before the sending
//! element) to the `fakesink` (`sync=false`) after the receiving element,
//! frames matched by a hash of their bytes (measure.rs).
//!
//! Run inside `.ci/with-netns` (ICE needs a non-loopback interface):
//! `.ci/with-netns cargo bench -p gst-plugin-rtcgate --offline --bench latency`
//! (`-- rtcgate` or `-- webrtcbin` for one stack; `RTCGATE_BENCH_SECONDS`,
//! default 20; `RTCGATE_BENCH_QUICK=1`: 5 s). See docs/benchmarks-gst.md.

mod measure;
mod rtcgate;
mod webrtcbin;

use std::process::Command;
use std::time::{Duration, Instant};

use gst::prelude::*;

use measure::Stamps;

/// The sending branch of both stacks up to the encoder, named `enc`.
pub const SOURCE: &str = "videotestsrc is-live=true pattern=ball \
    ! video/x-raw,width=640,height=480,framerate=30/1 \
    ! vp8enc name=enc deadline=1 cpu-used=8 threads=2 end-usage=cbr \
      target-bitrate=1000000 keyframe-max-dist=60";

/// Time after the first received frame before measuring starts.
const WARM_UP: Duration = Duration::from_secs(3);

/// A running stack: its two pipelines and what must outlive them.
pub struct Pair {
    pub sender: gst::Pipeline,
    pub receiver: gst::Pipeline,
    pub keep: Box<dyn std::any::Any>,
}

/// The receiving end's sink: no clock sync, so buffers are counted on arrival.
pub fn fakesink() -> gst::Element {
    gst::ElementFactory::make("fakesink")
        .property("sync", false)
        .property("async", false)
        .build()
        .unwrap()
}

fn window() -> Duration {
    let quick = std::env::var_os("RTCGATE_BENCH_QUICK").is_some_and(|v| v != "0");
    let secs = std::env::var("RTCGATE_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if quick { 5 } else { 20 });
    Duration::from_secs(secs)
}

/// Fails early with a clear message outside the network namespace.
fn require_interfaces() {
    let ok = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("10.99.0.1:9").map(|_| s))
        .and_then(|s| s.local_addr())
        .is_ok_and(|a| !a.ip().is_loopback());
    if !ok {
        eprintln!(
            "the latency benchmark needs a non-loopback interface: run it inside .ci/with-netns"
        );
        std::process::exit(2);
    }
}

/// Child mode: runs one stack and prints its figures as one JSON line.
fn run_child(stack: &str) {
    gst::init().expect("gst::init");
    let stamps = Stamps::default();
    let pair = match stack {
        "rtcgate" => rtcgate::start(&stamps),
        "webrtcbin" => webrtcbin::start(&stamps),
        other => panic!("unknown stack {other}"),
    };
    let started = Instant::now();
    while stamps.first_received().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{stack}: no frame received within 60 s"
        );
        check_bus(&pair);
        std::thread::sleep(Duration::from_millis(50));
    }
    let setup = started.elapsed();
    std::thread::sleep(WARM_UP);
    let window = window();
    let cpu_before = measure::process_cpu();
    let opened = Instant::now();
    stamps.open_window();
    while opened.elapsed() < window {
        check_bus(&pair);
        std::thread::sleep(Duration::from_millis(100));
    }
    stamps.close_window();
    let cpu = measure::process_cpu() - cpu_before;
    let measured = opened.elapsed();
    // Frames still in flight when the window closed.
    std::thread::sleep(Duration::from_millis(500));
    let mut summary = stamps.summary(cpu, measured);
    summary["stack"] = stack.into();
    summary["first_frame_s"] = setup.as_secs_f64().into();
    println!("{summary}");
    let _ = pair.sender.set_state(gst::State::Null);
    let _ = pair.receiver.set_state(gst::State::Null);
    drop(pair.keep);
}

/// Panics on an error from either pipeline.
fn check_bus(pair: &Pair) {
    for pipeline in [&pair.sender, &pair.receiver] {
        let bus = pipeline.bus().unwrap();
        while let Some(message) = bus.pop_filtered(&[gst::MessageType::Error]) {
            if let gst::MessageView::Error(err) = message.view() {
                panic!("pipeline error: {} ({:?})", err.error(), err.debug());
            }
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        run_child(&args[i + 1]);
        return;
    }
    require_interfaces();
    let stacks = ["rtcgate", "webrtcbin"];
    let named: Vec<&str> = stacks
        .into_iter()
        .filter(|s| args.iter().any(|a| a == s))
        .collect();
    let wanted = if named.is_empty() {
        stacks.to_vec()
    } else {
        named
    };
    let exe = std::env::current_exe().unwrap();
    let mut results = Vec::new();
    for stack in wanted {
        eprintln!("latency: {stack} …");
        let output = Command::new(&exe)
            .args(["--child", stack])
            .output()
            .expect("run the benchmark child");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let Some(result) = stdout
            .lines()
            .find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        else {
            panic!(
                "{stack}: no figures ({})\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        };
        eprintln!("{result}");
        results.push(result);
    }
    print_table(&results);
}

fn print_table(results: &[serde_json::Value]) {
    println!(
        "\n| stack | frames sent | received | latency median (ms) | p95 | p99 | max | CPU s | CPU (cores) | CPU ms / frame | first frame (s) |"
    );
    println!("| --- | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: |");
    for r in results {
        let l = &r["latency_ms"];
        println!(
            "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} | {:.3} | {:.1} | {:.2} |",
            r["stack"].as_str().unwrap_or("?"),
            r["frames_sent"],
            r["frames_received"],
            l["median"].as_f64().unwrap_or(f64::NAN),
            l["p95"].as_f64().unwrap_or(f64::NAN),
            l["p99"].as_f64().unwrap_or(f64::NAN),
            l["max"].as_f64().unwrap_or(f64::NAN),
            r["cpu_s"].as_f64().unwrap_or(f64::NAN),
            r["cpu_cores"].as_f64().unwrap_or(f64::NAN),
            cpu_per_frame(r),
            r["first_frame_s"].as_f64().unwrap_or(f64::NAN),
        );
    }
    if let [a, b] = results {
        let ratio = |f: &dyn Fn(&serde_json::Value) -> f64| f(a) / f(b);
        println!(
            "\nrtcgate / webrtcbin: median latency {:.2}, p95 latency {:.2}, CPU {:.2}, CPU per frame {:.2}",
            ratio(&|r| r["latency_ms"]["median"].as_f64().unwrap_or(f64::NAN)),
            ratio(&|r| r["latency_ms"]["p95"].as_f64().unwrap_or(f64::NAN)),
            ratio(&|r| r["cpu_s"].as_f64().unwrap_or(f64::NAN)),
            ratio(&cpu_per_frame),
        );
    }
}

/// Process CPU per frame sent (ms): comparable when a loaded machine made
/// one stack's encoder fall behind (fewer frames, less work).
fn cpu_per_frame(r: &serde_json::Value) -> f64 {
    let cpu = r["cpu_s"].as_f64().unwrap_or(f64::NAN);
    let frames = r["frames_sent"].as_f64().unwrap_or(f64::NAN);
    cpu * 1e3 / frames
}
