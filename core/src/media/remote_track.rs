//! [`RemoteTrack`]: a track another member sends, delivered as encoded frames.

use std::sync::{Arc, Mutex};

use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use tokio::sync::mpsc;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use super::frame::EncodedFrame;
use super::frame_assembler::{AssemblerStats, FrameAssembler};
use super::local_track::lock;
use crate::codec::{Codec, MediaKind};
use crate::error::{Error, Result};
use crate::signalling::MemberId;

/// Frames buffered for a reader before the oldest are dropped.
const FRAME_QUEUE: usize = 256;

/// A track received from another member: encoded frames reassembled from RTP.
///
/// Cheap to clone. Frames are read with [`recv`](Self::recv); a reader that
/// falls more than a few seconds behind loses frames (the next one it gets is
/// marked as a discontinuity).
#[derive(Clone)]
pub struct RemoteTrack {
    inner: Arc<Inner>,
}

struct Inner {
    id: String,
    stream_id: String,
    member: MemberId,
    codec: Codec,
    ssrc: u32,
    track: Arc<dyn TrackRemote>,
    frames: tokio::sync::Mutex<mpsc::Receiver<EncodedFrame>>,
    stats: Mutex<AssemblerStats>,
    stop: tokio::sync::Notify,
}

impl std::fmt::Debug for RemoteTrack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteTrack")
            .field("id", &self.inner.id)
            .field("member", &self.inner.member)
            .field("codec", &self.inner.codec)
            .finish()
    }
}

impl RemoteTrack {
    /// Wraps a webrtc remote track and starts reassembling its frames.
    /// Returns `None` when the track's codec is not one rtcgate carries.
    pub(crate) async fn start(
        member: MemberId,
        track: Arc<dyn TrackRemote>,
        on_end: impl FnOnce(RemoteTrack) + Send + 'static,
    ) -> std::result::Result<RemoteTrack, String> {
        let ssrc = track.ssrcs().await.first().copied().unwrap_or_default();
        let mime = track
            .codec(ssrc)
            .await
            .map(|c| c.mime_type)
            .unwrap_or_default();
        let codec =
            Codec::from_mime_type(&mime).ok_or_else(|| format!("unsupported codec {mime:?}"))?;
        let (tx, rx) = mpsc::channel(FRAME_QUEUE);
        let remote = RemoteTrack {
            inner: Arc::new(Inner {
                id: track.track_id().await,
                stream_id: track.stream_id().await,
                member,
                codec,
                ssrc,
                track,
                frames: tokio::sync::Mutex::new(rx),
                stats: Mutex::new(AssemblerStats::default()),
                stop: tokio::sync::Notify::new(),
            }),
        };
        let reader = remote.clone();
        tokio::spawn(async move {
            reader.pump(tx).await;
            on_end(reader);
        });
        Ok(remote)
    }

    async fn pump(&self, tx: mpsc::Sender<EncodedFrame>) {
        let mut assembler = FrameAssembler::new(self.inner.codec, FrameAssembler::DEFAULT_WINDOW);
        let mut dropped = false;
        loop {
            let event = tokio::select! {
                event = self.inner.track.poll() => event,
                _ = self.inner.stop.notified() => None,
            };
            let Some(event) = event else { break };
            match event {
                TrackRemoteEvent::OnRtpPacket(packet) => {
                    assembler.push(packet);
                    while let Some(mut frame) = assembler.poll_frame() {
                        frame.discontinuity |= std::mem::take(&mut dropped);
                        if let Err(mpsc::error::TrySendError::Full(_)) = tx.try_send(frame) {
                            dropped = true;
                        }
                    }
                    *lock(&self.inner.stats) = assembler.stats();
                }
                TrackRemoteEvent::OnEnded => break,
                _ => {}
            }
        }
        tracing::debug!(track = %self.inner.id, member = %self.inner.member, "remote track ended");
    }

    /// Ends the track: the reader gets the frames already queued, then `None`.
    pub(crate) fn stop(&self) {
        self.inner.stop.notify_one();
    }

    /// Track id (from the sender's `msid`).
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// Stream id (from the sender's `msid`).
    pub fn stream_id(&self) -> &str {
        &self.inner.stream_id
    }

    /// The member sending this track.
    pub fn member(&self) -> &MemberId {
        &self.inner.member
    }

    /// Codec of the frames.
    pub fn codec(&self) -> Codec {
        self.inner.codec
    }

    /// Audio or video.
    pub fn kind(&self) -> MediaKind {
        self.inner.codec.kind()
    }

    /// SSRC of the RTP stream.
    pub fn ssrc(&self) -> u32 {
        self.inner.ssrc
    }

    /// Reassembly counters (packets, losses, duplicates, frames, keyframes).
    pub fn stats(&self) -> AssemblerStats {
        *lock(&self.inner.stats)
    }

    /// The next frame; `None` once the track has ended and every frame was read.
    pub async fn recv(&self) -> Option<EncodedFrame> {
        self.inner.frames.lock().await.recv().await
    }

    /// Asks the sender for a keyframe (RTCP PLI). Video only.
    pub async fn request_keyframe(&self) -> Result<()> {
        if self.kind() != MediaKind::Video {
            return Err(Error::InvalidArgument(
                "keyframes exist only for video tracks".into(),
            ));
        }
        let pli = PictureLossIndication {
            sender_ssrc: 0,
            media_ssrc: self.inner.ssrc,
        };
        self.inner
            .track
            .write_rtcp(vec![Box::new(pli)])
            .await
            .map_err(Error::WebRtc)
    }
}
