//! The recorder against real senders, read back with FFmpeg's demuxers and
//! decoders. Run inside `.ci/with-netns` (docs/testing.md).

mod support;

use std::path::PathBuf;
use std::time::Duration;

use rtcgate_core::media::Clip;
use rtcgate_core::recorder::{Recorder, RecorderEvent, RecorderEvents, RecorderOptions};
use rtcgate_core::{Codec, LocalTrack, MediaSample};
use support::probe::{assert_plays, decoded_widths, last_pts, packets};
use support::*;

/// A fresh folder for one test's recordings.
fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rtcgate-rec-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Joins `room` as a recording member writing into `folder`.
async fn record_room(
    server: &rtcgate_core::signalling::SignallingServer,
    room: &str,
    folder: &std::path::Path,
) -> (Recorder, RecorderEvents) {
    Recorder::join(
        &server.url(),
        room,
        "recorder",
        Default::default(),
        RecorderOptions::new(folder),
    )
    .await
    .expect("recorder joins")
}

/// Reads recorder events until `pick` returns something.
async fn next_recorder_event<T>(
    events: &mut RecorderEvents,
    secs: u64,
    what: &str,
    mut pick: impl FnMut(&RecorderEvent) -> Option<T>,
) -> T {
    within(secs, what, async {
        loop {
            let event = events
                .recv()
                .await
                .unwrap_or_else(|| panic!("events ended before {what}"));
            if let Some(value) = pick(&event) {
                return value;
            }
        }
    })
    .await
}

