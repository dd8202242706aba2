//! The recording side, in its own process so that its CPU time and memory are
//! its own: `rtcgate record` (the program of this crate) or the GStreamer
//! baseline `gst_recorder.py`. Read from `/proc/<pid>/{stat,status}` while it
//! runs and from `wait4`'s `rusage` when it ends.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::BenchResult;
use crate::layered::VideoKind;

/// Display name of the recorder in the room (both sides).
pub const RECORDER_NAME: &str = "recorder";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Rtcgate,
    Gst,
}

impl Side {
    pub fn label(self) -> &'static str {
        match self {
            Side::Rtcgate => "rtcgate",
            Side::Gst => "gstreamer",
        }
    }

    pub fn parse(word: &str) -> Option<Side> {
        match word {
            "rtcgate" => Some(Side::Rtcgate),
            "gst" | "gstreamer" => Some(Side::Gst),
            _ => None,
        }
    }

    fn command(self, url: &str, room: &str, out: &Path, video: VideoKind) -> Command {
        match self {
            Side::Rtcgate => {
                let mut cmd = Command::new(env!("CARGO_BIN_EXE_rtcgate"));
                cmd.args(["record", "--server", url, "--room", room, "--out"])
                    .arg(out)
                    .args(["--test-pattern", "never", "--name", RECORDER_NAME]);
                cmd.env("RUST_LOG", "warn");
                cmd
            }
            Side::Gst => {
                let script = Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("benches")
                    .join("recorder")
                    .join("gst_recorder.py");
                let mut cmd = Command::new("/usr/bin/python3");
                cmd.arg(script)
                    .args(["--ws", url, "--room", room, "--out"])
                    .arg(out)
                    .args(["--name", RECORDER_NAME])
                    .args(["--video", video.ffprobe_name()]);
                cmd
            }
        }
    }

    /// Whether a line of the program's stdout says it joined the room.
    fn is_ready_line(self, line: &str) -> bool {
        match self {
            Side::Rtcgate => line.starts_with("rtcgate record: recording room"),
            Side::Gst => line.starts_with("READY "),
        }
    }
}

/// A running recorder process.
pub struct Subject {
    pub side: Side,
    pub pid: i32,
    lines: mpsc::Receiver<String>,
    stdout: Vec<String>,
    pub log: PathBuf,
}

/// What the process used in total, from `wait4`.
#[derive(Debug, Default, Clone)]
pub struct Exit {
    pub cpu: Duration,
    pub max_rss: u64,
    pub status: i32,
    pub stdout: Vec<String>,
}

impl Subject {
    /// Starts the recorder on room `room` writing into `out`, stderr into
    /// `log`, and waits until it has joined.
    pub fn start(
        side: Side,
        url: &str,
        room: &str,
        out: &Path,
        log: &Path,
        video: VideoKind,
    ) -> BenchResult<Self> {
        let mut cmd = side.command(url, room, out, video);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log)?);
        let mut child = cmd.spawn()?;
        let pid = child.id() as i32;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        // The child is reaped with wait4 in `stop` (for its rusage), not through `child`.
        drop(child);
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut subject = Subject {
            side,
            pid,
            lines,
            stdout: Vec::new(),
            log: log.to_owned(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match subject.lines.recv_timeout(left) {
                Ok(line) => {
                    let ready = side.is_ready_line(&line);
                    subject.stdout.push(line);
                    if ready {
                        return Ok(subject);
                    }
                }
                Err(_) => {
                    let _ = subject.kill_and_reap();
                    return Err(format!(
                        "{} recorder did not join within 30 s (log: {})",
                        side.label(),
                        log.display()
                    )
                    .into());
                }
            }
        }
    }

    /// User + system CPU time so far.
    pub fn cpu(&self) -> Duration {
        proc_cpu(self.pid).unwrap_or_default()
    }

    /// A field of `/proc/<pid>/status` in bytes (`VmRSS`, `VmHWM`) or as a
    /// plain number (`Threads`).
    pub fn status_field(&self, name: &str) -> u64 {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{}/status", self.pid)) else {
            return 0;
        };
        text.lines()
            .find_map(|line| {
                let rest = line.strip_prefix(name)?.strip_prefix(':')?;
                let mut words = rest.split_whitespace();
                let value: u64 = words.next()?.parse().ok()?;
                Some(if words.next() == Some("kB") {
                    value * 1024
                } else {
                    value
                })
            })
            .unwrap_or(0)
    }

    /// SIGINT (both programs then close their files properly), wait up to
    /// `grace`, SIGKILL after that. Returns what the process used in total.
    pub async fn stop(mut self, grace: Duration) -> Exit {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.pid, libc::SIGINT) };
        let pid = self.pid;
        let waiter = tokio::task::spawn_blocking(move || reap(pid));
        let mut exit = match tokio::time::timeout(grace, waiter).await {
            Ok(Ok(exit)) => exit,
            _ => {
                eprintln!(
                    "{} recorder did not stop within {grace:?}: killed (log: {})",
                    self.side.label(),
                    self.log.display()
                );
                self.kill_and_reap()
            }
        };
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(500)) {
            self.stdout.push(line);
        }
        exit.stdout = std::mem::take(&mut self.stdout);
        exit
    }

    fn kill_and_reap(&mut self) -> Exit {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
        reap(self.pid)
    }
}

/// Waits for `pid` and returns its total CPU time and peak RSS.
fn reap(pid: i32) -> Exit {
    let mut status = 0;
    // SAFETY: wait4 only writes into the zeroed struct and the int we pass.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::wait4(pid, &mut status, 0, &mut usage);
        usage
    };
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Exit {
        cpu: Duration::from_micros(micros(usage.ru_utime) + micros(usage.ru_stime)),
        max_rss: usage.ru_maxrss as u64 * 1024,
        status,
        stdout: Vec::new(),
    }
}

/// utime + stime of `/proc/<pid>/stat` (all threads of the process).
fn proc_cpu(pid: i32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Field 3 (state) is fields[0]; utime is field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(Duration::from_nanos(
        (utime + stime) * 1_000_000_000 / ticks,
    ))
}

/// User + system CPU time of this process (the senders and the signalling server).
pub fn self_cpu() -> Duration {
    // SAFETY: `getrusage` only writes into the zeroed struct we pass.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Duration::from_micros(micros(usage.ru_utime) + micros(usage.ru_stime))
}
