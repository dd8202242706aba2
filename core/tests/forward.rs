//! The forwarding unit between two calls in one process: a member of call A
//! forwarded into call B, received by a member of B (frames byte for byte),
//! recorded there (audio and video aligned through the regenerated sender
//! reports), repaired from the unit's own cache on a lossy subscriber path,
//! and shielded from a subscriber's PLI flood. Run inside `.ci/with-netns`
//! (docs/testing.md).

mod support;

use std::path::PathBuf;
use std::time::Duration;

use rtcgate_core::forward::{ForwardedTrackStats, Forwarder, LegStats};
use rtcgate_core::recorder::{Recorder, RecorderOptions};
use rtcgate_core::{Call, CallEvent, CallEvents, Codec, LocalTrack, MediaSample, RemoteTrack};
use support::netem::Impairment;
use support::probe::packets;
use support::*;

/// A fresh folder for one test's recordings.
fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rtcgate-fwd-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// An Opus packet FFmpeg's parser accepts (TOC 0xF8: one 20 ms CELT frame)
/// carrying `index` in bytes 1..5.
fn tagged_opus(index: u32) -> bytes::Bytes {
    let mut data = vec![0xF8];
    data.extend(index.to_be_bytes());
    data.extend((0..60u32).map(|i| (i * 7 + index) as u8));
    data.into()
}

/// The index a frame of `codec` carries, if it is exactly a frame we sent.
fn sent_index(codec: Codec, data: &[u8]) -> Option<u32> {
    match codec {
        Codec::Opus => {
            let index = u32::from_be_bytes(data.get(1..5)?.try_into().ok()?);
            (tagged_opus(index) == data).then_some(index)
        }
        _ => synthetic_index(codec, data),
    }
}

/// Two rooms on one server: `alice` alone with the bridge's member in A,
/// `bob` with the bridge's member in B.
struct Rooms {
    server: rtcgate_core::signalling::SignallingServer,
    alice: Call,
    bridge_a: Call,
    bridge_b: Call,
    bob: Call,
    bob_events: CallEvents,
}

async fn rooms(name: &str) -> Rooms {
    let server = start_server().await;
    let (alice, _) = join(&server, &format!("{name}-a"), "alice").await;
    let (bridge_a, _) = join(&server, &format!("{name}-a"), "bridge").await;
    let (bridge_b, _) = join(&server, &format!("{name}-b"), "bridge").await;
    let (bob, bob_events) = join(&server, &format!("{name}-b"), "bob").await;
    Rooms {
        server,
        alice,
        bridge_a,
        bridge_b,
        bob,
        bob_events,
    }
}

impl Rooms {
    async fn leave(self) {
        for call in [self.alice, self.bridge_a, self.bridge_b, self.bob] {
            call.leave().await.unwrap();
        }
        self.server.shutdown().await;
    }
}