async fn file_started(events: &mut RecorderEvents) -> PathBuf {
    next_recorder_event(events, 30, "a participant's file", |e| match e {
        RecorderEvent::FileStarted { path, .. } => Some(path.clone()),
        _ => None,
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_participants_are_recorded_into_two_files_that_play() {
    init_logging();
    require_interfaces();
    let server = start_server().await;
    let (alice, _a) = join(&server, "rec-two", "alice").await;
    let (bob, _b) = join(&server, "rec-two", "bob").await;
    let mut players = send_test_pattern(&alice).await;
    players.extend(send_test_pattern(&bob).await);
    let out = out_dir("two");
    let (recorder, mut events) = record_room(&server, "rec-two", &out).await;
    // When each participant's first packet arrived (the recorder's call
    // reports a track at its first packet).
    let mut call_events = recorder.call().subscribe();
    let first_packet = tokio::spawn(async move {
        let mut seen = std::collections::HashMap::new();
        while seen.len() < 2 {
            if let Some(rtcgate_core::CallEvent::TrackAdded(track)) = call_events.recv().await {
                seen.entry(track.member().clone())
                    .or_insert_with(std::time::Instant::now);
            }
        }
        seen
    });
    let first = file_started(&mut events).await;
    let second = file_started(&mut events).await;
    assert_ne!(first, second);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let first_packet = within(5, "both members' first packets", first_packet)
        .await
        .unwrap();
    let stopped = std::time::Instant::now();
    let summaries = recorder.stop().await;
    assert_eq!(
        summaries.len(),
        2,
        "one file per participant: {summaries:?}"
    );
    for summary in &summaries {
        let path = summary.progress.path.clone().expect("a file");
        assert!(summary.error.is_none());
        assert!(
            path.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with(&summary.progress.name),
            "file named after the participant: {}",
            path.display()
        );
        let decoded = assert_plays(&path, &["opus", "vp8"]);
        let video = decoded.iter().find(|(c, _)| c == "vp8").unwrap().1;
        assert!(video >= 100, "about 30 fps for 5 s: {video} frames");
        let plays_for = last_pts(&path);
        let written = summary.progress.duration.as_secs_f64();
        assert!(
            (plays_for - written).abs() < 0.5,
            "file plays {plays_for:.2}s, recorder reports {written:.2}s"
        );
        let recorded_for = stopped
            .duration_since(first_packet[&summary.progress.member])
            .as_secs_f64();
        assert!(
            (plays_for - recorded_for).abs() < 0.5,
            "file plays {plays_for:.2}s after {recorded_for:.2}s of recording"
        );
    }
    for player in players {
        player.abort();
    }
    alice.leave().await.unwrap();
    bob.leave().await.unwrap();
    server.shutdown().await;
    std::fs::remove_dir_all(out).unwrap();
}

/// An Opus packet FFmpeg's parser accepts (TOC 0xF8: one 20 ms CELT frame)
/// carrying `index` in bytes 1..5.
fn tagged_opus(index: u32) -> bytes::Bytes {
    let mut data = vec![0xF8];
    data.extend(index.to_be_bytes());
    data.extend((0..60u32).map(|i| (i * 7 + index) as u8));
    data.into()
}

fn tag_of(data: &[u8]) -> u32 {
    data.get(1..5)
        .map_or(u32::MAX, |b| u32::from_be_bytes(b.try_into().unwrap()))
}

/// Audio every 20 ms and video every 33 ms, video starting 400 ms after
/// audio, all paced in real time: every packet of the file must sit at its
/// send time plus one common offset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_and_video_keep_the_timing_they_were_sent_with() {
    init_logging();
    require_interfaces();
    let server = start_server().await;
    let (sender, _s) = join(&server, "rec-sync", "sender").await;
    let (receiver, _r) = join(&server, "rec-sync", "receiver").await;
    let audio = LocalTrack::new(Codec::Opus, "mic", "sender").unwrap();
    let video = LocalTrack::new(Codec::Vp8, "cam", "sender").unwrap();
    sender.add_track(&audio).await.unwrap();
    sender.add_track(&video).await.unwrap();
    let out = out_dir("sync");
    // Attached to the receiver's call (whose own event stream is untouched).
    let (recorder, mut events) = Recorder::attach(&receiver, RecorderOptions::new(&out))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await; // let the connection come up
    const VIDEO_DELAY: Duration = Duration::from_millis(400);
    let start = tokio::time::Instant::now();
    let audio_task = tokio::spawn(async move {
        for i in 0..300u32 {
            let at = Duration::from_millis(20) * i;
            tokio::time::sleep_until(start + at).await;
            let sample = MediaSample::new(tagged_opus(i), at);
            audio.write_sample(&sample).await.unwrap();
        }
    });
    let video_task = tokio::spawn(async move {
        for i in 0..170u32 {
            let at = Duration::from_millis(33) * i;
            tokio::time::sleep_until(start + VIDEO_DELAY + at).await;
            let sample = MediaSample::new(synthetic_frame(Codec::Vp8, i), at);
            video.write_sample(&sample).await.unwrap();
        }
    });
    let path = file_started(&mut events).await;
    audio_task.await.unwrap();
    video_task.await.unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let summaries = recorder.stop().await;
    assert_eq!(summaries.len(), 1);
    let mut offsets = Vec::new();
    let (mut audio_packets, mut video_packets) = (0, 0);
    for packet in packets(&path, true) {
        let (codec, sent) = match packet.codec.as_str() {
            "opus" => (Codec::Opus, None),
            "vp8" => (Codec::Vp8, Some(VIDEO_DELAY)),
            other => panic!("unexpected stream {other}"),
        };
        let index = match codec {
            Codec::Opus => {
                (packet.data == tagged_opus(tag_of(&packet.data))).then(|| tag_of(&packet.data))
            }
            _ => synthetic_index(codec, &packet.data),
        }
        .unwrap_or_else(|| {
            panic!(
                "{} packet at {} is not a sent frame",
                packet.codec, packet.pts
            )
        });
        let sent_at = match sent {
            None => 0.020 * f64::from(index),
            Some(delay) => delay.as_secs_f64() + 0.033 * f64::from(index),
        };
        if codec == Codec::Opus {
            audio_packets += 1;
        } else {
            video_packets += 1;
        }
        offsets.push(packet.pts - sent_at);
    }
    assert!(
        audio_packets > 250 && video_packets > 140,
        "{audio_packets} audio, {video_packets} video packets"
    );
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
        "aligned by sender reports"
    );
    sender.leave().await.unwrap();
    receiver.leave().await.unwrap();
    server.shutdown().await;
    std::fs::remove_dir_all(out).unwrap();
}

/// The sender switches from 320x240 to 640x360 mid-stream (a keyframe with
/// the new size): the file decodes across the change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolution_change_keeps_the_file_playable() {
    init_logging();
    require_interfaces();
    let server = start_server().await;
    let (sender, _s) = join(&server, "rec-size", "sender").await;
    let track = LocalTrack::new(Codec::Vp8, "cam", "sender").unwrap();
    sender.add_track(&track).await.unwrap();
    let out = out_dir("size");
    let (recorder, mut events) = record_room(&server, "rec-size", &out).await;
    let small = Clip::open(repo().join("examples/media/testsrc-vp8.ivf")).unwrap();
    let large = Clip::open(repo().join("examples/media/testsrc-vp8-640x360.ivf")).unwrap();
    let player = tokio::spawn(async move {
        let start = tokio::time::Instant::now();
        // Small until the file has started plus 2 s, then large, one clock.
        let mut offset = Duration::ZERO;
        for lap in 0..2 {
            for sample in small.samples(lap) {
                tokio::time::sleep_until(start + sample.timestamp).await;
                track.write_sample(&sample).await.unwrap();
            }
            offset = small.duration() * (lap + 1);
        }
        for sample in large.samples(0) {
            let at = offset + sample.timestamp;
            tokio::time::sleep_until(start + at).await;
            track
                .write_sample(&MediaSample::new(sample.data, at))
                .await
                .unwrap();
        }
    });
    let path = file_started(&mut events).await;
    within(30, "the clips to be sent", player).await.unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    recorder.stop().await;
    assert_plays(&path, &["vp8"]);
    let widths = decoded_widths(&path);
    assert!(
        widths.contains(&320) && widths.contains(&640),
        "both sizes decoded: {widths:?}"
    );
    let switch = widths.iter().position(|&w| w == 640).unwrap();
    assert!(
        widths[switch..].iter().all(|&w| w == 640),
        "one switch, no flip-flop"
    );
    sender.leave().await.unwrap();
    server.shutdown().await;
    std::fs::remove_dir_all(out).unwrap();
}

