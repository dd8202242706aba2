//! [`LocalTrack`]: encoded samples in, RTP out to every member of a call.
//!
//! A sample is payloaded once; each peer connection the track is bound to
//! gets its own SSRC, sequence numbers and negotiated payload type.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use rtc::rtp::header::Header;
use rtc::rtp::packet::Packet;
use rtc::rtp::packetizer::Payloader;
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodec, RTCRtpCodecParameters};
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::rtp_transceiver::RtpSender;

use super::binding_track::{BindingTrack, asks_keyframe, single_stream_track};
use super::frame::MediaSample;
use super::h264_profile::H264Profile;
use crate::call::codec_preferences::{h264_codec, h264_payload_type, h264_profiles};
use crate::codec::{Codec, MediaKind};
use crate::error::{Error, Result};
use crate::signalling::MemberId;

/// Largest RTP payload produced (leaves room for SRTP and header extensions).
const RTP_PAYLOAD_MTU: usize = 1200;

/// A track of encoded media that a call sends to every member.
///
/// Cheap to clone; all clones are the same track. Create it with
/// [`LocalTrack::new`], add it with [`Call::add_track`](crate::call::Call::add_track),
/// then push samples with [`write_sample`](Self::write_sample).
#[derive(Clone)]
pub struct LocalTrack {
    inner: Arc<Inner>,
}

struct Inner {
    id: String,
    stream_id: String,
    codec: Codec,
    /// The format announced: the codec's, or an H.264 track's profile.
    format: RTCRtpCodec,
    h264_profile: Option<H264Profile>,
    /// An H.264 stream whose SPS names another profile was reported once.
    profile_mismatch_reported: std::sync::atomic::AtomicBool,
    payloader: Mutex<Box<dyn Payloader>>,
    bindings: Mutex<Vec<Binding>>,
    samples: AtomicU64,
    bytes: AtomicU64,
    keyframe_requests: tokio::sync::watch::Sender<u64>,
}

/// The track as added to one peer connection.
struct Binding {
    member: MemberId,
    rtp: Arc<BindingTrack>,
    sender: Arc<dyn RtpSender>,
    ssrc: u32,
    next_seq: u16,
    timestamp_offset: u32,
    payload_type: Option<u8>,
    connected: bool,
    first_packet: bool,
}

struct Target {
    rtp: Arc<BindingTrack>,
    ssrc: u32,
    first_seq: u16,
    timestamp: u32,
    payload_type: u8,
    mark_first: bool,
}

impl std::fmt::Debug for LocalTrack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalTrack")
            .field("id", &self.inner.id)
            .field("codec", &self.inner.codec)
            .finish()
    }
}

impl LocalTrack {
    /// A new track of `codec` with the given track id; `stream_id` groups
    /// tracks that belong together (e.g. a participant's camera and microphone).
    ///
    /// An H.264 track announces constrained baseline (`42e01f`), which every
    /// WebRTC peer takes; a stream of another profile needs [`h264`](Self::h264).
    pub fn new(codec: Codec, id: impl Into<String>, stream_id: impl Into<String>) -> Result<Self> {
        let profile = (codec == Codec::H264).then_some(H264Profile::CONSTRAINED_BASELINE);
        Self::with_format(codec, profile, id.into(), stream_id.into())
    }

    /// A new H.264 track announcing `profile` (`profile-level-id`): set it to
    /// what the encoder makes (its SPS says: [`H264Profile::from_sps`]).
    /// A member whose peer cannot decode that profile does not get the
    /// track: the call reports it as a [`CallEvent::Error`](crate::CallEvent::Error)
    /// naming the profiles the peer takes. Fails for a profile rtcgate does
    /// not negotiate (it does constrained baseline, baseline, main, high,
    /// constrained high and high 4:4:4 predictive, at any level).
    pub fn h264(
        profile: H264Profile,
        id: impl Into<String>,
        stream_id: impl Into<String>,
    ) -> Result<Self> {
        if h264_payload_type(profile).is_none() {
            let known: Vec<String> = h264_profiles().map(|p| p.to_string()).collect();
            return Err(Error::unsupported_codec(format!(
                "H.264 profile {profile} is not one rtcgate negotiates ({})",
                known.join(", ")
            )));
        }
        Self::with_format(Codec::H264, Some(profile), id.into(), stream_id.into())
    }

