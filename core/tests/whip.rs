//! rtcgate's WHIP client (`whip+http://…`) against a test WHIP endpoint on a
//! real socket (`support/whip_endpoint.rs`: hyper, and a real rtcgate call
//! answering): media published arrives byte-exact; the requests follow RFC
//! 9725 (POST `application/sdp` with the candidates, Bearer token, DELETE on
//! leave); refusals are typed errors with the server's problem details; a
//! 307 is followed; 405 to PATCH leaves the candidates of the offer; an ICE
//! restart is a PATCH with `If-Match: "*"` whose new ETag later PATCHes use,
//! and media keeps flowing. A WHEP client (`whep+http://…`) offers to
//! receive only, and the recorder writes what the endpoint sends to a file
//! that decodes (what `rtcgate record --server whep+…` does).
//!
//! Needs non-loopback interfaces: run through `.ci/with-netns` (see docs/testing.md).

mod support;

use std::sync::Arc;
use std::time::Duration;

use rtcgate_core::media::Clip;
use rtcgate_core::recorder::{Recorder, RecorderEvent, RecorderOptions};
use rtcgate_core::signalling::{JoinRequest, WhipSignaller, signaller_for_url};
use rtcgate_core::{
    Call, CallEvent, CallEvents, CallOptions, Codec, ConnectionState, ErrorKind, LocalTrack,
    ProtocolDetails, RemoteTrack,
};
use support::probe::assert_plays;
use support::whip_endpoint::{Script, WhipEndpoint};
use support::*;

async fn publish(
    signaller: WhipSignaller,
    tracks: &[LocalTrack],
) -> rtcgate_core::Result<(Call, CallEvents)> {
    Call::join_with_tracks(
        Arc::new(signaller),
        JoinRequest::new("whip", "publisher"),
        CallOptions::default(),
        tracks,
    )
    .await
}

async fn connected(events: &mut CallEvents, who: &str) {
    next_matching(events, &format!("{who} connected"), |e| match e {
        CallEvent::ConnectionStateChanged {
            state: ConnectionState::Connected,
            ..
        } => Some(()),
        _ => None,
    })
    .await;
}