/// The recorder process is killed with SIGKILL ~5 s into a recording: the
/// file it leaves demuxes, decodes and plays at least 4 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_recorder_leaves_a_playable_file() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    init_logging();
    require_interfaces();
    let server = start_server().await;
    let (sender, _s) = join(&server, "rec-kill", "sender").await;
    let players = send_test_pattern(&sender).await;
    let out = out_dir("kill");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_rtcgate"))
        .args([
            "record",
            "--server",
            &server.url(),
            "--room",
            "rec-kill",
            "--test-pattern",
            "never",
        ])
        .arg("--out")
        .arg(&out)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start rtcgate record");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    within(30, "the recorder's file to start", async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains(" → ") {
                return;
            }
        }
        panic!("rtcgate record ended before recording");
    })
    .await;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    tokio::time::sleep(Duration::from_millis(5_200)).await;
    let pid = child.id().unwrap() as i32;
    // SIGKILL: no chance to finish the file.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    child.wait().await.unwrap();
    let file = std::fs::read_dir(&out)
        .unwrap()
        .next()
        .expect("a file")
        .unwrap()
        .path();
    assert_plays(&file, &["opus", "vp8"]);
    let plays_for = last_pts(&file);
    assert!(
        plays_for >= 4.0,
        "the killed recording plays {plays_for:.2}s of ~5s"
    );
    for player in players {
        player.abort();
    }
    sender.leave().await.unwrap();
    server.shutdown().await;
    std::fs::remove_dir_all(out).unwrap();
}

