//! [`LocalTrack`]: encoded samples from the application's encoder, sent to
//! every member of the calls it is added to.

use std::sync::Arc;
use std::time::Duration;

use rtcgate_core::MediaSample;

use super::{Codec, Result, block_on, on_runtime};

/// A track of encoded media (Opus packets, VP8/VP9 frames, H.264 Annex-B
/// access units, AV1 temporal units). Create it, add it to a call with
/// `Call.addTrack`, then push samples.
#[derive(uniffi::Object)]
pub struct LocalTrack {
    track: rtcgate_core::LocalTrack,
}

#[uniffi::export]
impl LocalTrack {
    /// A new track of `codec`. `id` and `stream_id` are what other members
    /// see (`msid`); tracks with one `stream_id` belong together.
    #[uniffi::constructor]
    pub fn new(codec: Codec, id: String, stream_id: String) -> Result<Arc<Self>> {
        if id.is_empty() {
            return Err(super::invalid("track id must not be empty"));
        }
        Ok(Arc::new(LocalTrack {
            track: rtcgate_core::LocalTrack::new(codec.into(), id, stream_id)?,
        }))
    }

    /// A new H.264 track announcing `profile_level_id` (six hex digits:
    /// `42e01f` constrained baseline, the default of `new`; `4d001f` main;
    /// `64001f` high; …): what the encoder makes. A member whose peer cannot
    /// decode it does not get the track (`CallEvent.Error` names what it decodes).
    #[uniffi::constructor]
    pub fn new_h264(profile_level_id: String, id: String, stream_id: String) -> Result<Arc<Self>> {
        if id.is_empty() {
            return Err(super::invalid("track id must not be empty"));
        }
        let profile: rtcgate_core::media::H264Profile = profile_level_id.parse()?;
        Ok(Arc::new(LocalTrack {
            track: rtcgate_core::LocalTrack::h264(profile, id, stream_id)?,
        }))
    }

    /// The H.264 `profile-level-id` the track announces (`None` for other codecs).
    pub fn h264_profile_level_id(&self) -> Option<String> {
        self.track.h264_profile().map(|p| p.profile_level_id())
    }

    /// The track id.
    pub fn id(&self) -> String {
        self.track.id().to_owned()
    }

    /// The codec.
    pub fn codec(&self) -> Codec {
        self.track.codec().into()
    }

    /// Sends one encoded sample with its presentation time (microseconds,
    /// from any origin; it becomes the RTP timestamp). Keyframes are
    /// recognised from the bitstream. Fails only for an unusable sample
    /// (empty data).
    pub async fn push_sample(&self, data: Vec<u8>, timestamp_us: u64) -> Result<()> {
        let track = self.track.clone();
        let sample = MediaSample::new(data, Duration::from_micros(timestamp_us));
        Ok(on_runtime(async move { track.write_sample(&sample).await }).await??)
    }

    /// [`push_sample`](Self::push_sample) for threads that are not in a
    /// coroutine (an encoder's output callback): blocks until the sample is
    /// handed to the network.
    pub fn push_sample_blocking(&self, data: Vec<u8>, timestamp_us: u64) -> Result<()> {
        let sample = MediaSample::new(data, Duration::from_micros(timestamp_us));
        Ok(block_on(self.track.write_sample(&sample))??)
    }

    /// Samples and bytes pushed so far.
    pub fn samples_written(&self) -> u64 {
        self.track.written().0
    }

    /// Keyframe requests (RTCP PLI/FIR) received so far from any member.
    pub fn keyframe_requests(&self) -> u64 {
        self.track.keyframe_requests()
    }

    /// An id for `io.rtcgate.FramePipe` (the JNI fast path) that pushes
    /// samples into this track; release it with `FramePipe.close()`.
    pub fn pipe_id(&self) -> u64 {
        crate::jni_pipe::push_pipe(self.track.clone())
    }

    /// Waits for the next keyframe request from any member: then make the
    /// encoder produce a keyframe.
    pub async fn keyframe_requested(&self) -> Result<()> {
        let track = self.track.clone();
        on_runtime(async move { track.keyframe_requested().await }).await
    }
}

impl LocalTrack {
    pub(crate) fn core(&self) -> &rtcgate_core::LocalTrack {
        &self.track
    }
}
