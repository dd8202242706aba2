//! Puts every codec rtcgate carries of a track's kind on the track's m-line,
//! the track's own codec first (works around rtc 0.21, see below).
//!
//! rtc 0.21's `MediaEngine` narrows its codec list once per connection: the
//! first remote description with a video m-line replaces the engine's video
//! codecs with the codecs of that *first* video m-line, and later m-lines and
//! descriptions never add to it (`MediaEngine::update_from_remote_description`,
//! `negotiate_multi_codecs` is crate-private and always false). Every codec
//! search afterwards runs against that narrowed list:
//!
//! - answering, each transceiver's preferences are the offered codecs matched
//!   against the narrowed list (`set_codec_preferences_from_remote_description`);
//!   a codec not on the first m-line matches nothing, the preferences end up
//!   empty, and an empty list means "the engine's codecs" — so every video
//!   m-line of the answer, and every sender's parameters, carry the first
//!   m-line's codec (VP8 when a VP8 track came first);
//! - later, `add_track` and `set_codec_preferences` with any other codec fail
//!   with "unsupported codec type by this transceiver".
//!
//! With a single codec per m-line (what `add_track` offers for a track whose
//! encoding names its codec) only the first video track's codec survives. So
//! every m-line lists all of rtcgate's codecs of its kind: whatever m-line
//! comes first then keeps them all in the engine, the sender finds its own
//! codec among the negotiated ones (`LocalTrack::refresh_payload_type`), and
//! the receiver resolves the packets' payload type to the right codec. The
//! track's codec goes first so that a peer answering with one codec picks it.

use std::sync::Arc;

use rtc::peer_connection::configuration::media_engine::MediaEngine;
use rtc::rtp_transceiver::RTCRtpTransceiverId;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RtpCodecKind,
};
use webrtc::peer_connection::PeerConnection;
use webrtc::rtp_transceiver::RtpSender;

use crate::codec::Codec;
use crate::media::H264Profile;

/// H.264 formats (packetization mode 1) a connection can negotiate: rtc's
/// defaults, then the ones [`register_codecs`] adds, with payload types.
const H264_FORMATS: [(H264Profile, u8); 6] = [
    (H264Profile::CONSTRAINED_BASELINE, 125),
    (H264Profile::BASELINE, 102),
    // rtc registers high at level 5.0.
    (H264Profile::HIGH.with_level(0x32), 123),
    (H264Profile::MAIN, 114),
    (H264Profile::CONSTRAINED_HIGH, 116),
    (H264Profile::HIGH_444, 118),
];
/// How many of [`H264_FORMATS`] rtc registers itself.
const DEFAULT_H264_FORMATS: usize = 3;

/// Registers every codec a connection can negotiate: rtc's defaults, and
/// H.264 main, constrained high and high 4:4:4 predictive (each with RTX at
/// the next payload type), so that a track can announce the profile its
/// encoder makes; Chromium announces high 4:4:4 predictive (not high) among
/// what it decodes, which takes high-profile streams.
pub(crate) fn register_codecs(engine: &mut MediaEngine) -> rtc::shared::error::Result<()> {
    engine.register_default_codecs()?;
    let feedback = |typ: &str, parameter: &str| RTCPFeedback {
        typ: typ.to_owned(),
        parameter: parameter.to_owned(),
    };
    for (profile, payload_type) in &H264_FORMATS[DEFAULT_H264_FORMATS..] {
        let mut codec = RTCRtpCodecParameters {
            rtp_codec: h264_codec(*profile),
            payload_type: *payload_type,
        };
        codec.rtp_codec.rtcp_feedback = vec![
            feedback("goog-remb", ""),
            feedback("ccm", "fir"),
            feedback("nack", ""),
            feedback("nack", "pli"),
        ];
        engine.register_codec(codec, RtpCodecKind::Video)?;
        let rtx = RTCRtpCodecParameters {
            rtp_codec: RTCRtpCodec {
                mime_type: "video/rtx".to_owned(),
                clock_rate: 90_000,
                channels: 0,
                sdp_fmtp_line: format!("apt={payload_type}"),
                rtcp_feedback: vec![],
            },
            payload_type: payload_type + 1,
        };
        engine.register_codec(rtx, RtpCodecKind::Video)?;
    }
    Ok(())
}

/// The RTP codec of an H.264 track of `profile` (packetization mode 1).
pub(crate) fn h264_codec(profile: H264Profile) -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: Codec::H264.mime_type().to_owned(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: format!(
            "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id={}",
            profile.profile_level_id()
        ),
        rtcp_feedback: vec![],
    }
}