/// A tmpfs mounted for the test, unmounted when dropped.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(name: &str, size: &str) -> SmallDisk {
        let dir = out_dir(name);
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "rtcgate-test"])
            .arg(&dir)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a {size} tmpfs needs root (the CI runs as root)"
        );
        SmallDisk(dir)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The disk fills up mid-recording: a typed error arrives, the file written
/// so far stays valid, and the recorder keeps running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_a_typed_error_and_the_file_stays_valid() {
    init_logging();
    require_interfaces();
    let disk = SmallDisk::mount("full", "64k");
    let server = start_server().await;
    let (sender, _s) = join(&server, "rec-full", "sender").await;
    let players = send_test_pattern(&sender).await;
    let (recorder, mut events) = record_room(&server, "rec-full", &disk.0).await;
    let (path, kind) = next_recorder_event(&mut events, 60, "the write error", |e| match e {
        RecorderEvent::WriteFailed { path, kind, .. } => Some((path.clone(), *kind)),
        _ => None,
    })
    .await;
    assert_eq!(kind, std::io::ErrorKind::StorageFull);
    // Still running: progress keeps coming after the failure.
    next_recorder_event(&mut events, 10, "progress after the failure", |e| match e {
        RecorderEvent::Progress(p) => Some(p.bytes),
        _ => None,
    })
    .await;
    let summaries = recorder.stop().await;
    assert_eq!(summaries.len(), 1);
    assert!(
        summaries[0].error.is_some(),
        "the summary says the recording stopped early"
    );
    assert_plays(&path, &["opus", "vp8"]);
    assert!(
        last_pts(&path) > 1.0,
        "the part written before the disk filled up plays"
    );
    for player in players {
        player.abort();
    }
    sender.leave().await.unwrap();
    server.shutdown().await;
    drop(disk);
}

/// Plays `video` (a shipped clip) and the Opus clip into a new member's call.
async fn send_clips(
    server: &rtcgate_core::signalling::SignallingServer,
    room: &str,
    name: &str,
    video: (Codec, &str),
) -> (rtcgate_core::Call, Vec<tokio::task::JoinHandle<()>>) {
    let (call, _events) = join(server, room, name).await;
    let mut players = Vec::new();
    for (codec, file) in [video, (Codec::Opus, "testsrc-opus.ogg")] {
        let track = LocalTrack::new(codec, format!("{name}-{codec}"), name).unwrap();
        call.add_track(&track).await.unwrap();
        let clip = Clip::open(repo().join("examples/media").join(file)).unwrap();
        players.push(tokio::spawn(async move {
            clip.play(&track, None).await.expect("play clip");
        }));
    }
    (call, players)
}

/// VP9 and AV1 senders get WebM files, an H.264 sender a Matroska file; all
/// decode, and every header carries the picture size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vp9_av1_and_h264_participants_get_files_that_play() {
    init_logging();
    require_interfaces();
    let server = start_server().await;
    let room = "rec-codecs";
    let mut calls = Vec::new();
    let mut players = Vec::new();
    for (name, video) in [
        ("vp9", (Codec::Vp9, "testsrc-vp9.ivf")),
        ("av1", (Codec::Av1, "testsrc-av1.ivf")),
        ("h264", (Codec::H264, "testsrc-h264.h264")),
    ] {
        let (call, p) = send_clips(&server, room, name, video).await;
        calls.push(call);
        players.extend(p);
    }
    let out = out_dir("codecs");
    let (recorder, mut events) = record_room(&server, room, &out).await;
    for _ in 0..3 {
        file_started(&mut events).await;
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    let summaries = recorder.stop().await;
    assert_eq!(summaries.len(), 3);
    for summary in &summaries {
        let path = summary.progress.path.clone().expect("a file");
        let (codec, ext) = match summary.progress.name.as_str() {
            "vp9" => ("vp9", "webm"),
            "av1" => ("av1", "webm"),
            "h264" => ("h264", "mkv"),
            other => panic!("unexpected participant {other}"),
        };
        assert_eq!(path.extension().unwrap(), ext, "{}", path.display());
        let decoded = assert_plays(&path, &[codec, "opus"]);
        let video = decoded.iter().find(|(c, _)| c == codec).unwrap().1;
        assert!(video >= 60, "{codec}: {video} frames decoded from ~4 s");
        let size = summary.tracks.iter().find_map(|t| t.picture_size);
        assert_eq!(size, Some((320, 240)), "{codec} picture size in the header");
    }
    for player in players {
        player.abort();
    }
    for call in calls {
        call.leave().await.unwrap();
    }
    server.shutdown().await;
    std::fs::remove_dir_all(out).unwrap();
}

