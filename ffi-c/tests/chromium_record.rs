//! Interop: the C `record` example (examples/c/record.c, built like a user
//! would with `ffi-c/install.sh` and pkg-config) records headless Chromium —
//! the `examples/web` page with its fake camera and microphone, driven by
//! core's harness `core/tests/browser/peer.mjs` exactly as
//! `core/tests/browser_recording.rs` does — and FFmpeg reads the file back
//! (Opus + VP8, decodes without error).
//!
//! Needs `.ci/setup` (Chromium, the harness's node modules, ffmpeg) and
//! `.ci/with-netns` (docs/testing.md).

mod support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::{lib_dir, root};

use rtcgate_core::signalling::{ServerConfig, SignallingServer};

/// How long `record` records once the browser's file started.
const RECORD_FOR: Duration = Duration::from_secs(8);

/// Installs the library into `dir/prefix` and builds `examples/c/record.c`
/// with plain `cc` and `pkg-config --cflags --libs rtcgate`.
fn build_record(dir: &Path) -> PathBuf {
    let prefix = dir.join("prefix");
    let target = lib_dir().parent().unwrap().to_path_buf();
    let status = Command::new(root().join("ffi-c/install.sh"))
        .arg(&prefix)
        .args(["--debug", "--no-build"])
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .unwrap();
    assert!(status.success(), "install.sh failed");
    let pkg = Command::new("pkg-config")
        .args(["--cflags", "--libs", "rtcgate"])
        .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig"))
        .output()
        .expect("pkg-config");
    assert!(pkg.status.success(), "pkg-config does not find rtcgate");
    let flags = String::from_utf8(pkg.stdout).unwrap();
    let program = dir.join("record");
    let status = Command::new("cc")
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror"])
        .arg(root().join("examples/c/record.c"))
        .args(flags.split_whitespace())
        .arg(format!("-Wl,-rpath,{}", prefix.join("lib").display()))
        .arg("-o")
        .arg(&program)
        .status()
        .unwrap();
    assert!(status.success(), "building examples/c/record.c failed");
    program
}

/// Kills the child when dropped (a failed assertion must not leave Chromium
/// or `record` running).
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Forwards a child's output lines to a channel (and to the test's output).
fn lines(stream: impl std::io::Read + Send + 'static, tag: &'static str) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            println!("[{tag}] {line}");
            // Keep draining after the receiver is gone: the child must never
            // block on a full pipe.
            let _ = tx.send(line);
        }
    });
    rx
}

fn wait_line(
    rx: &mpsc::Receiver<String>,
    deadline: Instant,
    what: &str,
    pred: impl Fn(&str) -> bool,
) -> String {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if pred(&line) => return line,
            Ok(_) => {}
            Err(err) => panic!("waiting for {what}: {err}"),
        }
    }
}

