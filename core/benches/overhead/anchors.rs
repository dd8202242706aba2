//! The other stacks of the comparison, GStreamer `webrtcbin` and `aiortc`, run
//! as child processes: the Python programs in `core/benches/anchors/` measure
//! a pair exactly as `transfer.rs`, `latency.rs` and `memory.rs` do and print one
//! JSON line (contract in `core/benches/anchors/README.md`).
//!
//! Interpreters: `RTCGATE_WEBRTCBIN_PYTHON` (default `/usr/bin/python3`, Debian's,
//! which has `gi`) and `RTCGATE_AIORTC_PYTHON` (default the virtualenv that
//! `core/benches/anchors/setup.sh` creates, `target/anchors-venv/bin/python`).
//! `RTCGATE_BENCH_ANCHORS=none` (or a list such as `webrtcbin`) picks them.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::BenchResult;
use crate::config::TransferPlan;
use crate::transfer::TransferResult;

/// A stack measured by a Python program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// GStreamer `webrtcbin` (libnice, usrsctp) through Python GI.
    Webrtcbin,
    /// aiortc, pure Python.
    Aiortc,
}

impl Anchor {
    /// Both, in table order.
    pub const ALL: [Anchor; 2] = [Anchor::Webrtcbin, Anchor::Aiortc];

    /// Name used in output and in `RTCGATE_BENCH_ANCHORS`.
    pub fn name(self) -> &'static str {
        match self {
            Anchor::Webrtcbin => "webrtcbin",
            Anchor::Aiortc => "aiortc",
        }
    }

    /// The anchors selected and runnable here; says why one is left out.
    pub fn available() -> Vec<Anchor> {
        let wanted = std::env::var("RTCGATE_BENCH_ANCHORS").unwrap_or_default();
        Anchor::ALL
            .into_iter()
            .filter(|anchor| {
                if !wanted.is_empty() && !wanted.split(',').any(|w| w.trim() == anchor.name()) {
                    return false;
                }
                let python = anchor.interpreter();
                if python.exists() {
                    true
                } else {
                    println!(
                        "  {} left out: no interpreter at {} (run core/benches/anchors/setup.sh)",
                        anchor.name(),
                        python.display()
                    );
                    false
                }
            })
            .collect()
    }

    fn interpreter(self) -> PathBuf {
        let (variable, default) = match self {
            Anchor::Webrtcbin => (
                "RTCGATE_WEBRTCBIN_PYTHON",
                PathBuf::from("/usr/bin/python3"),
            ),
            Anchor::Aiortc => (
                "RTCGATE_AIORTC_PYTHON",
                repo().join("target/anchors-venv/bin/python"),
            ),
        };
        std::env::var_os(variable).map_or(default, PathBuf::from)
    }

    fn script(self) -> PathBuf {
        let file = match self {
            Anchor::Webrtcbin => "webrtcbin_dc.py",
            Anchor::Aiortc => "aiortc_dc.py",
        };
        repo().join("core/benches/anchors").join(file)
    }

    /// Runs the program with `args` and returns its JSON line.
    async fn run(self, args: &[String], limit: Duration) -> BenchResult<Value> {
        let mut command = tokio::process::Command::new(self.interpreter());
        command
            .arg(self.script())
            .args(args)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let output = tokio::time::timeout(limit, command.output())
            .await
            .map_err(|_| format!("{} did not finish within {limit:?}", self.name()))??;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let line = stdout
            .lines()
            .rev()
            .find(|l| l.trim_start().starts_with('{'));
        match (output.status.success(), line) {
            (true, Some(line)) => Ok(serde_json::from_str(line)?),
            _ => {
                let stderr = String::from_utf8_lossy(&output.stderr);
                let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
                Err(format!(
                    "{} failed ({}): {}",
                    self.name(),
                    output.status,
                    tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
                )
                .into())
            }
        }
    }

    /// One transfer of `plan` over a fresh pair.
    pub async fn transfer(self, plan: TransferPlan) -> BenchResult<TransferResult> {
        let args: Vec<String> = [
            "throughput".to_owned(),
            if plan.reliable {
                "--reliable"
            } else {
                "--unreliable"
            }
            .to_owned(),
            "--message-size".to_owned(),
            plan.message_size.to_string(),
            "--total-bytes".to_owned(),
            plan.total_bytes.to_string(),
            "--high-water".to_owned(),
            plan.high_water.to_string(),
            "--low-water".to_owned(),
            plan.low_water.to_string(),
            "--timeout".to_owned(),
            plan.timeout.as_secs_f64().to_string(),
        ]
        .into();
        let json = self.run(&args, plan.timeout + CHILD_OVERHEAD).await?;
        transfer_result(&json)
    }

    /// `samples` join → channel-open times.
    pub async fn joins(self, samples: usize) -> BenchResult<Vec<Duration>> {
        let args = [
            "join".to_owned(),
            "--samples".to_owned(),
            samples.to_string(),
        ];
        let limit = CHILD_OVERHEAD + Duration::from_secs(5) * samples as u32;
        let json = self.run(&args, limit).await?;
        let samples = json["samples_ms"]
            .as_array()
            .ok_or("no samples_ms")?
            .iter()
            .filter_map(Value::as_f64)
            .map(|ms| Duration::from_secs_f64(ms / 1e3))
            .collect();
        Ok(samples)
    }

    /// Resident bytes per connected idle pair, measured over `pairs` pairs.
    pub async fn memory_per_pair(self, pairs: usize) -> BenchResult<f64> {
        let args = ["memory".to_owned(), "--pairs".to_owned(), pairs.to_string()];
        let limit = CHILD_OVERHEAD + Duration::from_secs(5) * pairs as u32;
        let json = self.run(&args, limit).await?;
        let mib = json["per_pair_mib"].as_f64().ok_or("no per_pair_mib")?;
        Ok(mib * 1024.0 * 1024.0)
    }
}

/// Start-up (webrtcbin loads its plugins: ~1.3 s), connecting, closing.
const CHILD_OVERHEAD: Duration = Duration::from_secs(60);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A program's throughput line as the benchmark's own result type.
fn transfer_result(json: &Value) -> BenchResult<TransferResult> {
    let count = |key: &str| -> BenchResult<u64> {
        json[key]
            .as_u64()
            .ok_or_else(|| format!("no {key} in {json}").into())
    };
    let seconds = |key: &str| -> BenchResult<Duration> {
        let value = json[key]
            .as_f64()
            .ok_or_else(|| format!("no {key} in {json}"))?;
        Ok(Duration::from_secs_f64(value.max(0.0)))
    };
    Ok(TransferResult {
        delivered_bytes: count("delivered_bytes")?,
        offered_messages: count("offered_messages")?,
        delivered_messages: count("delivered_messages")?,
        corrupt: count("corrupt")?,
        out_of_order: count("out_of_order")?,
        duplicates: count("duplicates")?,
        elapsed: seconds("elapsed_s")?,
        stalls: count("stalls")? as u32,
        stalled: seconds("stalled_s")?,
        cpu: seconds("cpu_s")?,
        udp_drops: json["udp_drops"].as_u64(),
        timed_out: json["timed_out"].as_bool().unwrap_or(false),
        sender_error: json["sender_error"].as_str().map(str::to_owned),
    })
}