/// A participant who joins after the recording started gets a file from
/// their first keyframe; one who leaves gets a finished file at once (with
/// its duration and cues), while the others go on being recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_joiners_and_leavers_get_complete_files() {
    init_logging();
    require_interfaces();
    let server = start_server().await;
    let room = "rec-come-go";
    let (bob, _b) = join(&server, room, "bob").await;
    let mut players = send_test_pattern(&bob).await;
    let out = out_dir("come-go");
    let (recorder, mut events) = record_room(&server, room, &out).await;
    file_started(&mut events).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (alice, _a) = join(&server, room, "alice").await;
    players.extend(send_test_pattern(&alice).await);
    let alice_file = file_started(&mut events).await;
    assert!(alice_file.to_str().unwrap().contains("alice"));
    tokio::time::sleep(Duration::from_secs(4)).await;
    alice.leave().await.unwrap();
    let summary = next_recorder_event(
        &mut events,
        30,
        "alice's file to be finished",
        |e| match e {
            RecorderEvent::Finished(s) if s.progress.name == "alice" => Some(s.clone()),
            _ => None,
        },
    )
    .await;
    assert_eq!(summary.progress.path.as_deref(), Some(alice_file.as_path()));
    let decoded = assert_plays(&alice_file, &["opus", "vp8"]);
    let video = decoded.iter().find(|(c, _)| c == "vp8").unwrap().1;
    assert!(video >= 60, "alice's video: {video} frames");
    let first_video = packets(&alice_file, false)
        .into_iter()
        .find(|p| p.codec == "vp8")
        .unwrap();
    assert!(first_video.keyframe, "alice's video starts with a keyframe");
    // A finished file carries its duration (and cues), unlike a cut one.
    let duration = support::probe::format_duration(&alice_file).expect("duration in the header");
    assert!((duration - summary.progress.duration.as_secs_f64()).abs() < 0.1);
    // Bob is still being recorded.
    let bob_bytes = next_recorder_event(&mut events, 10, "bob's progress", |e| match e {
        RecorderEvent::Progress(p) if p.name == "bob" => Some(p.bytes),
        _ => None,
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let summaries = recorder.stop().await;
    assert_eq!(summaries.len(), 2, "alice's (finished earlier) and bob's");
    let bob_summary = summaries.iter().find(|s| s.progress.name == "bob").unwrap();
    assert!(
        bob_summary.progress.bytes > bob_bytes,
        "bob's file kept growing after alice left"
    );
    for player in players {
        player.abort();
    }
    bob.leave().await.unwrap();
    server.shutdown().await;
    std::fs::remove_dir_all(out).unwrap();
}

/// A participant who adds video after their audio-only file started: that
/// file is finished and a second part holds audio and video.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_track_added_later_starts_a_new_part() {
    init_logging();
    require_interfaces();
    let server = start_server().await;
    let room = "rec-parts";
    let (carol, _c) = join(&server, room, "carol").await;
    let mic = LocalTrack::new(Codec::Opus, "carol-mic", "carol").unwrap();
    carol.add_track(&mic).await.unwrap();
    let audio = Clip::open(repo().join("examples/media/testsrc-opus.ogg")).unwrap();
    let mut players = vec![tokio::spawn(async move {
        audio.play(&mic, None).await.unwrap()
    })];
    let out = out_dir("parts");
    let (recorder, mut events) = record_room(&server, room, &out).await;
    let first = file_started(&mut events).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let cam = LocalTrack::new(Codec::Vp8, "carol-cam", "carol").unwrap();
    carol.add_track(&cam).await.unwrap();
    let video = Clip::open(repo().join("examples/media/testsrc-vp8.ivf")).unwrap();
    players.push(tokio::spawn(async move {
        video.play(&cam, None).await.unwrap()
    }));
    let finished = next_recorder_event(&mut events, 30, "the first part to finish", |e| match e {
        RecorderEvent::PartFinished { path, .. } => Some(path.clone()),
        _ => None,
    })
    .await;
    assert_eq!(finished, first);
    let second = file_started(&mut events).await;
    assert_ne!(second, first);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let summaries = recorder.stop().await;
    assert_eq!(summaries[0].files, vec![first.clone(), second.clone()]);
    assert_plays(&first, &["opus"]);
    assert!(last_pts(&first) >= 2.5, "the audio-only part");
    assert_plays(&second, &["opus", "vp8"]);
    let second_packets = packets(&second, false);
    assert!(
        second_packets
            .iter()
            .find(|p| p.codec == "vp8")
            .unwrap()
            .keyframe
    );
    assert!(second_packets[0].pts < 0.1, "the new part starts at zero");
    for player in players {
        player.abort();
    }
    carol.leave().await.unwrap();
    server.shutdown().await;
    std::fs::remove_dir_all(out).unwrap();
}