    fn with_format(
        codec: Codec,
        h264_profile: Option<H264Profile>,
        id: String,
        stream_id: String,
    ) -> Result<Self> {
        let format = match h264_profile {
            Some(profile) => h264_codec(profile),
            None => codec.rtp_codec(),
        };
        let payloader = payloader_for(codec, &format)?;
        Ok(Self {
            inner: Arc::new(Inner {
                id,
                stream_id,
                codec,
                format,
                h264_profile,
                profile_mismatch_reported: Default::default(),
                payloader: Mutex::new(payloader),
                bindings: Mutex::new(Vec::new()),
                samples: AtomicU64::new(0),
                bytes: AtomicU64::new(0),
                keyframe_requests: tokio::sync::watch::channel(0).0,
            }),
        })
    }

    /// Track id (the `msid` track id seen by remote members).
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// Stream id (the `msid` stream id seen by remote members).
    pub fn stream_id(&self) -> &str {
        &self.inner.stream_id
    }

    /// Codec of the samples this track carries.
    pub fn codec(&self) -> Codec {
        self.inner.codec
    }

    /// Audio or video.
    pub fn kind(&self) -> MediaKind {
        self.inner.codec.kind()
    }

    /// The H.264 profile the track announces (`None` for other codecs).
    pub fn h264_profile(&self) -> Option<H264Profile> {
        self.inner.h264_profile
    }

    /// Samples and bytes written so far.
    pub fn written(&self) -> (u64, u64) {
        (
            self.inner.samples.load(Ordering::Relaxed),
            self.inner.bytes.load(Ordering::Relaxed),
        )
    }

    /// Keyframe requests (RTCP PLI or FIR) received so far from any member.
    pub fn keyframe_requests(&self) -> u64 {
        *self.inner.keyframe_requests.borrow()
    }

    /// Waits for the next keyframe request (PLI or FIR) from any member: the
    /// application should then make its encoder produce a keyframe.
    pub async fn keyframe_requested(&self) {
        let mut rx = self.inner.keyframe_requests.subscribe();
        rx.borrow_and_update();
        let _ = rx.changed().await;
    }

    /// Number of members this track is currently sent to (negotiated or not).
    pub fn binding_count(&self) -> usize {
        lock(&self.inner.bindings).len()
    }

    /// Sends one encoded sample to every member the track is negotiated with.
    ///
    /// Members whose connection has not finished negotiating this track yet
    /// are skipped (the next keyframe reaches them). Returns an error only for
    /// an unusable sample (e.g. empty data).
    pub async fn write_sample(&self, sample: &MediaSample) -> Result<()> {
        if sample.data.is_empty() {
            return Err(Error::invalid_argument("empty sample"));
        }
        self.check_profile(&sample.data);
        let chunks = lock(&self.inner.payloader)
            .payload(RTP_PAYLOAD_MTU, &sample.data)
            .map_err(Error::webrtc)?;
        if chunks.is_empty() {
            return Ok(());
        }
        self.inner.samples.fetch_add(1, Ordering::Relaxed);
        self.inner
            .bytes
            .fetch_add(sample.data.len() as u64, Ordering::Relaxed);
        let rtp_time = rtp_timestamp(sample.timestamp, self.inner.codec.clock_rate());
        for target in self.reserve(chunks.len(), rtp_time) {
            self.send_packets(&target, &chunks).await;
        }
        Ok(())
    }

    /// Warns once when an H.264 sample's SPS names a profile the announced
    /// one does not cover (the peers may fail to decode it).
    fn check_profile(&self, data: &[u8]) {
        let Some(announced) = self.inner.h264_profile else {
            return;
        };
        let Some(actual) = H264Profile::from_sps(data) else {
            return;
        };
        if !announced.decodes(&actual)
            && !self
                .inner
                .profile_mismatch_reported
                .swap(true, Ordering::Relaxed)
        {
            tracing::warn!(track = %self.inner.id, %announced, %actual,
                "H.264 stream of another profile than the track announces: \
                 create the track with LocalTrack::h264 and the stream's profile");
        }
    }

