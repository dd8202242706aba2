//! The input both recorders get: N rtcgate [`Call`]s in one room, each
//! sending one synthetic video track (~2.5 Mbit/s, 30 fps, a keyframe every
//! 2 s and on every keyframe request: VP8, or VP9/AV1 with three spatial
//! layers, see `layered.rs`) and one synthetic Opus track (~48 kbit/s,
//! 20 ms packets) in real time.
//!
//! The senders must reach the recorder only: in a mesh every sender would also
//! stream to every other sender (N² streams), so each one joins through a
//! [`RecorderOnly`] signaller that hides the other senders from it.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use rtcgate_core::signalling::{
    JoinRequest, Joined, MemberId, MemberInfo, NegotiationPolicy, PeerMessage, SignalEvent,
    Signaller, WsSignaller,
};
use rtcgate_core::{Call, CallEvent, CallEvents, CallOptions, Codec, LocalTrack, MediaSample};
use tokio::sync::mpsc;

use crate::BenchResult;
use crate::layered::{Av1Svc, VideoKind, Vp9Svc};

/// Where the video frames come from.
pub enum VideoSource {
    Vp8,
    Vp9Svc(Vp9Svc),
    Av1Svc(Av1Svc),
}

impl VideoSource {
    pub fn new(kind: VideoKind) -> VideoSource {
        match kind {
            VideoKind::Vp8 => VideoSource::Vp8,
            VideoKind::Vp9Svc => VideoSource::Vp9Svc(Vp9Svc::load()),
            VideoKind::Av1Svc => VideoSource::Av1Svc(Av1Svc::load()),
        }
    }

    fn codec(&self) -> Codec {
        match self {
            VideoSource::Vp8 => Codec::Vp8,
            VideoSource::Vp9Svc(_) => Codec::Vp9,
            VideoSource::Av1Svc(_) => Codec::Av1,
        }
    }

    fn frame(&self, index: u32, keyframe: bool, len: usize) -> Bytes {
        match self {
            VideoSource::Vp8 => vp8_frame(index, keyframe, len),
            VideoSource::Vp9Svc(source) => source.picture(index, keyframe, len),
            VideoSource::Av1Svc(source) => source.unit(index, keyframe, len),
        }
    }
}

/// Video: 2.5 Mbit/s at 30 fps.
pub const VIDEO_BITRATE: u64 = 2_500_000;
/// Audio: 48 kbit/s in 20 ms packets.
pub const AUDIO_BITRATE: u64 = 48_000;
const FPS: u64 = 30;
/// A keyframe every 2 s.
const GOP: u32 = 60;
/// A keyframe is this many times an average frame.
const KEYFRAME_FACTOR: u64 = 4;
/// Picture size written into the VP8 keyframe header.
const WIDTH: u16 = 1280;
const HEIGHT: u16 = 720;

/// A [`WsSignaller`] that shows its call only the members named `peer_name`
/// (the recorder): welcome lists, joins, leaves and relayed messages of
/// everybody else are dropped.
pub struct RecorderOnly {
    inner: WsSignaller,
    peer_name: String,
}

impl RecorderOnly {
    pub fn new(url: &str, peer_name: &str) -> Self {
        Self {
            inner: WsSignaller::new(url),
            peer_name: peer_name.to_owned(),
        }
    }
}

#[async_trait]
impl Signaller for RecorderOnly {
    async fn join(&self, request: JoinRequest) -> rtcgate_core::Result<Joined> {
        let mut joined = self.inner.join(request).await?;
        let allowed: Arc<Mutex<HashSet<MemberId>>> = Arc::default();
        joined.members.retain(|m| m.name == self.peer_name);
        allowed
            .lock()
            .unwrap()
            .extend(joined.members.iter().map(|m| m.id.clone()));
        let (tx, rx) = mpsc::channel(256);
        let mut events = std::mem::replace(&mut joined.events, rx);
        let peer_name = self.peer_name.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                let pass = match &event {
                    SignalEvent::MemberJoined(m) if m.name == peer_name => {
                        allowed.lock().unwrap().insert(m.id.clone());
                        true
                    }
                    SignalEvent::MemberJoined(_) => false,
                    SignalEvent::MemberLeft(id) => allowed.lock().unwrap().remove(id),
                    SignalEvent::Peer { from, .. } => allowed.lock().unwrap().contains(from),
                    _ => true,
                };
                if pass && tx.send(event).await.is_err() {
                    break;
                }
            }
        });
        Ok(joined)
    }

    async fn send(&self, to: &MemberId, message: PeerMessage) -> rtcgate_core::Result<()> {
        self.inner.send(to, message).await
    }

    async fn leave(&self) -> rtcgate_core::Result<()> {
        self.inner.leave().await
    }

    fn negotiation(&self, self_id: &MemberId, remote: &MemberInfo) -> NegotiationPolicy {
        self.inner.negotiation(self_id, remote)
    }
}

/// One sending participant.
pub struct Sender {
    pub call: Call,
    _events: CallEvents,
    video: LocalTrack,
    audio: LocalTrack,
    source: Arc<VideoSource>,
}