/// Reads `track` until a frame with index `>= from` arrives intact.
async fn frame_from(track: &RemoteTrack, from: u32) -> u32 {
    within(30, &format!("frame {from} or later"), async {
        loop {
            let frame = track.recv().await.expect("the track goes on");
            if let Some(index) = synthetic_index(Codec::Vp8, &as_carried(Codec::Vp8, &frame.data))
                && index >= from
            {
                return index;
            }
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_media_arrives_and_the_requests_follow_rfc_9725() {
    init_logging();
    require_interfaces();
    let mut endpoint = WhipEndpoint::start(Script {
        token: Some("s3cret"),
        link: Some("<stun:10.99.0.1:3478>; rel=\"ice-server\""),
        ..Script::default()
    })
    .await;
    let video = LocalTrack::new(Codec::Vp8, "cam", "publisher").unwrap();
    // The URL form every surface uses; the token travels as the join's.
    let options = CallOptions::default();
    let signaller = signaller_for_url(&format!("whip+{}", endpoint.url()), &options).unwrap();
    let (call, mut events) = Call::join_with_tracks(
        signaller,
        JoinRequest::new("whip", "publisher").with_token("s3cret"),
        options,
        std::slice::from_ref(&video),
    )
    .await
    .expect("the endpoint takes the offer");
    let (endpoint_call, mut endpoint_events) = endpoint.next_call().await;
    let sender = spawn_sender(video.clone(), 150);
    connected(&mut events, "the publisher").await;
    let track = next_matching(
        &mut endpoint_events,
        "the video at the endpoint",
        |e| match e {
            CallEvent::TrackAdded(t) => Some(t.clone()),
            _ => None,
        },
    )
    .await;
    assert_eq!(track.codec(), Codec::Vp8);
    let first = frame_from(&track, 0).await;
    let later = frame_from(&track, first + 30).await;
    assert!(later > first);

    let err = call
        .add_track(&LocalTrack::new(Codec::Opus, "mic", "publisher").unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(err.to_string().contains("cannot be renegotiated"), "{err}");
    let members = call.members().await;
    let err = call
        .create_data_channel(&members[0].id, "chat", Default::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no data channels"), "{err}");

    sender.abort();
    call.leave().await.unwrap();
    let log = endpoint.log();
    let post = &log[0];
    assert_eq!((post.method.as_str(), post.status), ("POST", 201));
    assert_eq!(post.header("content-type"), Some("application/sdp"));
    assert_eq!(post.header("authorization"), Some("Bearer s3cret"));
    assert!(
        post.body.contains("a=candidate:"),
        "the offer carries candidates: {}",
        post.body
    );
    assert!(
        !post.body.contains("m=application"),
        "no data-channel section"
    );
    let delete = log.last().unwrap();
    assert_eq!(
        (delete.method.as_str(), delete.path.as_str(), delete.status),
        ("DELETE", "/whip/session/0", 200)
    );
    assert_eq!(delete.header("authorization"), Some("Bearer s3cret"));
    for patch in log.iter().filter(|l| l.method == "PATCH") {
        assert_eq!(patch.header("if-match"), Some("\"e1\""));
        assert_eq!(patch.status, 204);
    }
    let _ = endpoint_call.leave().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_typed_errors_with_problem_details() {
    init_logging();
    require_interfaces();
    let video = LocalTrack::new(Codec::Vp8, "cam", "publisher").unwrap();
    // 403 with RFC 9457 problem details.
    let endpoint = WhipEndpoint::start(Script {
        refuse: Some((
            403,
            "application/problem+json",
            r#"{"type":"https://example.org/problems/closed","title":"Forbidden","status":403,"detail":"this stream is closed","stream":"live"}"#,
        )),
        ..Script::default()
    })
    .await;
    let err = publish(
        WhipSignaller::whip(&endpoint.url()).unwrap(),
        std::slice::from_ref(&video),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SignallingRejected, "{err}");
    let Some(ProtocolDetails::Http {
        status: 403,
        problem: Some(problem),
        ..
    }) = err.protocol_details()
    else {
        panic!("{err:?}")
    };
    assert_eq!(problem.detail.as_deref(), Some("this stream is closed"));
    assert_eq!(problem.extensions["stream"], "live");
    assert!(err.to_string().contains("this stream is closed"), "{err}");
    assert_eq!(endpoint.log().len(), 1, "nothing created, nothing deleted");

    // 503 with Retry-After and a plain-text body.
    let endpoint = WhipEndpoint::start(Script {
        refuse: Some((503, "text/plain", "overloaded")),
        refuse_headers: vec![("retry-after", "7")],
        ..Script::default()
    })
    .await;
    let err = publish(
        WhipSignaller::whip(&endpoint.url()).unwrap(),
        std::slice::from_ref(&video),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err.protocol_details(),
            Some(ProtocolDetails::Http {
                status: 503,
                problem: None,
                retry_after: Some(7)
            })
        ),
        "{err:?}"
    );
    assert!(err.to_string().ends_with("503: overloaded"), "{err}");

    // A wrong token: the endpoint's 401.
    let endpoint = WhipEndpoint::start(Script {
        token: Some("right"),
        ..Script::default()
    })
    .await;
    let err = publish(
        WhipSignaller::whip(&endpoint.url())
            .unwrap()
            .with_token("wrong"),
        std::slice::from_ref(&video),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.protocol_details().and_then(|d| d.http_status()),
        Some(401),
        "{err}"
    );

    // Nobody listening: a signalling error, not a rejection.
    let err = publish(
        WhipSignaller::whip("http://127.0.0.1:9/whip")
            .unwrap()
            .with_request_timeout(Duration::from_secs(3)),
        std::slice::from_ref(&video),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Signalling | ErrorKind::Timeout),
        "{err}"
    );
    assert!(err.protocol_details().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_307_is_followed_and_405_to_patch_leaves_the_offers_candidates() {
    init_logging();
    require_interfaces();
    let mut endpoint = WhipEndpoint::start(Script {
        redirect_first: true,
        no_trickle: true,
        ..Script::default()
    })
    .await;
    let video = LocalTrack::new(Codec::Vp8, "cam", "publisher").unwrap();
    // No wait for candidates: whatever comes after the POST goes by PATCH,
    // which this endpoint refuses.
    let (call, mut events) = publish(
        WhipSignaller::whip(&endpoint.url())
            .unwrap()
            .with_candidate_wait(Duration::ZERO),
        std::slice::from_ref(&video),
    )
    .await
    .expect("published after the redirect");
    let (_endpoint_call, mut endpoint_events) = endpoint.next_call().await;
    let sender = spawn_sender(video.clone(), 200);
    connected(&mut events, "the publisher").await;
    let track = next_matching(
        &mut endpoint_events,
        "the video at the endpoint",
        |e| match e {
            CallEvent::TrackAdded(t) => Some(t.clone()),
            _ => None,
        },
    )
    .await;
    frame_from(&track, 0).await;
    sender.abort();
    call.leave().await.unwrap();
    let log = endpoint.log();
    let posts: Vec<_> = log.iter().filter(|l| l.method == "POST").collect();
    assert_eq!(posts.len(), 2);
    assert_eq!(
        (posts[0].path.as_str(), posts[0].status),
        ("/whip/endpoint", 307)
    );
    assert_eq!(
        (posts[1].path.as_str(), posts[1].status),
        ("/whip/moved", 201)
    );
    assert_eq!(
        posts[0].body, posts[1].body,
        "the same offer after the redirect"
    );
    let patches: Vec<_> = log.iter().filter(|l| l.method == "PATCH").collect();
    assert!(patches.len() <= 1, "no PATCH after a 405: {patches:?}");
    assert!(patches.iter().all(|p| p.status == 405));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ice_restart_is_a_patch_with_if_match_star_and_media_goes_on() {
    init_logging();
    require_interfaces();
    let mut endpoint = WhipEndpoint::start(Script::default()).await;
    let video = LocalTrack::new(Codec::Vp8, "cam", "publisher").unwrap();
    let (call, mut events) = publish(
        WhipSignaller::whip(&endpoint.url()).unwrap(),
        std::slice::from_ref(&video),
    )
    .await
    .unwrap();
    let (_endpoint_call, mut endpoint_events) = endpoint.next_call().await;
    let sender = spawn_sender(video.clone(), 900);
    connected(&mut events, "the publisher").await;
    let track = next_matching(
        &mut endpoint_events,
        "the video at the endpoint",
        |e| match e {
            CallEvent::TrackAdded(t) => Some(t.clone()),
            _ => None,
        },
    )
    .await;
    let before = frame_from(&track, 0).await;
    let member = call.members().await[0].id.clone();
    call.restart_ice(&member).await.unwrap();
    within(30, "the restart at the endpoint", async {
        while endpoint.restarts() == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    // Media after the restart: frames sent well after it arrive.
    let after = frame_from(&track, before + 90).await;
    assert!(after >= before + 90);
    sender.abort();
    call.leave().await.unwrap();
    let log = endpoint.log();
    let restart = log
        .iter()
        .find(|l| l.method == "PATCH" && l.header("if-match") == Some("\"*\""))
        .expect("a restart PATCH");
    assert_eq!(restart.status, 200);
    assert!(restart.body.starts_with("a=ice-ufrag:"), "{}", restart.body);
    let offer = &log[0].body;
    let old_ufrag = offer
        .lines()
        .find_map(|l| l.strip_prefix("a=ice-ufrag:"))
        .unwrap()
        .trim();
    assert!(!restart.body.contains(old_ufrag), "new credentials");
    let restart_at = log.iter().position(|l| std::ptr::eq(l, restart)).unwrap();
    for later in log[restart_at + 1..].iter().filter(|l| l.method == "PATCH") {
        assert_eq!(
            later.header("if-match"),
            Some("\"e2\""),
            "the restart's entity tag"
        );
        assert_eq!(later.status, 204);
    }
    assert!(log.iter().any(|l| l.method == "DELETE" && l.status == 200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whep_receives_the_endpoints_stream_into_a_playable_recording() {
    init_logging();
    require_interfaces();
    let video = LocalTrack::new(Codec::Vp8, "cam", "endpoint").unwrap();
    let audio = LocalTrack::new(Codec::Opus, "mic", "endpoint").unwrap();
    let endpoint = WhipEndpoint::start(Script {
        send: vec![video.clone(), audio.clone()],
        ..Script::default()
    })
    .await;
    let media = repo().join("examples/media");
    let players = [
        (media.join("testsrc-vp8.ivf"), video.clone()),
        (media.join("testsrc-opus.ogg"), audio.clone()),
    ]
    .map(|(file, track)| {
        let clip = Clip::open(file).unwrap();
        tokio::spawn(async move {
            let _ = clip.play(&track, None).await;
        })
    });
    let folder = std::env::temp_dir().join(format!("rtcgate-whep-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&folder);
    let (recorder, mut events) = Recorder::join(
        &format!("whep+{}", endpoint.url()),
        "whep",
        "recorder",
        CallOptions::default(),
        RecorderOptions::new(&folder),
    )
    .await
    .expect("the endpoint takes the receive-only offer");
    // Three seconds of media written (both tracks, from a keyframe on).
    within(30, "3 s recorded", async {
        while let Some(event) = events.recv().await {
            if let RecorderEvent::Progress(p) = event
                && p.duration >= Duration::from_secs(3)
            {
                return;
            }
        }
        panic!("the recorder ended early");
    })
    .await;
    let summaries = recorder.stop().await;
    for player in players {
        player.abort();
    }
    let log = endpoint.log();
    let post = &log[0];
    assert_eq!((post.method.as_str(), post.status), ("POST", 201));
    assert_eq!(
        post.body.matches("a=recvonly").count(),
        2,
        "a receive-only offer for audio and video: {}",
        post.body
    );
    assert!(!post.body.contains("a=sendrecv") && !post.body.contains("a=sendonly"));
    assert_eq!(
        log.last().map(|l| (l.method.as_str(), l.status)),
        Some(("DELETE", 200))
    );
    assert_eq!(summaries.len(), 1, "one participant: the endpoint's stream");
    let file = summaries[0].progress.path.clone().expect("a file");
    let decoded = assert_plays(&file, &["opus", "vp8"]);
    let frames = |codec: &str| {
        decoded
            .iter()
            .find(|(c, _)| c == codec)
            .map_or(0, |(_, n)| *n)
    };
    // 3 s of the 30 fps clip and of 20 ms Opus frames, with margin.
    assert!(frames("vp8") >= 60, "{decoded:?}");
    assert!(frames("opus") >= 100, "{decoded:?}");
    let _ = std::fs::remove_dir_all(&folder);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtcgate_publish_sends_the_test_pattern_to_a_whip_endpoint() {
    init_logging();
    require_interfaces();
    let mut endpoint = WhipEndpoint::start(Script {
        token: Some("s3cret"),
        ..Script::default()
    })
    .await;
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_rtcgate"))
        .arg("publish")
        .args(["--to", &format!("whip+{}", endpoint.url())])
        .args(["--token", "s3cret", "--duration", "4", "--media"])
        .arg(repo().join("examples/media"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let (endpoint_call, mut endpoint_events) = endpoint.next_call().await;
    let mut codecs = Vec::new();
    while codecs.len() < 2 {
        let track = next_matching(
            &mut endpoint_events,
            "the published tracks at the endpoint",
            |e| match e {
                CallEvent::TrackAdded(t) => Some(t.clone()),
                _ => None,
            },
        )
        .await;
        codecs.push(track.codec());
        if track.codec() == Codec::Vp8 {
            within(30, "a video frame", track.recv())
                .await
                .expect("video frames arrive");
        }
    }
    codecs.sort_by_key(|c| c.mime_type());
    assert_eq!(codecs, [Codec::Opus, Codec::Vp8]);
    let output = within(30, "rtcgate publish to end", child.wait_with_output())
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "rtcgate publish: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let log = endpoint.log();
    assert_eq!(
        log.last().map(|l| (l.method.as_str(), l.status)),
        Some(("DELETE", 200)),
        "{log:?}"
    );
    let _ = endpoint_call.leave().await;
}
