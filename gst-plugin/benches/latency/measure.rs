//! Frame stamping and the figures: every encoded frame is identified by a
//! hash of its bytes at the encoder's output (just before the sending element)
//! and again at the `fakesink` after the receiving element; the difference of
//! the two `Instant`s is that frame's latency. Both pipelines of a stack run in
//! one process, so one monotonic clock serves both ends.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;

/// Send times by frame hash, and the latencies of frames sent inside the
/// measurement window.
#[derive(Default)]
struct State {
    sent_at: HashMap<u64, VecDeque<Instant>>,
    window: Option<(Instant, Option<Instant>)>,
    sent_in_window: u64,
    received_in_window: u64,
    unmatched: u64,
    latencies: Vec<Duration>,
    first_received: Option<Instant>,
}

/// Shared between the probes of both ends.
#[derive(Clone, Default)]
pub struct Stamps(Arc<Mutex<State>>);

fn frame_hash(buffer: &gst::BufferRef) -> Option<u64> {
    let map = buffer.map_readable().ok()?;
    let mut hasher = DefaultHasher::new();
    map.as_slice().hash(&mut hasher);
    Some(hasher.finish())
}

fn in_window(window: Option<(Instant, Option<Instant>)>, at: Instant) -> bool {
    matches!(window, Some((start, end)) if at >= start && end.is_none_or(|end| at < end))
}

impl Stamps {
    /// Records the send time of every buffer leaving `pad` (the encoder's src).
    pub fn watch_sent(&self, pad: &gst::Pad) {
        let stamps = self.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            let now = Instant::now();
            if let Some(hash) = info.buffer().and_then(|b| frame_hash(b)) {
                let mut s = stamps.0.lock().unwrap();
                s.sent_at.entry(hash).or_default().push_back(now);
                if in_window(s.window, now) {
                    s.sent_in_window += 1;
                }
            }
            gst::PadProbeReturn::Ok
        });
    }

    /// Matches every buffer reaching `pad` (the fakesink's sink) with its send
    /// time.
    pub fn watch_received(&self, pad: &gst::Pad) {
        let stamps = self.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            let now = Instant::now();
            if let Some(hash) = info.buffer().and_then(|b| frame_hash(b)) {
                let mut s = stamps.0.lock().unwrap();
                s.first_received.get_or_insert(now);
                let sent = s.sent_at.get_mut(&hash).and_then(VecDeque::pop_front);
                match sent {
                    Some(sent) if in_window(s.window, sent) => {
                        s.received_in_window += 1;
                        s.latencies.push(now - sent);
                    }
                    Some(_) => {}
                    None => s.unmatched += 1,
                }
            }
            gst::PadProbeReturn::Ok
        });
    }

    /// When the first frame came out of the receiving pipeline.
    pub fn first_received(&self) -> Option<Instant> {
        self.0.lock().unwrap().first_received
    }

    /// Frames sent from now on are measured.
    pub fn open_window(&self) {
        self.0.lock().unwrap().window = Some((Instant::now(), None));
    }

    /// Frames sent from now on are not measured (those in flight still are).
    pub fn close_window(&self) {
        let mut s = self.0.lock().unwrap();
        if let Some((start, _)) = s.window {
            s.window = Some((start, Some(Instant::now())));
        }
    }

    /// The figures of the window.
    pub fn summary(&self, cpu: Duration, window: Duration) -> serde_json::Value {
        let s = self.0.lock().unwrap();
        let mut ms: Vec<f64> = s.latencies.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let pick = |q: f64| {
            if ms.is_empty() {
                f64::NAN
            } else {
                ms[((ms.len() - 1) as f64 * q).round() as usize]
            }
        };
        let mean = ms.iter().sum::<f64>() / ms.len().max(1) as f64;
        serde_json::json!({
            "frames_sent": s.sent_in_window,
            "frames_received": s.received_in_window,
            "unmatched_received": s.unmatched,
            "latency_ms": {
                "min": pick(0.0), "median": pick(0.5), "p95": pick(0.95),
                "p99": pick(0.99), "max": pick(1.0), "mean": mean,
            },
            "window_s": window.as_secs_f64(),
            "cpu_s": cpu.as_secs_f64(),
            "cpu_cores": cpu.as_secs_f64() / window.as_secs_f64(),
        })
    }
}

/// User + system CPU time of this process so far.
pub fn process_cpu() -> Duration {
    // SAFETY: getrusage only writes the struct we pass.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}