    fn reserve(&self, packets: usize, rtp_time: u32) -> Vec<Target> {
        let mut bindings = lock(&self.inner.bindings);
        bindings
            .iter_mut()
            .filter(|b| b.connected)
            .filter_map(|b| {
                let payload_type = b.payload_type?;
                let first_seq = b.next_seq;
                b.next_seq = b.next_seq.wrapping_add(packets as u16);
                let mark_first = std::mem::take(&mut b.first_packet);
                Some(Target {
                    rtp: b.rtp.clone(),
                    ssrc: b.ssrc,
                    first_seq,
                    timestamp: b.timestamp_offset.wrapping_add(rtp_time),
                    payload_type,
                    mark_first,
                })
            })
            .collect()
    }

    async fn send_packets(&self, target: &Target, chunks: &[Bytes]) {
        let last = chunks.len() - 1;
        for (i, chunk) in chunks.iter().enumerate() {
            let marker = match self.inner.codec.kind() {
                MediaKind::Video => i == last,
                MediaKind::Audio => target.mark_first && i == 0,
            };
            let packet = Packet {
                header: Header {
                    version: 2,
                    marker,
                    payload_type: target.payload_type,
                    sequence_number: target.first_seq.wrapping_add(i as u16),
                    timestamp: target.timestamp,
                    ssrc: target.ssrc,
                    ..Default::default()
                },
                payload: chunk.clone(),
            };
            if let Err(err) = target.rtp.write_rtp(packet).await {
                tracing::debug!(track = %self.inner.id, %err, "rtp write failed");
                return;
            }
        }
    }

    /// Creates the per-connection track object for `member`.
    pub(crate) fn make_binding_track(&self) -> (Arc<BindingTrack>, u32) {
        let (track, ssrc) = single_stream_track(
            &self.inner.stream_id,
            &self.inner.id,
            self.inner.codec.kind().to_rtc(),
            &self.inner.format,
        );
        let weak = Arc::downgrade(&self.inner);
        let on_rtcp = Arc::new(move |packets: &[Box<dyn rtc::rtcp::Packet>]| {
            if asks_keyframe(packets)
                && let Some(inner) = weak.upgrade()
            {
                inner.keyframe_requests.send_modify(|n| *n += 1);
            }
        });
        (Arc::new(BindingTrack::new(track, on_rtcp)), ssrc)
    }

    /// Records that the track was added to `member`'s connection.
    pub(crate) fn bind(
        &self,
        member: &MemberId,
        rtp: Arc<BindingTrack>,
        sender: Arc<dyn RtpSender>,
        ssrc: u32,
    ) {
        lock(&self.inner.bindings).push(Binding {
            member: member.clone(),
            rtp,
            sender,
            ssrc,
            next_seq: rand::random(),
            timestamp_offset: rand::random(),
            payload_type: None,
            connected: false,
            first_packet: true,
        });
    }

    /// Forgets `member`'s connection; returns its sender so it can be removed.
    pub(crate) fn unbind(&self, member: &MemberId) -> Option<Arc<dyn RtpSender>> {
        let mut bindings = lock(&self.inner.bindings);
        let index = bindings.iter().position(|b| &b.member == member)?;
        Some(bindings.remove(index).sender)
    }

    /// Re-reads the payload type negotiated with `member` (after an
    /// offer/answer); returns why the track cannot be sent to it, if so.
    pub(crate) async fn refresh_payload_type(&self, member: &MemberId) -> Option<String> {
        let sender = {
            let bindings = lock(&self.inner.bindings);
            bindings
                .iter()
                .find(|b| &b.member == member)
                .map(|b| b.sender.clone())
        };
        let sender = sender?;
        let (payload_type, refusal) = match sender.get_parameters().await {
            Ok(params) => {
                let codecs = &params.rtp_parameters.codecs;
                match self.inner.h264_profile {
                    Some(profile) => match h264_payload_type_for(profile, codecs) {
                        Ok(pt) => (Some(pt), None),
                        Err(refusal) => (None, Some(refusal)),
                    },
                    None => (negotiated_payload_type(&self.inner.format, codecs), None),
                }
            }
            Err(err) => {
                tracing::debug!(%err, "sender parameters unavailable");
                (None, None)
            }
        };
        if let Some(refusal) = &refusal {
            tracing::warn!(track = %self.inner.id, %member, "{refusal}");
        } else if payload_type.is_none() {
            tracing::warn!(track = %self.inner.id, %member, codec = %self.inner.codec,
                "codec not negotiated with member; track not sent to it");
        }
        let mut bindings = lock(&self.inner.bindings);
        if let Some(b) = bindings.iter_mut().find(|b| &b.member == member) {
            b.payload_type = payload_type;
        }
        refusal.map(|r| format!("track {}: {r}", self.inner.id))
    }

