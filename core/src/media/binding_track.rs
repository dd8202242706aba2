//! [`BindingTrack`]: the webrtc `TrackLocal` an outgoing track (a
//! [`LocalTrack`](super::LocalTrack), or a forwarded track of
//! `crate::forward`) adds to one peer connection. It writes RTP through a
//! `TrackLocalStaticRTP` but takes the connection's RTCP events for itself,
//! so that keyframe requests reach the track; and it keeps the connection
//! context so that a forwarded packet can be queued without waiting
//! ([`try_write_rtp`](BindingTrack::try_write_rtp)).
//!
//! (Polling `TrackLocalStaticRTP` directly would hold its event lock while
//! waiting, which blocks the driver's `unbind` when the track is removed.)

use std::sync::{Arc, Mutex};

use rtc::media_stream::{
    MediaStreamId, MediaStreamTrack, MediaStreamTrackId, MediaStreamTrackState,
    MediaTrackCapabilities, MediaTrackConstraints, MediaTrackSettings,
};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::{RtpStreamId, SSRC};
use rtc::{rtcp, rtp};
use webrtc::error::Result;
use webrtc::media_stream::Track;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalContext, TrackLocalEvent};
use webrtc::runtime::Receiver;

/// Called with the RTCP the remote sends about the track (what
/// `call::rtcp_forwarder` hands the application: PLI, FIR).
pub(crate) type RtcpFn = Arc<dyn Fn(&[Box<dyn rtcp::Packet>]) + Send + Sync>;

/// The track object of one outgoing stream with a fresh random SSRC: what
/// every [`OutgoingTrack`](crate::call::outgoing::OutgoingTrack) hands a
/// connection (wrapped in a [`BindingTrack`]).
pub(crate) fn single_stream_track(
    stream_id: &str,
    id: &str,
    kind: RtpCodecKind,
    format: &RTCRtpCodec,
) -> (MediaStreamTrack, SSRC) {
    let ssrc: SSRC = rand::random();
    let track = MediaStreamTrack::new(
        stream_id.to_owned(),
        id.to_owned(),
        id.to_owned(),
        kind,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec: format.clone(),
            ..Default::default()
        }],
    );
    (track, ssrc)
}

/// Whether `packets` ask for a keyframe (PLI or FIR).
pub(crate) fn asks_keyframe(packets: &[Box<dyn rtcp::Packet>]) -> bool {
    packets
        .iter()
        .any(|p| p.as_any().is::<PictureLossIndication>() || p.as_any().is::<FullIntraRequest>())
}

/// A `TrackLocalStaticRTP` whose RTCP events are read by rtcgate.
pub(crate) struct BindingTrack {
    rtp: TrackLocalStaticRTP,
    on_rtcp: RtcpFn,
    context: Mutex<Option<TrackLocalContext>>,
}

impl BindingTrack {
    pub(crate) fn new(track: MediaStreamTrack, on_rtcp: RtcpFn) -> Self {
        Self {
            rtp: TrackLocalStaticRTP::new(track),
            on_rtcp,
            context: Mutex::new(None),
        }
    }

    /// Queues `packet` to the connection without waiting: `Ok(false)` when
    /// its queue is full (the packet is dropped), an error when the track
    /// is not bound (not negotiated yet, or removed) or the connection is gone.
    pub(crate) fn try_write_rtp(&self, packet: rtp::Packet) -> Result<bool> {
        match &*super::local_track::lock(&self.context) {
            Some(context) => context.try_write_rtp(packet),
            None => Err(webrtc::error::Error::ErrBindFailed),
        }
    }
}

#[async_trait::async_trait]
impl Track for BindingTrack {
    async fn stream_id(&self) -> MediaStreamId {
        self.rtp.stream_id().await
    }
    async fn track_id(&self) -> MediaStreamTrackId {
        self.rtp.track_id().await
    }
    async fn label(&self) -> String {
        self.rtp.label().await
    }
    async fn kind(&self) -> RtpCodecKind {
        self.rtp.kind().await
    }
    async fn rid(&self, ssrc: SSRC) -> Option<RtpStreamId> {
        self.rtp.rid(ssrc).await
    }
    async fn codec(&self, ssrc: SSRC) -> Option<RTCRtpCodec> {
        self.rtp.codec(ssrc).await
    }
    async fn ssrcs(&self) -> Vec<SSRC> {
        self.rtp.ssrcs().await
    }
    async fn enabled(&self) -> bool {
        self.rtp.enabled().await
    }
    async fn set_enabled(&self, enabled: bool) {
        self.rtp.set_enabled(enabled).await
    }
    async fn muted(&self) -> bool {
        self.rtp.muted().await
    }
    async fn set_muted(&self, muted: bool) {
        self.rtp.set_muted(muted).await
    }
    async fn ready_state(&self) -> MediaStreamTrackState {
        self.rtp.ready_state().await
    }
    async fn stop(&self) {
        self.rtp.stop().await
    }
    async fn get_capabilities(&self) -> MediaTrackCapabilities {
        self.rtp.get_capabilities().await
    }
    async fn get_constraints(&self) -> MediaTrackConstraints {
        self.rtp.get_constraints().await
    }
    async fn get_settings(&self) -> MediaTrackSettings {
        self.rtp.get_settings().await
    }
    async fn apply_constraints(&self, constraints: Option<MediaTrackConstraints>) {
        self.rtp.apply_constraints(constraints).await
    }
    async fn codings(&self) -> Vec<RTCRtpEncodingParameters> {
        self.rtp.codings().await
    }
    async fn add_coding(&self, coding: RTCRtpEncodingParameters) {
        self.rtp.add_coding(coding).await
    }
}

#[async_trait::async_trait]
impl TrackLocal for BindingTrack {
    async fn track(&self) -> MediaStreamTrack {
        self.rtp.track().await
    }

    async fn bind(&self, ctx: TrackLocalContext, mut evt_rx: Receiver<TrackLocalEvent>) {
        *super::local_track::lock(&self.context) = Some(ctx.clone());
        // The inner track only needs the context to write; its own event queue stays empty.
        let (_unused_tx, unused_rx) = webrtc::runtime::channel(1);
        self.rtp.bind(ctx, unused_rx).await;
        let on_rtcp = self.on_rtcp.clone();
        let track_id = self.rtp.track_id().await;
        tracing::debug!(track = %track_id, "local track bound");
        tokio::spawn(async move {
            while let Some(TrackLocalEvent::OnRtcpPacket(packets)) = evt_rx.recv().await {
                tracing::trace!(?packets, "rtcp for local track");
                on_rtcp(&packets);
            }
        });
    }

    async fn unbind(&self) {
        *super::local_track::lock(&self.context) = None;
        self.rtp.unbind().await
    }

    async fn write_rtp(&self, packet: rtp::Packet) -> Result<()> {
        self.rtp.write_rtp(packet).await
    }

    async fn write_rtcp(&self, packets: Vec<Box<dyn rtcp::Packet>>) -> Result<()> {
        self.rtp.write_rtcp(packets).await
    }

    async fn poll(&self) -> Option<TrackLocalEvent> {
        None
    }
}
