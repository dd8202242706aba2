//! [`ForwardedTrack`]: a remote track of one call, sent by another call as
//! one of its own outgoing tracks — to each member of that call through a
//! [`Leg`] of its own.

use std::sync::{Arc, Mutex};

use rtc::rtp_transceiver::rtp_sender::RTCRtpCodec;
use webrtc::rtp_transceiver::RtpSender;

use super::ForwardOptions;
use super::extensions::ExtensionMap;
use super::layer_policy::LayerPreference;
use super::leg::{Leg, LegSetup};
use super::source::Source;
use super::stats::ForwardedTrackStats;
use crate::call::WeakCall;
use crate::call::codec_preferences::h264_codec;
use crate::call::outgoing::OutgoingTrack;
use crate::call::stream_feedback::FeedbackRegistry;
use crate::codec::Codec;
use crate::error::{Error, Result};
use crate::media::H264Profile;
use crate::media::RemoteTrack;
use crate::media::binding_track::{BindingTrack, single_stream_track};
use crate::media::local_track::{h264_payload_type_for, lock, negotiated_payload_type};
use crate::signalling::MemberId;

/// A remote track forwarded into another call, where it is one of that
/// call's outgoing tracks: every member of the call receives it (from the
/// call's own member id), each through its own leg with its own SSRC,
/// sequence numbers, payload type, layer choice and RTCP. Made by
/// [`Forwarder::forward`](super::Forwarder::forward). Cheap to clone.
///
/// It ends by itself when the remote track ends, or with [`stop`](Self::stop).
#[derive(Clone)]
pub struct ForwardedTrack {
    inner: Arc<Inner>,
}

struct Inner {
    id: String,
    stream_id: String,
    codec: Codec,
    format: RTCRtpCodec,
    h264_profile: Option<H264Profile>,
    source: Arc<Source>,
    call: WeakCall,
    options: ForwardOptions,
    legs: Mutex<Vec<Arc<Leg>>>,
    preferences: Mutex<Preferences>,
    stopped: std::sync::atomic::AtomicBool,
}

#[derive(Default)]
struct Preferences {
    default: LayerPreference,
    members: Vec<(MemberId, LayerPreference)>,
}

impl Preferences {
    fn of(&self, member: &MemberId) -> LayerPreference {
        self.members
            .iter()
            .find(|(m, _)| m == member)
            .map_or(self.default, |(_, p)| *p)
    }
}

impl std::fmt::Debug for ForwardedTrack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForwardedTrack")
            .field("id", &self.inner.id)
            .field("source", self.inner.source.track())
            .finish()
    }
}