/// The payload type of the registered H.264 format rtc matches `profile`
/// with (same profile and constraints; any level), if there is one.
pub(crate) fn h264_payload_type(profile: H264Profile) -> Option<u8> {
    let key = |p: H264Profile| p.profile_level_id()[..4].to_owned();
    H264_FORMATS
        .iter()
        .find(|(registered, _)| key(*registered) == key(profile))
        .map(|(_, pt)| *pt)
}

/// Every registered H.264 profile, for messages.
pub(crate) fn h264_profiles() -> impl Iterator<Item = H264Profile> {
    H264_FORMATS.iter().map(|(p, _)| *p)
}

/// Payload type `MediaEngine::register_default_codecs` gives each codec as
/// rtcgate sends it (checked against rtc by the tests below).
fn default_payload_type(codec: Codec) -> u8 {
    match codec {
        Codec::Opus => 111,
        Codec::Vp8 => 96,
        Codec::Vp9 => 98,
        Codec::H264 => 125,
        Codec::Av1 => 41,
    }
}

/// `codec`, then every other codec of its kind, as transceiver preferences.
#[cfg(test)]
pub(crate) fn preferences(codec: Codec) -> Vec<RTCRtpCodecParameters> {
    track_preferences(codec, None)
}

/// A track's preferences: its own format first (an H.264 track's profile
/// when it has one, with the registered formats that decode it next, then
/// the other H.264 formats, so that a refusal can name what the peer
/// takes), then every other codec of its kind.
pub(crate) fn track_preferences(
    codec: Codec,
    h264: Option<H264Profile>,
) -> Vec<RTCRtpCodecParameters> {
    let own: Vec<RTCRtpCodecParameters> = match h264 {
        Some(profile) => {
            let exact = RTCRtpCodecParameters {
                rtp_codec: h264_codec(profile),
                payload_type: h264_payload_type(profile).unwrap_or(default_payload_type(codec)),
            };
            let exact_pt = exact.payload_type;
            let mut others: Vec<&(H264Profile, u8)> = H264_FORMATS
                .iter()
                .filter(|(_, pt)| *pt != exact_pt)
                .collect();
            // Those that decode the track first (a stable sort keeps the order).
            others.sort_by_key(|(p, _)| !p.decodes(&profile));
            std::iter::once(exact)
                .chain(others.into_iter().map(|(p, pt)| RTCRtpCodecParameters {
                    rtp_codec: h264_codec(*p),
                    payload_type: *pt,
                }))
                .collect()
        }
        None => vec![RTCRtpCodecParameters {
            rtp_codec: codec.rtp_codec(),
            payload_type: default_payload_type(codec),
        }],
    };
    own.into_iter()
        .chain(
            Codec::ALL
                .into_iter()
                .filter(|other| *other != codec && other.kind() == codec.kind())
                .map(|c| RTCRtpCodecParameters {
                    rtp_codec: c.rtp_codec(),
                    payload_type: default_payload_type(c),
                }),
        )
        .collect()
}

