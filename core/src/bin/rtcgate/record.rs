//! `rtcgate record`: the main job. Joins a room (on the embedded signalling
//! server, or on `--server`) and records every participant into a folder,
//! one file each, with a live progress line, until Ctrl-C or `--duration`.
//! With nobody else in the room it starts a test-pattern member so that the
//! command visibly records something (`--test-pattern`).

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use rtcgate_core::recorder::{
    ParticipantProgress, Recorder, RecorderEvent, RecorderEvents, RecorderOptions,
};
use rtcgate_core::signalling::{JoinRequest, ServerConfig, SignallingServer, signaller_for_url};

use crate::interfaces::call_options;
use crate::test_pattern::TestPattern;

/// When to start the test-pattern member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TestPatternMode {
    /// When nobody else is in the room a few seconds after joining.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Options of `rtcgate record`.
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// Where to record from: a room server (`ws(s)://host:port/ws`, with
    /// --room) or a WHEP endpoint (`whep+http(s)://…`: its stream is the one
    /// participant); without it an embedded server is started on `--listen`,
    /// serving the web page.
    #[arg(long)]
    server: Option<String>,
    /// Access token: the room's token, or the WHEP Bearer token.
    #[arg(long)]
    token: Option<String>,
    /// Call options in their text form, e.g. "ice-server=stun:stun.example.org:3478 tls-ca=ca.pem"
    /// (docs/signalling.md, "Call options as text").
    #[arg(long, default_value = "")]
    call_options: String,
    /// Address of the embedded server (HTTP page and WebSocket).
    #[arg(long, default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
    /// Room to record.
    #[arg(long, default_value = "demo")]
    room: String,
    /// Folder for the recordings.
    #[arg(long, default_value = "recordings")]
    out: PathBuf,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    duration: Option<u64>,
    /// Start a member that sends a test pattern.
    #[arg(long, value_enum, default_value = "auto")]
    test_pattern: TestPatternMode,
    /// Display name of the recorder in the room.
    #[arg(long, default_value = "recorder")]
    name: String,
    /// Directory of the web page (embedded server only).
    #[arg(long, default_value = "examples/web")]
    web_root: PathBuf,
    /// Directory holding testsrc-vp8.ivf and testsrc-opus.ogg.
    #[arg(long, default_value = "examples/media")]
    media: PathBuf,
    /// Wait for missing packets (NACK) up to this many milliseconds.
    #[arg(long, default_value_t = 200)]
    latency_ms: u64,
    /// Record this many spatial layers of scalable VP9 or AV1 (SVC), from the
    /// lowest (1: the lowest resolution only); default: all.
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=8))]
    spatial_layers: Option<u8>,
}

/// Seconds after joining before `--test-pattern auto` decides the room is empty.
const EMPTY_ROOM_WAIT: Duration = Duration::from_secs(2);