/// A file-size limit (`ulimit -f`) stops the one recording that reaches it
/// (video: the bigger file) with a typed error; the other participant
/// (audio only) goes on being recorded, and both files play.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_file_hitting_its_limit_does_not_stop_the_others() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    init_logging();
    require_interfaces();
    let server = start_server().await;
    let room = "rec-limit";
    let (alice, _a) = join(&server, room, "alice").await;
    let mut players = send_test_pattern(&alice).await;
    let (bob, _b) = join(&server, room, "bob").await;
    let mic = LocalTrack::new(Codec::Opus, "bob-mic", "bob").unwrap();
    bob.add_track(&mic).await.unwrap();
    let audio = Clip::open(repo().join("examples/media/testsrc-opus.ogg")).unwrap();
    players.push(tokio::spawn(async move {
        audio.play(&mic, None).await.unwrap()
    }));
    let out = out_dir("limit");
    // bash's `ulimit -f` counts 1024-byte blocks: 96 KiB per file.
    let mut child = tokio::process::Command::new("bash")
        .args(["-c", "ulimit -f 96 && exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_rtcgate"))
        .args(["record", "--server", &server.url(), "--room", room])
        .args(["--test-pattern", "never", "--out"])
        .arg(&out)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start rtcgate record");
    let mut errors = BufReader::new(child.stderr.take().unwrap()).lines();
    let failure = within(60, "alice's file to reach the limit", async {
        while let Some(line) = errors.next_line().await.unwrap() {
            if line.contains("failed") {
                return line;
            }
        }
        panic!("rtcgate record ended without a write error");
    })
    .await;
    assert!(
        failure.contains("alice"),
        "the video participant's file is the one that fills up: {failure}"
    );
    tokio::spawn(async move { while let Ok(Some(_)) = errors.next_line().await {} });
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Ctrl-C: a clean stop that finishes bob's file.
    assert_eq!(
        unsafe { libc::kill(child.id().unwrap() as i32, libc::SIGINT) },
        0
    );
    let status = within(30, "rtcgate record to stop", child.wait())
        .await
        .unwrap();
    assert!(
        status.success(),
        "the process survived the full file: {status}"
    );
    let file_of = |name: &str| {
        std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.file_name().unwrap().to_str().unwrap().starts_with(name))
            .unwrap_or_else(|| panic!("no file for {name}"))
    };
    let (alice_file, bob_file) = (file_of("alice"), file_of("bob"));
    assert!(std::fs::metadata(&alice_file).unwrap().len() <= 96 * 1024);
    assert_plays(&alice_file, &["opus", "vp8"]);
    assert_plays(&bob_file, &["opus"]);
    assert!(
        support::probe::format_duration(&bob_file).is_some(),
        "bob's file was finished cleanly"
    );
    let (alice_end, bob_end) = (last_pts(&alice_file), last_pts(&bob_file));
    assert!(
        bob_end > alice_end + 2.0,
        "bob recorded on: {bob_end:.1}s vs alice {alice_end:.1}s"
    );
    for player in players {
        player.abort();
    }
    alice.leave().await.unwrap();
    bob.leave().await.unwrap();
    server.shutdown().await;
    std::fs::remove_dir_all(out).unwrap();
}