impl ForwardedTrack {
    /// The outgoing track for `source` in `call`, with id `id`.
    pub(crate) fn new(
        source: Arc<Source>,
        call: WeakCall,
        id: String,
        options: ForwardOptions,
    ) -> ForwardedTrack {
        let track = source.track();
        let codec = track.codec();
        let h264_profile = (codec == Codec::H264).then(|| {
            fmtp_value(&track.format().sdp_fmtp_line, "profile-level-id")
                .and_then(|id| H264Profile::from_profile_level_id(&id))
                .unwrap_or(H264Profile::CONSTRAINED_BASELINE)
        });
        let format = match h264_profile {
            Some(profile) => h264_codec(profile),
            None => codec.rtp_codec(),
        };
        ForwardedTrack {
            inner: Arc::new(Inner {
                id,
                stream_id: track.stream_id().to_owned(),
                codec,
                format,
                h264_profile,
                preferences: Mutex::new(Preferences {
                    default: options.preference,
                    members: Vec::new(),
                }),
                source,
                call,
                options,
                legs: Mutex::new(Vec::new()),
                stopped: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    /// The track id members of the call see.
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The stream id members of the call see (the source's).
    pub fn stream_id(&self) -> &str {
        &self.inner.stream_id
    }

    /// Codec of the track.
    pub fn codec(&self) -> Codec {
        self.inner.codec
    }

    /// The remote track it forwards.
    pub fn source(&self) -> &RemoteTrack {
        self.inner.source.track()
    }

    /// The layers `member` wants (`None`: the default for every member
    /// without a preference of its own). Takes effect at once going down, at
    /// the next keyframe (asked for) going up or to another encoding.
    pub fn set_layer_preference(&self, member: Option<&MemberId>, preference: LayerPreference) {
        {
            let mut preferences = lock(&self.inner.preferences);
            match member {
                None => preferences.default = preference,
                Some(member) => {
                    preferences.members.retain(|(m, _)| m != member);
                    preferences.members.push((member.clone(), preference));
                }
            }
        }
        let preferences = lock(&self.inner.preferences);
        for leg in lock(&self.inner.legs).iter() {
            if member.is_none_or(|m| m == leg.member()) {
                leg.set_preference(preferences.of(leg.member()), &self.inner.source);
            }
        }
    }

    /// The members the track is sent to now.
    pub fn members(&self) -> Vec<MemberId> {
        lock(&self.inner.legs)
            .iter()
            .map(|l| l.member().clone())
            .collect()
    }

    /// A snapshot of the track's source and legs.
    pub fn stats(&self) -> ForwardedTrackStats {
        let source = self.inner.source.track();
        let (packets, bytes, requested, sent) = self.inner.source.counters();
        ForwardedTrackStats {
            track_id: self.inner.id.clone(),
            source_member: source.member().clone(),
            source_track_id: source.id().to_owned(),
            packets_received: packets,
            bytes_received: bytes,
            keyframe_requests_received: requested,
            keyframe_requests_sent: sent,
            legs: lock(&self.inner.legs).iter().map(|l| l.stats()).collect(),
        }
    }

    /// Stops forwarding: the call stops sending the track (its members see
    /// it end). Stopping twice does nothing.
    pub async fn stop(&self) -> Result<()> {
        if self
            .inner
            .stopped
            .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            return Ok(());
        }
        self.inner.source.release();
        let Some(call) = self.inner.call.upgrade() else {
            return Ok(());
        };
        match call.remove_outgoing(self).await {
            Err(error) if error.kind() == crate::ErrorKind::InvalidArgument => Ok(()),
            other => other,
        }
    }

    /// Whether [`stop`](Self::stop) was called (or the source ended).
    pub fn is_stopped(&self) -> bool {
        self.inner
            .stopped
            .load(std::sync::atomic::Ordering::Acquire)
    }

    fn leg(&self, member: &MemberId) -> Option<Arc<Leg>> {
        lock(&self.inner.legs)
            .iter()
            .find(|l| l.member() == member)
            .cloned()
    }

    /// Whether the track forwards `source`.
    pub(crate) fn forwards(&self, source: &RemoteTrack) -> bool {
        self.inner.source.track().same_as(source)
    }
}

#[async_trait::async_trait]
impl OutgoingTrack for ForwardedTrack {
    fn id(&self) -> &str {
        &self.inner.id
    }

    fn codec(&self) -> Codec {
        self.inner.codec
    }

    fn h264_profile(&self) -> Option<H264Profile> {
        self.inner.h264_profile
    }

    fn identity(&self) -> usize {
        Arc::as_ptr(&self.inner) as usize
    }

    fn make_binding_track(&self) -> (Arc<BindingTrack>, u32) {
        let (track, ssrc) = single_stream_track(
            &self.inner.stream_id,
            &self.inner.id,
            self.inner.codec.kind().to_rtc(),
            &self.inner.format,
        );
        let weak = Arc::downgrade(&self.inner);
        let on_rtcp = Arc::new(move |packets: &[Box<dyn rtc::rtcp::Packet>]| {
            let Some(inner) = weak.upgrade() else { return };
            let leg = lock(&inner.legs).iter().find(|l| l.ssrc() == ssrc).cloned();
            if let Some(leg) = leg {
                leg.on_rtcp(packets, &inner.source);
            }
        });
        (Arc::new(BindingTrack::new(track, on_rtcp)), ssrc)
    }

    fn bind(
        &self,
        member: &MemberId,
        rtp: Arc<BindingTrack>,
        sender: Arc<dyn RtpSender>,
        ssrc: u32,
        feedback: &Arc<FeedbackRegistry>,
    ) {
        let options = &self.inner.options;
        let leg = Arc::new(Leg::new(LegSetup {
            member: member.clone(),
            ssrc,
            codec: self.inner.codec,
            binding: rtp,
            sender,
            registry: Arc::downgrade(feedback),
            preference: lock(&self.inner.preferences).of(member),
            tuning: options.tuning(),
            keyframe_interval: options.keyframe_retry_interval,
            resume_after: options.resume_after,
        }));
        lock(&self.inner.legs).push(leg.clone());
        self.inner.source.add_leg(leg);
    }

    fn unbind(&self, member: &MemberId) -> Option<Arc<dyn RtpSender>> {
        let leg = {
            let mut legs = lock(&self.inner.legs);
            let index = legs.iter().position(|l| l.member() == member)?;
            legs.remove(index)
        };
        self.inner.source.remove_leg(&leg);
        leg.close();
        Some(leg.sender())
    }

    async fn refresh_payload_type(&self, member: &MemberId) -> Option<String> {
        let leg = self.leg(member)?;
        let (payload_type, refusal, extensions) = match leg.sender().get_parameters().await {
            Ok(params) => {
                let codecs = &params.rtp_parameters.codecs;
                let (payload_type, refusal) = match self.inner.h264_profile {
                    Some(profile) => match h264_payload_type_for(profile, codecs) {
                        Ok(pt) => (Some(pt), None),
                        Err(refusal) => (None, Some(refusal)),
                    },
                    None => (negotiated_payload_type(&self.inner.format, codecs), None),
                };
                let leg_extensions: Vec<(&str, u16)> = params
                    .rtp_parameters
                    .header_extensions
                    .iter()
                    .map(|e| (e.uri.as_str(), e.id))
                    .collect();
                let source = self.inner.source.track().header_extensions();
                let map = ExtensionMap::new(
                    source.iter().map(|(uri, id)| (uri.as_str(), *id)),
                    &leg_extensions,
                );
                (payload_type, refusal, map)
            }
            Err(err) => {
                tracing::debug!(%err, "sender parameters unavailable");
                (None, None, ExtensionMap::default())
            }
        };
        if let Some(refusal) = &refusal {
            tracing::warn!(track = %self.inner.id, %member, "{refusal}");
        } else if payload_type.is_none() {
            tracing::warn!(track = %self.inner.id, %member, codec = %self.inner.codec,
                "codec not negotiated with member; forwarded track not sent to it");
        }
        leg.set_negotiated(payload_type, extensions, &self.inner.source);
        refusal.map(|r| format!("track {}: {r}", self.inner.id))
    }

    fn set_connected(&self, member: &MemberId, connected: bool) {
        if let Some(leg) = self.leg(member) {
            leg.set_connected(connected, &self.inner.source);
        }
    }
}

/// The value of `key` in a format parameter line.
fn fmtp_value(line: &str, key: &str) -> Option<String> {
    line.split(';')
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case(key))
        .map(|(_, v)| v.trim().to_owned())
}

/// Why `track` cannot be forwarded, if so.
pub(crate) fn check_forwardable(track: &RemoteTrack) -> Result<()> {
    if track.format().mime_type.is_empty() {
        return Err(Error::unsupported_codec(format!(
            "track {} has no negotiated codec",
            track.id()
        )));
    }
    Ok(())
}