fn ffprobe(args: &[&str], file: &Path) -> String {
    let output = Command::new("ffprobe")
        .args(["-v", "error"])
        .args(args)
        .args(["-of", "csv=p=0"])
        .arg(file)
        .output()
        .expect("ffprobe (Debian package ffmpeg)");
    assert!(output.status.success(), "ffprobe {} failed", file.display());
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn c_record_example_records_headless_chromium() {
    assert!(
        std::env::var_os("RTCGATE_NETNS").is_some(),
        "this test needs real interfaces: run it inside .ci/with-netns (see docs/testing.md)"
    );
    let dir = std::env::temp_dir().join(format!("rtcgate-ffi-chromium-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let record = build_record(&dir);

    // The embedded server serving the page, as core/tests/browser_recording.rs.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut config = ServerConfig::default();
    config.web_root = Some(root().join("examples/web"));
    let server = runtime
        .block_on(SignallingServer::bind(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            config,
        ))
        .unwrap();
    let room = "c-record-chromium";
    let folder = dir.join("recordings");

    // SECONDS is only a bound: the test stops it with SIGTERM (handled like
    // Ctrl-C) RECORD_FOR after the browser's file started.
    let mut recorder = Reaped(
        Command::new(&record)
            .arg(server.url())
            .arg(room)
            .arg(&folder)
            .arg("120")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let record_out = lines(recorder.0.stdout.take().unwrap(), "record");
    wait_line(
        &record_out,
        Instant::now() + Duration::from_secs(30),
        "record to join",
        |l| l.starts_with("recording room"),
    );

    let page = format!("{}?room={room}&name=chromium&autojoin=1", server.http_url());
    let hold_ms = (RECORD_FOR.as_millis() + 8_000).to_string();
    let mut browser = Reaped(
        Command::new("node")
            .arg(root().join("core/tests/browser/peer.mjs"))
            .args([
                "--url",
                &page,
                "--timeout-ms",
                "120000",
                "--hold-ms",
                &hold_ms,
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("run node core/tests/browser/peer.mjs (run .ci/setup first)"),
    );
    let verdict = lines(browser.0.stdout.take().unwrap(), "browser");

    let started = wait_line(
        &record_out,
        Instant::now() + Duration::from_secs(90),
        "the browser's file to start",
        |l| l.starts_with("file started:"),
    );
    assert!(
        started.contains("chromium") || started.contains(".webm"),
        "{started}"
    );
    std::thread::sleep(RECORD_FOR);
    let status = Command::new("kill")
        .args(["-TERM", &recorder.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -TERM record");
    let stopped = wait_line(
        &record_out,
        Instant::now() + Duration::from_secs(30),
        "record to stop",
        |l| l.starts_with("stopped:"),
    );
    assert_eq!(stopped, "stopped: 1 file(s)", "one participant, one file");
    let exit = recorder.0.wait().unwrap();
    assert!(exit.success(), "record failed: {exit}");

    // The harness's verdict: it connected to the recorder and held the page.
    let json = wait_line(
        &verdict,
        Instant::now() + Duration::from_secs(60),
        "the browser harness's verdict",
        |l| l.starts_with('{'),
    );
    assert!(json.contains("\"ok\":true"), "browser harness: {json}");
    assert!(
        browser.0.wait().unwrap().success(),
        "browser harness failed"
    );
    runtime.block_on(server.shutdown());

    let file = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "webm"))
        .expect("a .webm file");
    let codecs = ffprobe(&["-show_entries", "stream=codec_name"], &file);
    assert!(
        codecs.contains("vp8") && codecs.contains("opus"),
        "codecs: {codecs}"
    );
    let decode = Command::new("ffmpeg")
        .args(["-v", "error", "-xerror", "-i"])
        .arg(&file)
        // The file's own time base: FFmpeg 5.1 would round variable-rate
        // video onto 1/guessed-fps ticks and reject close frames.
        .args(["-enc_time_base", "-1", "-f", "null", "-"])
        .output()
        .expect("ffmpeg");
    assert!(
        decode.status.success() && decode.stderr.is_empty(),
        "the recording does not decode cleanly: {}",
        String::from_utf8_lossy(&decode.stderr)
    );
    // Frames decoded per stream, and how long the file plays.
    let frames = ffprobe(
        &[
            "-count_frames",
            "-show_entries",
            "stream=codec_name,nb_read_frames",
        ],
        &file,
    );
    println!("decoded frames per stream:\n{frames}");
    let duration: f64 = ffprobe(&["-show_entries", "format=duration"], &file)
        .trim()
        .parse()
        .unwrap_or(0.0);
    println!("file plays {duration:.2} s");
    assert!(
        duration > RECORD_FOR.as_secs_f64() - 1.0,
        "the file plays {duration:.2} s of ~{} s recorded",
        RECORD_FOR.as_secs()
    );
    for line in frames.lines() {
        let (codec, count) = line.split_once(',').unwrap_or((line, "0"));
        let count: u64 = count.trim().parse().unwrap_or(0);
        assert!(count > 50, "{codec}: only {count} frames decoded");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
