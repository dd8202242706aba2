//! Prints what a member receives: per remote track, frames per second,
//! bitrate and keyframes, once per interval.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rtcgate_core::RemoteTrack;

#[derive(Default, Clone)]
struct Counter {
    label: String,
    video: bool,
    frames: u64,
    bytes: u64,
    keyframes: u64,
}

/// Counts frames of every remote track handed to [`Monitor::watch`].
#[derive(Clone, Default)]
pub struct Monitor {
    counters: Arc<Mutex<BTreeMap<String, Counter>>>,
}

impl Monitor {
    /// Reads `track` until it ends, counting its frames.
    pub fn watch(&self, track: RemoteTrack, member_name: String) {
        let key = format!("{}/{}", track.member(), track.id());
        let label = format!("{member_name} {} {}", track.kind().as_str(), track.codec());
        self.counters.lock().unwrap().insert(
            key.clone(),
            Counter {
                label,
                ..Counter::default()
            },
        );
        let counters = self.counters.clone();
        tokio::spawn(async move {
            while let Some(frame) = track.recv().await {
                let mut all = counters.lock().unwrap();
                if let Some(c) = all.get_mut(&key) {
                    c.frames += 1;
                    c.bytes += frame.data.len() as u64;
                    c.keyframes += u64::from(frame.keyframe);
                }
            }
            counters.lock().unwrap().remove(&key);
        });
    }

    /// Prints one line per interval, prefixed with `who`, until the task is dropped.
    pub fn spawn_printer(&self, who: &'static str, every: Duration) -> tokio::task::JoinHandle<()> {
        let counters = self.counters.clone();
        tokio::spawn(async move {
            let mut previous: BTreeMap<String, Counter> = BTreeMap::new();
            let mut last = Instant::now();
            loop {
                tokio::time::sleep(every).await;
                let now = Instant::now();
                let secs = (now - last).as_secs_f64();
                last = now;
                let current = counters.lock().unwrap().clone();
                let parts: Vec<String> = current
                    .iter()
                    .map(|(key, c)| {
                        let p = previous.get(key).cloned().unwrap_or_default();
                        let keys = if c.video {
                            format!(", {} keyframes", c.keyframes)
                        } else {
                            String::new()
                        };
                        format!(
                            "{}: {:.0} fps {:.0} kbit/s ({} frames{keys})",
                            c.label,
                            (c.frames - p.frames) as f64 / secs,
                            (c.bytes - p.bytes) as f64 * 8.0 / secs / 1000.0,
                            c.frames,
                        )
                    })
                    .collect();
                if parts.is_empty() {
                    println!(
                        "[{who}] receiving nothing yet (open the page to join from a browser)"
                    );
                } else {
                    println!("[{who}] {}", parts.join(" | "));
                }
                previous = current;
            }
        })
    }
}