/// A synthetic VP8 frame of `len` bytes: a frame tag with the keyframe bit
/// (bit 0 = 0 for a keyframe) and, on keyframes, the start code and picture
/// size the depayloaders and the recorder read. Nobody decodes it.
pub fn vp8_frame(index: u32, keyframe: bool, len: usize) -> Bytes {
    let mut data = vec![0u8; len.max(10)];
    let tag: u32 = u32::from(!keyframe) | (1 << 4) | (1000 << 5);
    data[..3].copy_from_slice(&tag.to_le_bytes()[..3]);
    if keyframe {
        data[3..6].copy_from_slice(&[0x9d, 0x01, 0x2a]);
        data[6..8].copy_from_slice(&WIDTH.to_le_bytes());
        data[8..10].copy_from_slice(&HEIGHT.to_le_bytes());
    }
    fill(&mut data[10..], index);
    Bytes::from(data)
}

/// A synthetic Opus packet: TOC 0xF8 (one 20 ms CELT frame), then filler.
pub fn opus_frame(index: u32) -> Bytes {
    let len = (AUDIO_BITRATE / 8 / 50) as usize;
    let mut data = vec![0u8; len];
    data[0] = 0xF8;
    fill(&mut data[1..], index);
    Bytes::from(data)
}

fn fill(data: &mut [u8], seed: u32) {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    for byte in data {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *byte = x as u8;
    }
}

/// Size of video frame `index`: keyframes `KEYFRAME_FACTOR` times the
/// average, the other frames ±25 % around what keeps the average at
/// 2.5 Mbit/s.
fn video_len(index: u32, keyframe: bool) -> usize {
    let average = VIDEO_BITRATE / 8 / FPS;
    if keyframe {
        return (average * KEYFRAME_FACTOR) as usize;
    }
    let delta = (average * u64::from(GOP) - average * KEYFRAME_FACTOR) / u64::from(GOP - 1);
    let wobble = (index.wrapping_mul(2_654_435_761) >> 16) % 51; // 0..=50
    (delta * (75 + u64::from(wobble)) / 100) as usize
}

impl Sender {
    /// Joins `room` as `name`, with a VP8 and an Opus track, and waits until
    /// both are being sent to the member named `recorder`.
    pub async fn connect(
        url: &str,
        room: &str,
        name: &str,
        recorder: &str,
        timeout: Duration,
        source: Arc<VideoSource>,
    ) -> BenchResult<Sender> {
        let signaller = Arc::new(RecorderOnly::new(url, recorder));
        let request = JoinRequest::new(room, name);
        let (call, mut events) = Call::join(signaller, request, CallOptions::default()).await?;
        let video = LocalTrack::new(source.codec(), "cam", name)?;
        let audio = LocalTrack::new(Codec::Opus, "mic", name)?;
        call.add_track(&video).await?;
        call.add_track(&audio).await?;
        let deadline = Instant::now() + timeout;
        let recorder_id = loop {
            if let Some(m) = call
                .members()
                .await
                .into_iter()
                .find(|m| m.name == recorder)
            {
                break m.id;
            }
            if Instant::now() > deadline {
                return Err(format!("{name}: no recorder in the room").into());
            }
            // Drain events so the queue does not grow; errors are worth seeing.
            while let Some(event) = events.try_recv() {
                if let CallEvent::Error { message, .. } = event {
                    eprintln!("{name}: {message}");
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        while !(video.is_sending_to(&recorder_id) && audio.is_sending_to(&recorder_id)) {
            if Instant::now() > deadline {
                return Err(format!("{name}: tracks not flowing to the recorder").into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Sender {
            call,
            _events: events,
            video,
            audio,
            source,
        })
    }

    /// Bytes handed to the two tracks so far.
    pub fn bytes_sent(&self) -> u64 {
        self.video.written().1 + self.audio.written().1
    }

    /// Sends `duration` of audio and video at real-time pace, starting now.
    pub fn spawn_media(&self, duration: Duration) -> tokio::task::JoinHandle<()> {
        let video = self.video.clone();
        let audio = self.audio.clone();
        let source = self.source.clone();
        let video_frames = (duration.as_secs_f64() * FPS as f64).round() as u32;
        let audio_frames = (duration.as_secs_f64() * 50.0).round() as u32;
        tokio::spawn(async move {
            let start = tokio::time::Instant::now();
            let video_task = async {
                let mut requests = video.keyframe_requests();
                let mut since_key = 0u32;
                for index in 0..video_frames {
                    let at = Duration::from_nanos(u64::from(index) * 1_000_000_000 / FPS);
                    tokio::time::sleep_until(start + at).await;
                    // Keyframes every GOP frames, and on request (PLI), at most
                    // every 10 frames.
                    let pending = video.keyframe_requests();
                    let keyframe = index == 0
                        || since_key + 1 >= GOP
                        || (pending > requests && since_key >= 10);
                    if keyframe {
                        requests = pending;
                        since_key = 0;
                    } else {
                        since_key += 1;
                    }
                    let data = source.frame(index, keyframe, video_len(index, keyframe));
                    let _ = video.write_sample(&MediaSample::new(data, at)).await;
                }
            };
            let audio_task = async {
                for index in 0..audio_frames {
                    let at = Duration::from_millis(20 * u64::from(index));
                    tokio::time::sleep_until(start + at).await;
                    let sample = MediaSample::new(opus_frame(index), at);
                    let _ = audio.write_sample(&sample).await;
                }
            };
            tokio::join!(video_task, audio_task);
        })
    }

    pub async fn leave(self) {
        let _ = self.call.leave().await;
    }
}
