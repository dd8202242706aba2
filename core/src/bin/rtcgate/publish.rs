//! `rtcgate publish`: sends the test pattern (or clips) to a WHIP endpoint or
//! into a room, until Ctrl-C or `--duration`.
//!
//! ```text
//! rtcgate publish --to whip+http://127.0.0.1:7080/whip/endpoint/abc --token s3cret
//! rtcgate publish --to ws://127.0.0.1:8080/ws --room demo --clip examples/media/testsrc-vp9.ivf
//! ```

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use rtcgate_core::media::Clip;
use rtcgate_core::signalling::{JoinRequest, signaller_for_url};
use rtcgate_core::{Call, CallEvent, LocalTrack, MediaKind};

use crate::interfaces::call_options;

/// Options of `rtcgate publish`.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// Where to publish: `whip+http(s)://…` (a WHIP endpoint) or
    /// `ws(s)://host:port/ws` (a room; see --room).
    #[arg(long)]
    to: String,
    /// Room to join (room servers only).
    #[arg(long, default_value = "demo")]
    room: String,
    /// Display name in the room.
    #[arg(long, default_value = "publisher")]
    name: String,
    /// Access token: the room's token, or the WHIP Bearer token.
    #[arg(long)]
    token: Option<String>,
    /// A clip to send (IVF with VP8/VP9/AV1, Ogg Opus, Annex-B H.264); repeat
    /// for audio and video. Default: the test pattern (VP8 + Opus from --media).
    #[arg(long)]
    clip: Vec<PathBuf>,
    /// Directory holding testsrc-vp8.ivf and testsrc-opus.ogg.
    #[arg(long, default_value = "examples/media")]
    media: PathBuf,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    duration: Option<u64>,
    /// Call options in their text form, e.g. "ice-server=stun:stun.example.org:3478 tls-ca=ca.pem"
    /// (docs/signalling.md, "Call options as text").
    #[arg(long, default_value = "")]
    call_options: String,
}

/// Publishes until Ctrl-C or `--duration`.
pub async fn run(args: PublishArgs) -> Result<(), String> {
    let options = call_options()
        .apply(&args.call_options)
        .map_err(|e| e.to_string())?;
    let clips = if args.clip.is_empty() {
        vec![
            args.media.join("testsrc-vp8.ivf"),
            args.media.join("testsrc-opus.ogg"),
        ]
    } else {
        args.clip.clone()
    };
    let mut tracks = Vec::new();
    for path in &clips {
        let clip = Clip::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let kind = clip.codec().kind();
        let track = LocalTrack::new(
            clip.codec(),
            format!("{}-{}", args.name, kind.as_str()),
            &args.name,
        )
        .map_err(|e| e.to_string())?;
        if tracks
            .iter()
            .any(|(_, t): &(Clip, LocalTrack)| t.codec().kind() == kind && kind == MediaKind::Video)
        {
            return Err("more than one video clip".into());
        }
        tracks.push((clip, track));
    }
    let signaller = signaller_for_url(&args.to, &options).map_err(|e| e.to_string())?;
    let mut request = JoinRequest::new(&args.room, &args.name);
    if let Some(token) = &args.token {
        request = request.with_token(token);
    }
    let local: Vec<LocalTrack> = tracks.iter().map(|(_, t)| t.clone()).collect();
    let (call, mut events) = Call::join_with_tracks(signaller, request, options, &local)
        .await
        .map_err(|e| format!("cannot publish to {}: {e}", args.to))?;
    println!(
        "rtcgate publish: sending {} track(s) to {}",
        local.len(),
        args.to
    );
    let players: Vec<_> = tracks
        .into_iter()
        .map(|(clip, track)| {
            tokio::spawn(async move {
                if let Err(e) = clip.play(&track, None).await {
                    tracing::warn!("clip stopped: {e}");
                }
            })
        })
        .collect();
    let printer = tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            match event {
                CallEvent::ConnectionStateChanged { member, state } => {
                    println!("rtcgate publish: {member}: {state:?}")
                }
                CallEvent::Error { member, message } => {
                    eprintln!("rtcgate publish: {}: {message}", member.unwrap_or_default())
                }
                CallEvent::SignallingClosed(Some(reason)) => {
                    eprintln!("rtcgate publish: signalling closed: {reason}")
                }
                _ => {}
            }
        }
    });
    match args.duration {
        Some(seconds) => tokio::time::sleep(Duration::from_secs(seconds)).await,
        None => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    for player in players {
        player.abort();
    }
    let result = call.leave().await.map_err(|e| e.to_string());
    printer.abort();
    println!("rtcgate publish: stopped");
    result
}