/// Sets the preferences of `sender`'s transceiver to [`preferences`]`(codec)`,
/// leaving out codecs the connection's (narrowed) engine no longer accepts.
pub(crate) async fn offer_every_codec(
    pc: &Arc<dyn PeerConnection>,
    sender: &Arc<dyn RtpSender>,
    codec: Codec,
    h264: Option<H264Profile>,
) {
    let id: RTCRtpTransceiverId = sender.id().into();
    let mut transceiver = None;
    for t in pc.get_transceivers().await {
        if t.id() == id {
            transceiver = Some(t);
            break;
        }
    }
    let Some(transceiver) = transceiver else {
        tracing::debug!(%codec, "no transceiver for the sender; codec preferences unchanged");
        return;
    };
    let mut wanted = track_preferences(codec, h264).into_iter();
    // The track's own codec alone is what `add_track` set already.
    let mut accepted: Vec<_> = wanted.next().into_iter().collect();
    for extra in wanted {
        let mut trial = accepted.clone();
        trial.push(extra);
        match transceiver.set_codec_preferences(trial.clone()).await {
            Ok(()) => accepted = trial,
            Err(err) => {
                tracing::debug!(%codec, extra = %trial[trial.len() - 1].rtp_codec.mime_type, %err,
                    "codec left off the m-line (not negotiated on this connection)")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! Sans-I/O: two rtc peer connections exchange descriptions, no sockets.

    use std::time::Instant;

    use rtc::media_stream::MediaStreamTrack;
    use rtc::peer_connection::configuration::media_engine::MediaEngine;
    use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
    use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodingParameters, RTCRtpEncodingParameters};

    use super::*;

    fn peer() -> RTCPeerConnection {
        let mut engine = MediaEngine::default();
        engine.register_default_codecs().unwrap();
        RTCPeerConnectionBuilder::new()
            .with_media_engine(engine)
            .build(Instant::now())
            .unwrap()
    }

    /// A track as `LocalTrack` makes it: one encoding naming the codec.
    fn track(codec: Codec) -> MediaStreamTrack {
        MediaStreamTrack::new(
            "stream".into(),
            codec.name().into(),
            codec.name().into(),
            codec.kind().to_rtc(),
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(rand::random()),
                    ..Default::default()
                },
                codec: codec.rtp_codec(),
                ..Default::default()
            }],
        )
    }

    /// `a` offers one track per codec (with or without the workaround), `b` answers.
    fn negotiate(workaround: bool) -> (RTCPeerConnection, RTCPeerConnection, String) {
        let (mut a, mut b) = (peer(), peer());
        for codec in Codec::ALL {
            let sender = a.add_track(track(codec)).unwrap();
            if workaround {
                a.rtp_transceiver(sender.into())
                    .unwrap()
                    .set_codec_preferences(preferences(codec))
                    .unwrap();
            }
        }
        let offer = a.create_offer(None).unwrap();
        a.set_local_description(Instant::now(), offer.clone())
            .unwrap();
        b.set_remote_description(Instant::now(), offer).unwrap();
        let answer = b.create_answer(None).unwrap();
        b.set_local_description(Instant::now(), answer.clone())
            .unwrap();
        a.set_remote_description(Instant::now(), answer.clone())
            .unwrap();
        (a, b, answer.sdp)
    }

    /// The payload types of each m-line of `sdp`, in order.
    fn m_line_formats(sdp: &str) -> Vec<Vec<u8>> {
        sdp.lines()
            .filter(|l| l.starts_with("m=audio") || l.starts_with("m=video"))
            .map(|l| l.split(' ').skip(3).map(|pt| pt.parse().unwrap()).collect())
            .collect()
    }

    /// Mime type and payload type of every codec `a`'s senders may send, per track.
    fn sender_codecs(pc: &mut RTCPeerConnection) -> Vec<(String, Vec<(String, u8)>)> {
        let ids: Vec<_> = pc.get_senders().collect();
        ids.into_iter()
            .map(|id| {
                let mut sender = pc.rtp_sender(id).unwrap();
                let track = sender.track().track_id().clone();
                let codecs = sender
                    .get_parameters()
                    .rtp_parameters
                    .codecs
                    .iter()
                    .map(|c| (c.rtp_codec.mime_type.clone(), c.payload_type))
                    .collect();
                (track, codecs)
            })
            .collect()
    }

    #[test]
    fn without_the_workaround_rtc_answers_the_first_video_codec_everywhere() {
        let (mut a, _, answer) = negotiate(false);
        // audio, then VP8, VP9, H.264, AV1: each video m-line answered with VP8 (+ its RTX).
        assert_eq!(
            m_line_formats(&answer),
            vec![
                vec![111],
                vec![96, 97],
                vec![96, 97],
                vec![96, 97],
                vec![96, 97]
            ]
        );
        for (track, codecs) in sender_codecs(&mut a).into_iter().skip(1) {
            assert_eq!(codecs[0], ("video/VP8".to_owned(), 96), "{track}");
        }
        // And the engine now refuses any other video codec for a new track.
        assert!(a.add_track(track(Codec::H264)).is_err());
    }

    #[test]
    fn every_track_is_answered_and_sent_with_its_own_codec() {
        let (mut a, mut b, answer) = negotiate(true);
        let formats = m_line_formats(&answer);
        for (codec, formats) in Codec::ALL.into_iter().zip(&formats) {
            assert_eq!(
                formats[0],
                default_payload_type(codec),
                "{codec}: {formats:?}"
            );
        }
        for (codec, (track, codecs)) in Codec::ALL.into_iter().zip(sender_codecs(&mut a)) {
            assert_eq!(track, codec.name());
            assert!(
                codecs.iter().any(|(mime, pt)| {
                    mime.eq_ignore_ascii_case(codec.mime_type())
                        && *pt == default_payload_type(codec)
                }),
                "{codec}: {codecs:?}"
            );
        }
        // A later track of another codec can still be added and offered, by either side.
        let sender = b.add_track(track(Codec::H264)).unwrap();
        b.rtp_transceiver(sender.into())
            .unwrap()
            .set_codec_preferences(preferences(Codec::H264))
            .unwrap();
        let offer = b.create_offer(None).unwrap();
        assert!(
            m_line_formats(&offer.sdp)
                .iter()
                .any(|f| f[0] == default_payload_type(Codec::H264)),
            "{}",
            offer.sdp
        );
    }

    #[test]
    fn payload_types_match_the_default_media_engine() {
        let mut pc = peer();
        for codec in Codec::ALL {
            pc.add_track(track(codec)).unwrap();
        }
        let offer = pc.create_offer(None).unwrap();
        for codec in Codec::ALL {
            let name = codec.mime_type().split('/').nth(1).unwrap();
            let rtpmap = format!("a=rtpmap:{} {name}/", default_payload_type(codec));
            assert!(
                offer.sdp.lines().any(|l| l.starts_with(&rtpmap)),
                "{codec}: no {rtpmap:?} in\n{}",
                offer.sdp
            );
        }
    }

    /// An engine with VP8 and these H.264 formats only (packetization mode
    /// 1), as a browser announces what it decodes.
    fn browser_like(h264: &[&str]) -> RTCPeerConnection {
        let mut engine = MediaEngine::default();
        let mut codec = |mime: &str, fmtp: String, pt: u8| {
            engine
                .register_codec(
                    RTCRtpCodecParameters {
                        rtp_codec: RTCRtpCodec {
                            mime_type: mime.to_owned(),
                            clock_rate: 90_000,
                            channels: 0,
                            sdp_fmtp_line: fmtp,
                            rtcp_feedback: vec![],
                        },
                        payload_type: pt,
                    },
                    RtpCodecKind::Video,
                )
                .unwrap()
        };
        codec("video/VP8", String::new(), 96);
        for (i, id) in h264.iter().enumerate() {
            codec(
                "video/H264",
                format!("level-asymmetry-allowed=1;packetization-mode=1;profile-level-id={id}"),
                100 + i as u8,
            );
        }
        RTCPeerConnectionBuilder::new()
            .with_media_engine(engine)
            .build(Instant::now())
            .unwrap()
    }

    /// rtcgate (`register_codecs`) offers an H.264 track of `profile` to a
    /// browser-like answerer; returns the payload type the track picks among
    /// what was negotiated, or the refusal.
    fn h264_to(profile: H264Profile, browser: &[&str]) -> std::result::Result<u8, String> {
        let mut engine = MediaEngine::default();
        register_codecs(&mut engine).unwrap();
        let mut a = RTCPeerConnectionBuilder::new()
            .with_media_engine(engine)
            .build(Instant::now())
            .unwrap();
        let mut b = browser_like(browser);
        let track = MediaStreamTrack::new(
            "stream".into(),
            "cam".into(),
            "cam".into(),
            Codec::H264.kind().to_rtc(),
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(1),
                    ..Default::default()
                },
                codec: h264_codec(profile),
                ..Default::default()
            }],
        );
        let sender = a.add_track(track).unwrap();
        a.rtp_transceiver(sender.into())
            .unwrap()
            .set_codec_preferences(track_preferences(Codec::H264, Some(profile)))
            .unwrap();
        let offer = a.create_offer(None).unwrap();
        a.set_local_description(Instant::now(), offer.clone())
            .unwrap();
        b.set_remote_description(Instant::now(), offer).unwrap();
        let answer = b.create_answer(None).unwrap();
        b.set_local_description(Instant::now(), answer.clone())
            .unwrap();
        a.set_remote_description(Instant::now(), answer).unwrap();
        let mut sender = a.rtp_sender(sender).unwrap();
        let codecs = sender.get_parameters().rtp_parameters.codecs.clone();
        crate::media::local_track::h264_payload_type_for(profile, &codecs)
    }

    const CHROMIUM_156: [&str; 4] = ["42001f", "42e01f", "4d001f", "f4001f"];

    #[test]
    fn an_h264_track_is_sent_with_a_format_that_decodes_its_profile() {
        // Chromium decodes constrained baseline and main as announced…
        assert_eq!(
            h264_to(H264Profile::CONSTRAINED_BASELINE, &CHROMIUM_156),
            Ok(125)
        );
        assert_eq!(h264_to(H264Profile::MAIN, &CHROMIUM_156), Ok(114));
        // …and high through high 4:4:4 predictive (it does not list high).
        assert_eq!(h264_to(H264Profile::HIGH, &CHROMIUM_156), Ok(118));
        // A main stream goes to a peer with high only as high.
        assert_eq!(h264_to(H264Profile::MAIN, &["64001f"]), Ok(123));
    }

    #[test]
    fn an_h264_profile_the_peer_cannot_decode_is_refused_by_name() {
        let refusal = h264_to(H264Profile::HIGH, &["42e01f", "42001f"]).unwrap_err();
        assert!(
            refusal.contains("high (64001f) cannot be sent"),
            "{refusal}"
        );
        assert!(
            refusal.contains("constrained baseline (42e01f)"),
            "{refusal}"
        );
    }
}