/// Runs the recording until Ctrl-C or `--duration`.
pub async fn run(args: RecordArgs) -> Result<(), String> {
    let server = match &args.server {
        Some(_) => None,
        None => {
            let mut config = ServerConfig::default();
            config.web_root = args.web_root.is_dir().then(|| args.web_root.clone());
            let server = SignallingServer::bind(args.listen, config)
                .await
                .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
            println!("rtcgate record: signalling on {}", server.url());
            println!(
                "rtcgate record: open {}?room={}&name=guest&autojoin=1 to join and be recorded",
                server.http_url(),
                args.room
            );
            Some(server)
        }
    };
    let url = args
        .server
        .clone()
        .or_else(|| server.as_ref().map(|s| s.url()))
        .unwrap_or_default();
    let mut options = RecorderOptions::new(&args.out);
    options.latency = Duration::from_millis(args.latency_ms);
    options.spatial_layers = args.spatial_layers;
    let call_options = call_options()
        .apply(&args.call_options)
        .map_err(|e| e.to_string())?;
    let signaller = signaller_for_url(&url, &call_options).map_err(|e| e.to_string())?;
    let mut request = JoinRequest::new(&args.room, &args.name);
    if let Some(token) = &args.token {
        request = request.with_token(token);
    }
    let (recorder, events) = Recorder::join_with(signaller, request, call_options.clone(), options)
        .await
        .map_err(|e| format!("cannot record room `{}` at {url}: {e}", args.room))?;
    println!(
        "rtcgate record: recording room `{}` into {}",
        args.room,
        args.out.display()
    );
    let printer = tokio::spawn(print_events(events));

    let mut test_pattern = None;
    let deadline = args
        .duration
        .map(|s| Instant::now() + Duration::from_secs(s));
    if args.test_pattern != TestPatternMode::Never {
        if args.test_pattern == TestPatternMode::Auto {
            tokio::time::sleep(EMPTY_ROOM_WAIT).await;
        }
        if args.test_pattern == TestPatternMode::Always
            || recorder.call().members().await.is_empty()
        {
            println!("rtcgate record: nobody else here; starting a test-pattern member");
            let (pattern, _events) =
                TestPattern::start(&url, &args.room, "testsrc", &args.media, call_options).await?;
            test_pattern = Some(pattern);
        }
    }

    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
        None => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    println!("\nrtcgate record: stopping");
    let summaries = recorder.stop().await;
    let _ = printer.await;
    for summary in &summaries {
        let p = &summary.progress;
        let tracks: Vec<String> = summary.tracks.iter().map(|t| t.codec.to_string()).collect();
        println!(
            "rtcgate record: {} → {} ({:.1} s, {}, {} frames, {} gaps, {} frames dropped{}{})",
            display_name(p),
            p.path
                .as_ref()
                .map_or("no file".into(), |p| p.display().to_string()),
            p.duration.as_secs_f64(),
            tracks.join(" + "),
            p.frames,
            p.gaps,
            p.frame_drops.total(),
            if p.stalls > 0 {
                format!(", {} stalls", p.stalls)
            } else {
                String::new()
            },
            summary
                .error
                .as_ref()
                .map_or(String::new(), |e| format!(", stopped early: {e}")),
        );
    }
    if let Some(pattern) = test_pattern {
        pattern.stop().await;
    }
    if let Some(server) = server {
        server.shutdown().await;
    }
    Ok(())
}

fn display_name(p: &ParticipantProgress) -> String {
    if p.name.is_empty() {
        p.member.clone()
    } else {
        p.name.clone()
    }
}

/// Prints file starts, errors, and one progress line a second.
async fn print_events(mut events: RecorderEvents) {
    let tty = std::io::stdout().is_terminal();
    let mut participants: BTreeMap<String, ParticipantProgress> = BTreeMap::new();
    let mut last_bytes = 0u64;
    let mut last_line = Instant::now();
    while let Some(event) = events.recv().await {
        match event {
            RecorderEvent::FileStarted {
                member,
                path,
                codecs,
            } => {
                let codecs: Vec<String> = codecs.iter().map(|c| c.to_string()).collect();
                println!(
                    "{}rtcgate record: {member} → {} ({})",
                    if tty { "\n" } else { "" },
                    path.display(),
                    codecs.join(" + ")
                );
            }
            RecorderEvent::WriteFailed {
                member,
                path,
                message,
                ..
            } => {
                eprintln!(
                    "rtcgate record: writing {} for {member} failed: {message}",
                    path.display()
                );
            }
            RecorderEvent::TrackStalled(report) => {
                eprintln!("{}rtcgate record: {report}", if tty { "\n" } else { "" });
            }
            RecorderEvent::Progress(progress) => {
                participants.insert(progress.member.clone(), progress);
            }
            RecorderEvent::Finished(summary) => {
                participants.remove(&summary.progress.member);
            }
            _ => {}
        }
        let elapsed = last_line.elapsed();
        if elapsed >= Duration::from_secs(1) {
            let bytes: u64 = participants.values().map(|p| p.bytes).sum();
            let duration = participants
                .values()
                .map(|p| p.duration)
                .max()
                .unwrap_or_default();
            let kbps =
                bytes.saturating_sub(last_bytes) as f64 * 8.0 / 1000.0 / elapsed.as_secs_f64();
            last_bytes = bytes;
            last_line = Instant::now();
            let line = format!(
                "recording: {} participant(s), {:02}:{:02}, {:.2} MB, {:.0} kbit/s",
                participants.len(),
                duration.as_secs() / 60,
                duration.as_secs() % 60,
                bytes as f64 / 1e6,
                kbps
            );
            if tty {
                print!("\r{line}   ");
                let _ = std::io::stdout().flush();
            } else {
                println!("{line}");
            }
        }
    }
}