    /// Records whether `member`'s transport is up; nothing is sent before
    /// (the stack could not encrypt it yet).
    pub(crate) fn set_connected(&self, member: &MemberId, connected: bool) {
        let mut bindings = lock(&self.inner.bindings);
        if let Some(b) = bindings.iter_mut().find(|b| &b.member == member) {
            b.connected = connected;
        }
    }

    /// Whether the track has a negotiated payload type with `member`.
    pub fn is_sending_to(&self, member: &MemberId) -> bool {
        lock(&self.inner.bindings)
            .iter()
            .any(|b| &b.member == member && b.payload_type.is_some() && b.connected)
    }

    /// The address of the track's shared state: two handles with the same
    /// identity are the same track.
    pub(crate) fn identity(&self) -> usize {
        Arc::as_ptr(&self.inner) as usize
    }
}

/// The payload type to send `ours` with, among a sender's negotiated `codecs`
/// (after an offer/answer they are the m-line's codecs, with rtc's own payload
/// types): same MIME type, and among several (H.264 profiles and packetization
/// modes, VP9 profiles) the one whose format parameters fit best.
pub(crate) fn negotiated_payload_type(
    ours: &RTCRtpCodec,
    codecs: &[RTCRtpCodecParameters],
) -> Option<u8> {
    codecs
        .iter()
        .filter(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(&ours.mime_type))
        .enumerate()
        // Best fit first; on a tie, the earlier (more preferred) codec.
        .max_by_key(|(i, c)| {
            (
                fmtp_fit(&ours.sdp_fmtp_line, &c.rtp_codec.sdp_fmtp_line),
                std::cmp::Reverse(*i),
            )
        })
        .map(|(_, c)| c.payload_type)
}

/// The payload type to send an H.264 stream of `profile` with: a
/// negotiated H.264 format with packetization mode 1 whose profile decodes
/// it (the same profile first, then the earliest in the peer's order), or
/// why there is none.
pub(crate) fn h264_payload_type_for(
    profile: H264Profile,
    codecs: &[RTCRtpCodecParameters],
) -> std::result::Result<u8, String> {
    let h264: Vec<(H264Profile, u8)> = codecs
        .iter()
        .filter(|c| {
            c.rtp_codec
                .mime_type
                .eq_ignore_ascii_case(Codec::H264.mime_type())
        })
        .filter(|c| fmtp_value(&c.rtp_codec.sdp_fmtp_line, "packetization-mode") == "1")
        .filter_map(|c| {
            let id = fmtp_value(&c.rtp_codec.sdp_fmtp_line, "profile-level-id");
            Some((H264Profile::from_profile_level_id(&id)?, c.payload_type))
        })
        .collect();
    let same = |p: &H264Profile| p.profile_level_id()[..4] == profile.profile_level_id()[..4];
    h264.iter()
        .find(|(p, _)| same(p))
        .or_else(|| h264.iter().find(|(p, _)| p.decodes(&profile)))
        .map(|(_, pt)| *pt)
        .ok_or_else(|| {
            let takes: Vec<String> = h264.iter().map(|(p, _)| p.to_string()).collect();
            format!(
                "H.264 {profile} cannot be sent: the peer decodes {}",
                if takes.is_empty() {
                    "no H.264 with packetization mode 1".to_owned()
                } else {
                    takes.join(", ")
                }
            )
        })
}

