//! [`RemoteTrack`]: encoded frames received from another member.

use std::sync::{Arc, Mutex, PoisonError};

use rtcgate_core::EncodedFrame;
use rtcgate_core::media::FrameSubscription;

use super::{Codec, Result, Subscription, notify, on_runtime, subscribe};

/// One encoded frame as received (same bitstream formats as
/// `LocalTrack.pushSample`).
#[derive(Debug, Clone, uniffi::Record)]
pub struct Frame {
    /// The codec.
    pub codec: Codec,
    /// The encoded frame.
    pub data: Vec<u8>,
    /// Presentation time in microseconds since the track's first frame.
    pub timestamp_us: u64,
    /// The RTP timestamp (codec clock).
    pub rtp_timestamp: u32,
    /// Decodable on its own (always true for audio).
    pub keyframe: bool,
    /// Frames before this one were lost (for video, request a keyframe).
    pub discontinuity: bool,
}

impl From<EncodedFrame> for Frame {
    fn from(frame: EncodedFrame) -> Self {
        Frame {
            codec: frame.codec.into(),
            data: frame.data.to_vec(),
            timestamp_us: u64::try_from(frame.timestamp.as_micros()).unwrap_or(u64::MAX),
            rtp_timestamp: frame.rtp_timestamp,
            keyframe: frame.keyframe,
            discontinuity: frame.discontinuity,
        }
    }
}

/// Frames a receiver could not use, by cause.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, uniffi::Record)]
pub struct FrameDrops {
    /// A packet of the frame could not be depacketized.
    pub depacketization: u64,
    /// Packets of the frame were lost.
    pub incomplete: u64,
    /// Video frames that could not be decoded until the next keyframe.
    pub waiting_for_keyframe: u64,
}

impl From<rtcgate_core::media::FrameDrops> for FrameDrops {
    fn from(d: rtcgate_core::media::FrameDrops) -> Self {
        FrameDrops {
            depacketization: d.depacketization,
            incomplete: d.incomplete,
            waiting_for_keyframe: d.waiting_for_keyframe,
        }
    }
}

/// A track whose packets keep arriving but that gave no usable frame for
/// about a second (a video track asks for a keyframe as well).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct StallReport {
    /// The member sending the track.
    pub member_id: String,
    /// The track.
    pub track_id: String,
    /// Its codec.
    pub codec: Codec,
    /// Time without a usable frame so far, ms.
    pub duration_ms: u64,
    /// Packets that arrived meanwhile.
    pub packets: u64,
    /// Frames the track left out since it started, by cause.
    pub drops: FrameDrops,
    /// The latest depacketization error, if any.
    pub last_error: Option<String>,
    /// The whole report as one line of text.
    pub message: String,
}

impl From<rtcgate_core::media::StallReport> for StallReport {
    fn from(r: rtcgate_core::media::StallReport) -> Self {
        StallReport {
            message: r.to_string(),
            member_id: r.member,
            track_id: r.track_id,
            codec: r.codec.into(),
            duration_ms: u64::try_from(r.duration.as_millis()).unwrap_or(u64::MAX),
            packets: r.packets,
            drops: r.drops.into(),
            last_error: r.last_error,
        }
    }
}

/// Receives a remote track's frames, in order, on a library thread
/// (`rtcgate-frames`).
#[uniffi::export(with_foreign)]
pub trait FrameListener: Send + Sync {
    /// One frame.
    fn on_frame(&self, frame: Frame);
    /// The track ended: no frame follows.
    fn on_ended(&self);
}

/// A track another member sends (from `CallEvent.TrackAdded`). Read its
/// frames with [`set_listener`](Self::set_listener) or
/// [`next_frame`](Self::next_frame); each reader gets every frame.
#[derive(uniffi::Object)]
pub struct RemoteTrack {
    track: rtcgate_core::RemoteTrack,
    listener: Mutex<Option<Subscription>>,
    reader: tokio::sync::Mutex<Option<FrameSubscription>>,
}

impl RemoteTrack {
    pub(crate) fn new(track: rtcgate_core::RemoteTrack) -> Arc<Self> {
        Arc::new(RemoteTrack {
            track,
            listener: Mutex::new(None),
            reader: tokio::sync::Mutex::new(None),
        })
    }
}

#[uniffi::export]
impl RemoteTrack {
    /// The track id (the sender's `msid` track id).
    pub fn id(&self) -> String {
        self.track.id().to_owned()
    }

    /// The sender's stream id.
    pub fn stream_id(&self) -> String {
        self.track.stream_id().to_owned()
    }

    /// The member sending it.
    pub fn member_id(&self) -> String {
        self.track.member().clone()
    }

    /// The codec.
    pub fn codec(&self) -> Codec {
        self.track.codec().into()
    }

    /// Delivers every frame from now on (for video, starting with the
    /// frames since the latest keyframe) to `listener`, replacing a previous
    /// listener; `None` stops delivery.
    pub fn set_listener(&self, listener: Option<Arc<dyn FrameListener>>) -> Result<()> {
        let subscription = match listener {
            Some(listener) => {
                let mut frames = self.track.subscribe();
                Some(subscribe("rtcgate-frames", async move {
                    while let Some(frame) = frames.recv().await {
                        let frame = Frame::from(frame);
                        notify("FrameListener", || listener.on_frame(frame));
                    }
                    notify("FrameListener", || listener.on_ended());
                })?)
            }
            None => None,
        };
        *self.listener.lock().unwrap_or_else(PoisonError::into_inner) = subscription;
        Ok(())
    }

    /// The next frame, or `None` once the track has ended. The first call
    /// starts a reader of its own (for video, from the latest keyframe).
    pub async fn next_frame(&self) -> Result<Option<Frame>> {
        let mut reader = self.reader.lock().await;
        let mut frames = reader.take().unwrap_or_else(|| self.track.subscribe());
        let (frame, frames) = on_runtime(async move {
            let frame = frames.recv().await;
            (frame, frames)
        })
        .await?;
        *reader = Some(frames);
        Ok(frame.map(Frame::from))
    }

    /// An id for `io.rtcgate.FramePipe` (the JNI fast path) that pulls this
    /// track's frames (a reader of its own, from the latest keyframe on);
    /// release it with `FramePipe.close()`.
    pub fn pipe_id(&self) -> u64 {
        crate::jni_pipe::pull_pipe(&self.track)
    }

    /// Frames left out so far, by cause.
    pub fn frame_drops(&self) -> FrameDrops {
        self.track.frame_drops().into()
    }

    /// Asks the sender for a keyframe (RTCP PLI). Video only.
    pub async fn request_keyframe(&self) -> Result<()> {
        let track = self.track.clone();
        Ok(on_runtime(async move { track.request_keyframe().await }).await??)
    }
}
