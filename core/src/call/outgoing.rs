//! [`OutgoingTrack`]: what a call sends to its members, whatever feeds it —
//! encoded samples ([`LocalTrack`]) or forwarded RTP (`crate::forward`).
//! A call adds it to every member's connection (one [`BindingTrack`] each),
//! learns its payload type after each negotiation, and tells it when a
//! connection is up.

use std::sync::Arc;

use webrtc::rtp_transceiver::RtpSender;

use super::stream_feedback::FeedbackRegistry;
use crate::codec::Codec;
use crate::media::H264Profile;
use crate::media::LocalTrack;
use crate::media::binding_track::BindingTrack;
use crate::signalling::MemberId;

/// A track a call sends to every member (see the module documentation).
#[async_trait::async_trait]
pub(crate) trait OutgoingTrack: Send + Sync {
    /// Track id (the `msid` track id members see).
    fn id(&self) -> &str;
    /// Codec of the track.
    fn codec(&self) -> Codec;
    /// The H.264 profile it announces, for H.264.
    fn h264_profile(&self) -> Option<H264Profile>;
    /// Whether `other` is the same track.
    fn same_as(&self, other: &dyn OutgoingTrack) -> bool {
        self.identity() == other.identity()
    }
    /// An address that identifies the track (its shared state).
    fn identity(&self) -> usize;
    /// The per-connection track object, with its SSRC.
    fn make_binding_track(&self) -> (Arc<BindingTrack>, u32);
    /// Records that the track was added to `member`'s connection, whose
    /// forwarded streams' RTCP `feedback` handles.
    fn bind(
        &self,
        member: &MemberId,
        rtp: Arc<BindingTrack>,
        sender: Arc<dyn RtpSender>,
        ssrc: u32,
        feedback: &Arc<FeedbackRegistry>,
    );
    /// Forgets `member`'s connection; returns its sender so it can be removed.
    fn unbind(&self, member: &MemberId) -> Option<Arc<dyn RtpSender>>;
    /// Re-reads the payload type negotiated with `member`; returns why the
    /// track cannot be sent to it, if so.
    async fn refresh_payload_type(&self, member: &MemberId) -> Option<String>;
    /// Whether `member`'s transport is up.
    fn set_connected(&self, member: &MemberId, connected: bool);
}

/// A call's handle on one of its outgoing tracks.
pub(crate) type Outgoing = Arc<dyn OutgoingTrack>;

#[async_trait::async_trait]
impl OutgoingTrack for LocalTrack {
    fn id(&self) -> &str {
        LocalTrack::id(self)
    }
    fn codec(&self) -> Codec {
        LocalTrack::codec(self)
    }
    fn h264_profile(&self) -> Option<H264Profile> {
        LocalTrack::h264_profile(self)
    }
    fn identity(&self) -> usize {
        self.identity()
    }
    fn make_binding_track(&self) -> (Arc<BindingTrack>, u32) {
        LocalTrack::make_binding_track(self)
    }
    fn bind(
        &self,
        member: &MemberId,
        rtp: Arc<BindingTrack>,
        sender: Arc<dyn RtpSender>,
        ssrc: u32,
        _feedback: &Arc<FeedbackRegistry>,
    ) {
        LocalTrack::bind(self, member, rtp, sender, ssrc)
    }
    fn unbind(&self, member: &MemberId) -> Option<Arc<dyn RtpSender>> {
        LocalTrack::unbind(self, member)
    }
    async fn refresh_payload_type(&self, member: &MemberId) -> Option<String> {
        LocalTrack::refresh_payload_type(self, member).await
    }
    fn set_connected(&self, member: &MemberId, connected: bool) {
        LocalTrack::set_connected(self, member, connected)
    }
}