/// The value of `key` in a format parameter line (lower case; empty when absent).
fn fmtp_value(line: &str, key: &str) -> String {
    line.split(';')
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case(key))
        .map(|(_, v)| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// 2: same format parameters; 1: the parameters that change the bitstream
/// (`packetization-mode`, `profile-id`, the profile part of
/// `profile-level-id`) agree; 0: they differ.
fn fmtp_fit(ours: &str, theirs: &str) -> u8 {
    let parse = |line: &str| -> std::collections::BTreeMap<String, String> {
        line.split(';')
            .filter_map(|p| p.trim().split_once('='))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_ascii_lowercase()))
            .collect()
    };
    let (ours, theirs) = (parse(ours), parse(theirs));
    if ours == theirs {
        return 2;
    }
    let value = |map: &std::collections::BTreeMap<String, String>, key: &str| -> String {
        let v = map.get(key).cloned();
        match key {
            // RFC 6184 and the VP9/AV1 payload formats: absent means 0.
            "packetization-mode" | "profile-id" => v.unwrap_or_else(|| "0".into()),
            // Profile and constraints; the level may differ.
            _ => v.map(|v| v.chars().take(4).collect()).unwrap_or_default(),
        }
    };
    let agree = ["packetization-mode", "profile-id", "profile-level-id"]
        .iter()
        .all(|key| value(&ours, key) == value(&theirs, key));
    u8::from(agree)
}

fn rtp_timestamp(time: std::time::Duration, clock_rate: u32) -> u32 {
    (time.as_nanos() * u128::from(clock_rate) / 1_000_000_000) as u32
}

/// The payloader of a track: rtcgate's own for VP9 (`media::vp9`), rtc's
/// for the others.
pub(crate) fn payloader_for(codec: Codec, format: &RTCRtpCodec) -> Result<Box<dyn Payloader>> {
    match codec {
        Codec::Vp9 => Ok(Box::<super::vp9::Vp9Payloader>::default()),
        _ => format.payloader().map_err(Error::webrtc),
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rtp_timestamps_follow_the_clock_rate() {
        assert_eq!(rtp_timestamp(Duration::from_millis(20), 48_000), 960);
        assert_eq!(rtp_timestamp(Duration::from_secs(1), 90_000), 90_000);
    }

    fn codec(mime: &str, fmtp: &str, payload_type: u8) -> RTCRtpCodecParameters {
        RTCRtpCodecParameters {
            rtp_codec: RTCRtpCodec {
                mime_type: mime.into(),
                clock_rate: 90_000,
                sdp_fmtp_line: fmtp.into(),
                ..Default::default()
            },
            payload_type,
        }
    }

    #[test]
    fn payload_type_follows_the_codec_and_its_format_parameters() {
        let negotiated = [
            codec("video/VP8", "", 96),
            codec("video/rtx", "apt=96", 97),
            codec("video/VP9", "profile-id=1", 100),
            codec("video/VP9", "profile-id=0", 98),
            codec(
                "video/H264",
                "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f",
                108,
            ),
            codec(
                "video/H264",
                "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
                125,
            ),
            codec(
                "video/h264",
                "packetization-mode=1;profile-level-id=42e034",
                106,
            ),
        ];
        let pt = |c: Codec| negotiated_payload_type(&c.rtp_codec(), &negotiated);
        assert_eq!(pt(Codec::Vp8), Some(96));
        assert_eq!(pt(Codec::Vp9), Some(98));
        assert_eq!(pt(Codec::H264), Some(125));
        assert_eq!(pt(Codec::Av1), None);
        // Only a mismatching mode left: still the codec.
        assert_eq!(
            negotiated_payload_type(&Codec::H264.rtp_codec(), &negotiated[4..5]),
            Some(108)
        );
        // Another level of the same profile and mode fits better than another mode.
        assert_eq!(
            negotiated_payload_type(&Codec::H264.rtp_codec(), &negotiated[4..]),
            Some(125)
        );
        assert_eq!(
            negotiated_payload_type(
                &Codec::H264.rtp_codec(),
                &[negotiated[4].clone(), negotiated[6].clone()]
            ),
            Some(106)
        );
    }

    #[tokio::test]
    async fn rejects_empty_samples() {
        let track = LocalTrack::new(Codec::Vp8, "v", "s").unwrap();
        let err = track
            .write_sample(&MediaSample::new(Bytes::new(), Duration::ZERO))
            .await;
        assert_eq!(err.unwrap_err().kind(), crate::ErrorKind::InvalidArgument);
    }
}