/// `rtcgate record` with its test-pattern member and the default log filter
/// (no RUST_LOG): a clean session prints nothing on stderr, where the logs
/// go. webrtc-rs's set-up warnings are fixed in the forks or left out of the
/// default filter (`rtcgate_core::logging::QUIET_WEBRTC_LOGS`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_record_run_prints_no_warning() {
    require_interfaces();
    let out = out_dir("quiet");
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_rtcgate"))
        .args(["record", "--listen", "127.0.0.1:0", "--room", "quiet"])
        .args(["--test-pattern", "always", "--duration", "6", "--out"])
        .arg(&out)
        .arg("--media")
        .arg(repo().join("examples/media"))
        .arg("--web-root")
        .arg(repo().join("examples/web"))
        .env_remove("RUST_LOG")
        .kill_on_drop(true)
        .output();
    let output = within(60, "rtcgate record --duration 6", run)
        .await
        .expect("run rtcgate record");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(output.status.success(), "{}: {stderr}", output.status);
    // The session really happened: the test pattern was recorded.
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("testsrc → ") && l.contains("opus + vp8")),
        "no recording reported:\n{stdout}"
    );
    assert!(
        stderr.trim().is_empty(),
        "a clean session logged warnings or errors:\n{stderr}"
    );
    std::fs::remove_dir_all(out).unwrap();
}

/// Recorders attached to a call over and over while a member's track
/// arrives (the track can come between a recorder's subscribing to the
/// call's events and its listing of the tracks already there): each
/// recorder that has the track records it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorders_attached_while_a_track_arrives_record_it_once() {
    init_logging();
    require_interfaces();
    let server = start_server().await;
    let (sender, _s) = join(&server, "rec-attach", "sender").await;
    let (receiver, _r) = join(&server, "rec-attach", "receiver").await;
    let audio = LocalTrack::new(Codec::Opus, "mic", "sender").unwrap();
    sender.add_track(&audio).await.unwrap();
    let out = out_dir("attach");
    let mut recorders = Vec::new();
    // Attach back to back until the track is there, and a few more.
    let feeder = spawn_sender(audio, 150);
    let mut after = 0;
    within(30, "the track to arrive", async {
        while after < 20 {
            let folder = out.join(recorders.len().to_string());
            recorders.push(
                Recorder::attach(&receiver, RecorderOptions::new(folder))
                    .await
                    .unwrap(),
            );
            if !receiver.remote_tracks().await.is_empty() {
                after += 1;
            }
        }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let attached = recorders.len();
    let mut recorded = 0;
    for (recorder, _events) in recorders {
        for summary in recorder.stop().await {
            let ids: Vec<&str> = summary.tracks.iter().map(|t| t.track_id.as_str()).collect();
            assert_eq!(ids, ["mic"], "one recorder's tracks");
            recorded += 1;
        }
    }
    eprintln!("{attached} recorders attached, {recorded} recorded the track");
    assert!(recorded >= 20);
    feeder.abort();
    sender.leave().await.unwrap();
    receiver.leave().await.unwrap();
    server.shutdown().await;
    std::fs::remove_dir_all(out).unwrap();
}
