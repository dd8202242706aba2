//! `rtcgate demo`: the embedded signalling server with the web page, a native
//! member `testsrc` that sends the shipped VP8/Opus clips in a loop and prints
//! what it receives, and (unless `--no-monitor`) a second native member
//! `monitor` that shows the test pattern arriving, so that the command visibly
//! works on a machine where nobody opens the page.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use rtcgate_core::signalling::{ServerConfig, SignallingServer};
use rtcgate_core::{Call, CallEvent, CallEvents, DataMessage};

use crate::interfaces::call_options;
use crate::monitor::Monitor;
use crate::test_pattern::TestPattern;

/// Options of `rtcgate demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Address the server listens on (HTTP page and WebSocket).
    #[arg(long, default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
    /// Room the native members join.
    #[arg(long, default_value = "demo")]
    room: String,
    /// Directory of the web page.
    #[arg(long, default_value = "examples/web")]
    web_root: PathBuf,
    /// Directory holding testsrc-vp8.ivf and testsrc-opus.ogg.
    #[arg(long, default_value = "examples/media")]
    media: PathBuf,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    duration: Option<u64>,
    /// Do not start the second native member that watches the test pattern.
    #[arg(long)]
    no_monitor: bool,
}

/// Runs the demo until Ctrl-C or `--duration`.
pub async fn run(args: DemoArgs) -> Result<(), String> {
    let mut config = ServerConfig::default();
    config.web_root = Some(args.web_root.clone());
    let server = SignallingServer::bind(args.listen, config)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let page = format!(
        "{}?room={}&name=browser&autojoin=1",
        server.http_url(),
        args.room
    );
    println!("rtcgate demo: signalling on {}", server.url());
    println!(
        "rtcgate demo: open {page} in a browser to join room `{}`",
        args.room
    );

    let options = call_options();
    let (testsrc, events) = TestPattern::start(
        &server.url(),
        &args.room,
        "testsrc",
        &args.media,
        options.clone(),
    )
    .await?;
    let mut tasks = Vec::new();
    let testsrc_monitor = Monitor::default();
    tasks.push(testsrc_monitor.spawn_printer("testsrc", Duration::from_secs(2)));
    tasks.push(tokio::spawn(member_loop(
        "testsrc",
        testsrc.call.clone(),
        events,
        testsrc_monitor,
    )));

    let monitor_call = if args.no_monitor {
        None
    } else {
        let (call, events) = Call::join_url(&server.url(), &args.room, "monitor", options)
            .await
            .map_err(|e| format!("monitor could not join: {e}"))?;
        let monitor = Monitor::default();
        tasks.push(monitor.spawn_printer("monitor", Duration::from_secs(2)));
        tasks.push(tokio::spawn(member_loop(
            "monitor",
            call.clone(),
            events,
            monitor,
        )));
        Some(call)
    };

    match args.duration {
        Some(secs) => tokio::time::sleep(Duration::from_secs(secs)).await,
        None => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    println!("rtcgate demo: stopping");
    for task in tasks {
        task.abort();
    }
    if let Some(call) = monitor_call {
        let _ = call.leave().await;
    }
    testsrc.stop().await;
    server.shutdown().await;
    Ok(())
}

/// Handles one native member's events: watches remote tracks, greets data
/// channels, and prints members coming and going.
async fn member_loop(who: &'static str, call: Call, mut events: CallEvents, monitor: Monitor) {
    let mut names: HashMap<String, String> = HashMap::new();
    while let Some(event) = events.recv().await {
        match event {
            CallEvent::MemberJoined(member) => {
                println!("[{who}] {} joined", member.name);
                names.insert(member.id.clone(), member.name);
            }
            CallEvent::MemberLeft(member) => println!("[{who}] {} left", member.name),
            CallEvent::TrackAdded(track) => {
                let name = names.get(track.member()).cloned().unwrap_or_default();
                println!(
                    "[{who}] receiving {} {} from {name}",
                    track.kind().as_str(),
                    track.codec()
                );
                monitor.watch(track, name);
            }
            CallEvent::DataChannelOpened(channel) => {
                let name = names.get(channel.member()).cloned().unwrap_or_default();
                println!(
                    "[{who}] data channel `{}` open with {name}",
                    channel.label()
                );
                let _ = channel.send_text(&format!("hello from {who}")).await;
                tokio::spawn(async move {
                    while let Some(message) = channel.recv().await {
                        if let DataMessage::Text(text) = message {
                            println!("[{who}] {name} says: {text}");
                        }
                    }
                });
            }
            CallEvent::ConnectionStateChanged { member, state } => {
                let name = names.get(&member).cloned().unwrap_or(member);
                println!("[{who}] connection with {name}: {state:?}");
            }
            CallEvent::Error { message, .. } => eprintln!("[{who}] error: {message}"),
            CallEvent::SignallingClosed(reason) => {
                eprintln!("[{who}] signalling closed: {}", reason.unwrap_or_default());
                break;
            }
            _ => {}
        }
    }
    drop(call);
}
