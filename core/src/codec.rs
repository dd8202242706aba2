//! The codecs rtcgate sends and receives, and their RTP parameters.

use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodec, RtpCodecKind};

/// Kind of media a track carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// Audio.
    Audio,
    /// Video.
    Video,
}

impl MediaKind {
    pub(crate) fn to_rtc(self) -> RtpCodecKind {
        match self {
            MediaKind::Audio => RtpCodecKind::Audio,
            MediaKind::Video => RtpCodecKind::Video,
        }
    }

    /// Lower-case name (`audio`, `video`).
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
        }
    }
}

/// An encoded media codec rtcgate can carry without transcoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// Opus audio, 48 kHz.
    Opus,
    /// VP8 video.
    Vp8,
    /// VP9 video.
    Vp9,
    /// H.264 video (Annex-B byte stream in and out).
    H264,
    /// AV1 video (low-overhead OBU stream in and out).
    Av1,
}

impl Codec {
    /// Every supported codec.
    pub const ALL: [Codec; 5] = [Codec::Opus, Codec::Vp8, Codec::Vp9, Codec::H264, Codec::Av1];

    /// The RTP MIME type, as registered in the default media engine.
    pub fn mime_type(self) -> &'static str {
        match self {
            Codec::Opus => "audio/opus",
            Codec::Vp8 => "video/VP8",
            Codec::Vp9 => "video/VP9",
            Codec::H264 => "video/H264",
            Codec::Av1 => "video/AV1",
        }
    }

    /// Finds a codec by MIME type, ignoring case (`audio/OPUS` from GStreamer
    /// and `audio/opus` from Chromium are the same codec).
    pub fn from_mime_type(mime: &str) -> Option<Codec> {
        Codec::ALL
            .into_iter()
            .find(|codec| codec.mime_type().eq_ignore_ascii_case(mime))
    }

    /// Audio or video.
    pub fn kind(self) -> MediaKind {
        match self {
            Codec::Opus => MediaKind::Audio,
            _ => MediaKind::Video,
        }
    }

    /// RTP clock rate in Hz.
    pub fn clock_rate(self) -> u32 {
        match self {
            Codec::Opus => 48_000,
            _ => 90_000,
        }
    }

    /// Short lower-case name (`opus`, `vp8`, …).
    pub fn name(self) -> &'static str {
        match self {
            Codec::Opus => "opus",
            Codec::Vp8 => "vp8",
            Codec::Vp9 => "vp9",
            Codec::H264 => "h264",
            Codec::Av1 => "av1",
        }
    }

    /// Codec parameters for a local track, matching the default media engine.
    pub(crate) fn rtp_codec(self) -> RTCRtpCodec {
        let (channels, fmtp) = match self {
            Codec::Opus => (2, "minptime=10;useinbandfec=1"),
            Codec::Vp9 => (0, "profile-id=0"),
            Codec::H264 => (
                0,
                "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
            ),
            _ => (0, ""),
        };
        RTCRtpCodec {
            mime_type: self.mime_type().to_owned(),
            clock_rate: self.clock_rate(),
            channels,
            sdp_fmtp_line: fmtp.to_owned(),
            rtcp_feedback: vec![],
        }
    }
}

impl std::fmt::Display for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Codec {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Codec::ALL
            .into_iter()
            .find(|codec| codec.name().eq_ignore_ascii_case(s))
            .or_else(|| Codec::from_mime_type(s))
            .ok_or_else(|| crate::Error::unsupported_codec(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mime_lookup_ignores_case() {
        assert_eq!(Codec::from_mime_type("audio/OPUS"), Some(Codec::Opus));
        assert_eq!(Codec::from_mime_type("video/vp8"), Some(Codec::Vp8));
        assert_eq!(Codec::from_mime_type("video/H265"), None);
    }

    #[test]
    fn parses_names() {
        assert_eq!("H264".parse::<Codec>().unwrap(), Codec::H264);
        assert!("mp3".parse::<Codec>().is_err());
    }
}