/// Reads every frame of `track` until it ends or `stop` fires: each must
/// be a frame we sent, byte for byte; returns their indexes in order.
fn collect_indexes(
    track: &RemoteTrack,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<Vec<u32>> {
    let mut frames = track.subscribe();
    let codec = track.codec();
    let mut stop = stop;
    tokio::spawn(async move {
        let mut indexes = Vec::new();
        loop {
            tokio::select! {
                frame = frames.recv() => match frame {
                    Some(frame) => indexes.push(sent_index(codec, &frame.data).unwrap_or_else(|| {
                        panic!("a {codec} frame of {} bytes that was never sent", frame.data.len())
                    })),
                    None => break,
                },
                _ = stop.changed() => break,
            }
        }
        indexes
    })
}

/// Waits for `events` to announce a track of each of `codecs` (in any order).
async fn tracks_of(events: &mut CallEvents, codecs: &[Codec]) -> Vec<RemoteTrack> {
    let mut found: Vec<RemoteTrack> = Vec::new();
    while found.len() < codecs.len() {
        let track = next_matching(events, "the forwarded tracks", |e| match e {
            CallEvent::TrackAdded(t) => Some(t.clone()),
            _ => None,
        })
        .await;
        if codecs.contains(&track.codec()) && !found.iter().any(|f| f.codec() == track.codec()) {
            found.push(track);
        }
    }
    codecs
        .iter()
        .map(|c| found.iter().find(|t| t.codec() == *c).unwrap().clone())
        .collect()
}

/// The one leg of the one forwarded track of `codec`.
fn leg_of(forwarder: &Forwarder, codec: Codec) -> (ForwardedTrackStats, LegStats) {
    let track = forwarder
        .tracks()
        .into_iter()
        .find(|t| t.codec() == codec)
        .expect("a forwarded track");
    let stats = track.stats();
    assert_eq!(stats.legs.len(), 1, "one member in call B");
    let leg = stats.legs[0].clone();
    (stats, leg)
}

/// The indexes are increasing, one run without a gap from the first one.
fn assert_contiguous(what: &str, indexes: &[u32], at_least: usize) {
    assert!(
        indexes.len() >= at_least,
        "{what}: {} frames, want at least {at_least}",
        indexes.len()
    );
    for pair in indexes.windows(2) {
        assert_eq!(
            pair[1],
            pair[0] + 1,
            "{what}: frame {} follows {}",
            pair[1],
            pair[0]
        );
    }
}

/// Alice (call A) sends VP8 and Opus, forwarded into call B; Bob receives
/// every frame from the first one byte for byte, a recorder on Bob's call
/// places audio and video where they were sent (within 50 ms), and Bob
/// flooding PLIs costs Alice a keyframe request per interval at most.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_forwarded_into_another_call_arrives_intact_and_aligned() {
    init_logging();
    require_interfaces();
    let mut rooms = rooms("fwd").await;
    let forwarder = Forwarder::default();
    let forwarding = forwarder
        .forward_member(&rooms.bridge_a, rooms.alice.self_id(), &rooms.bridge_b)
        .await
        .unwrap();
    let out = out_dir("sync");
    let (recorder, _recorder_events) = Recorder::attach(&rooms.bob, RecorderOptions::new(&out))
        .await
        .unwrap();
    let audio = LocalTrack::new(Codec::Opus, "mic", "alice").unwrap();
    let video = LocalTrack::new(Codec::Vp8, "cam", "alice").unwrap();
    rooms.alice.add_track(&audio).await.unwrap();
    rooms.alice.add_track(&video).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await; // let call A's connection come up

    const VIDEO_DELAY: Duration = Duration::from_millis(400);
    let start = tokio::time::Instant::now();
    let audio_sender = audio.clone();
    let audio_task = tokio::spawn(async move {
        for i in 0..400u32 {
            let at = Duration::from_millis(20) * i;
            tokio::time::sleep_until(start + at).await;
            let sample = MediaSample::new(tagged_opus(i), at);
            audio_sender.write_sample(&sample).await.unwrap();
        }
    });
    let video_sender = video.clone();
    let video_task = tokio::spawn(async move {
        for i in 0..230u32 {
            let at = Duration::from_millis(33) * i;
            tokio::time::sleep_until(start + VIDEO_DELAY + at).await;
            let sample = MediaSample::new(synthetic_frame(Codec::Vp8, i), at);
            video_sender.write_sample(&sample).await.unwrap();
        }
    });

    let bob_tracks = tracks_of(&mut rooms.bob_events, &[Codec::Vp8, Codec::Opus]).await;
    let (bob_video, bob_audio) = (&bob_tracks[0], &bob_tracks[1]);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let video_frames = collect_indexes(bob_video, stop_rx.clone());
    let audio_frames = collect_indexes(bob_audio, stop_rx);

    // Bob floods PLIs (one every 10 ms for 3 s) while video flows.
    let keyframe_requests_before = video.keyframe_requests();
    for _ in 0..300 {
        bob_video.request_keyframe().await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    audio_task.await.unwrap();
    video_task.await.unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let flood_cost = video.keyframe_requests() - keyframe_requests_before;
    let (video_stats, video_leg) = leg_of(&forwarder, Codec::Vp8);
    let (_, audio_leg) = leg_of(&forwarder, Codec::Opus);
    stop_tx.send(true).unwrap();
    let video_frames = video_frames.await.unwrap();
    let audio_frames = audio_frames.await.unwrap();
    let summaries = recorder.stop().await;
    eprintln!(
        "video: {} frames from #{:?}; audio: {} frames from #{:?}; {} PLIs from Bob reached the unit, \
         {} keyframe requests reached Alice; video leg {:?}",
        video_frames.len(),
        video_frames.first(),
        audio_frames.len(),
        audio_frames.first(),
        video_leg.keyframe_requests,
        flood_cost,
        video_leg
    );

    // Byte for byte, none missing after the first (the path is clean).
    assert_contiguous("video", &video_frames, 150);
    assert_contiguous("audio", &audio_frames, 250);
    assert!(video_leg.packets > 0 && audio_leg.packets > 0);
    // The flood reached the unit, and not Alice.
    assert!(
        video_leg.keyframe_requests >= 100,
        "{} PLIs counted on the leg",
        video_leg.keyframe_requests
    );
    assert!(
        flood_cost <= 10,
        "{flood_cost} keyframe requests reached the publisher during a 3 s flood (at most one per 500 ms)"
    );
    assert!(video_stats.keyframe_requests_sent < video_stats.keyframe_requests_received);

    // The recording: every packet one we sent, at its send time plus one
    // common offset (the leg's sender reports carry Alice's clock). The
    // forwarded tracks reach Bob one after the other, so the file holding
    // both is the last part.
    assert_eq!(summaries.len(), 1);
    let path = summaries[0].files.last().expect("a recorded file");
    let mut offsets = Vec::new();
    for packet in packets(path, true) {
        let codec = match packet.codec.as_str() {
            "opus" => Codec::Opus,
            "vp8" => Codec::Vp8,
            other => panic!("unexpected stream {other}"),
        };
        let index = sent_index(codec, &packet.data).unwrap_or_else(|| {
            panic!(
                "{} packet at {} is not a sent frame",
                packet.codec, packet.pts
            )
        });
        let sent_at = match codec {
            Codec::Opus => 0.020 * f64::from(index),
            _ => VIDEO_DELAY.as_secs_f64() + 0.033 * f64::from(index),
        };
        offsets.push(packet.pts - sent_at);
    }
    assert!(offsets.len() > 300, "{} packets recorded", offsets.len());
    let min = offsets.iter().copied().fold(f64::MAX, f64::min);
    let max = offsets.iter().copied().fold(f64::MIN, f64::max);
    eprintln!(
        "A/V placement spread: {:.1} ms over {} packets",
        (max - min) * 1000.0,
        offsets.len()
    );
    assert!(
        max - min < 0.050,
        "packets placed {:.1} ms apart from their send times (want < 50 ms)",
        (max - min) * 1000.0
    );
    assert_eq!(
        summaries[0].progress.tracks_timed_by_arrival, 0,
        "aligned by the legs' sender reports"
    );

    forwarding.stop().await;
    rooms.leave().await;
    std::fs::remove_dir_all(out).unwrap();
}

/// 5 % of the datagrams to Bob's connection are dropped: Bob's NACKs are
/// answered from the unit's send cache (retransmissions counted on the
/// leg), every frame arrives, and Alice — whose path is clean — receives
/// no NACK at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lossy_subscriber_is_repaired_from_the_units_cache() {
    init_logging();
    require_interfaces();
    let mut rooms = rooms("fwd-loss").await;
    let forwarder = Forwarder::default();
    let forwarding = forwarder
        .forward_member(&rooms.bridge_a, rooms.alice.self_id(), &rooms.bridge_b)
        .await
        .unwrap();
    let video = LocalTrack::new(Codec::Vp8, "cam", "alice").unwrap();
    rooms.alice.add_track(&video).await.unwrap();
    let sender = spawn_sender(video.clone(), 330);
    let bob_video = tracks_of(&mut rooms.bob_events, &[Codec::Vp8])
        .await
        .remove(0);
    // The latency a NACK round trip needs on a loaded machine.
    bob_video.set_latency(Duration::from_millis(500));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let frames = collect_indexes(&bob_video, stop_rx);
    let port = within(30, "Bob's selected candidate pair", async {
        loop {
            let stats = rooms.bob.stats().await;
            if let Some(pair) = stats.members.iter().find_map(|m| m.candidate_pair.clone()) {
                return pair.local.port;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    let loss = Impairment::lossy_to_port(5, port);
    sender.await.unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let dropped = loss.dropped();
    loss.remove();
    let (_, leg) = leg_of(&forwarder, Codec::Vp8);
    let alice_stats = rooms.alice.stats().await;
    stop_tx.send(true).unwrap();
    let frames = frames.await.unwrap();
    let alice_nacks: u64 = alice_stats
        .members
        .iter()
        .flat_map(|m| &m.outbound)
        .map(|o| o.nacks)
        .sum();
    eprintln!(
        "{dropped} datagrams to Bob dropped; leg: {} NACKs for {} packets, {} retransmitted; \
         Alice got {alice_nacks} NACKs; Bob: {} frames from #{:?}",
        leg.nacks,
        leg.nacked_packets,
        leg.retransmissions,
        frames.len(),
        frames.first()
    );
    assert!(dropped > 20, "the loss rule dropped {dropped} datagrams");
    assert!(leg.nacks > 0 && leg.retransmissions > 0, "{leg:?}");
    assert_eq!(alice_nacks, 0, "NACKs stop at the unit");
    // Repaired: byte for byte, no frame missing after the first.
    assert_contiguous("video", &frames, 250);

    forwarding.stop().await;
    rooms.leave().await;
}
