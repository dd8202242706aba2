//! [`H264Profile`]: an H.264 profile and level as SDP's `profile-level-id`
//! names them (RFC 6184 section 8.1), read from text or from a stream's SPS,
//! and which profiles a decoder of another profile can decode.

use std::fmt;

use super::bitstream::h264_nal_units;

/// An H.264 profile and level: `profile_idc`, the constraint flags byte
/// (`profile-iop`) and `level_idc`, as in `profile-level-id=42e01f`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct H264Profile {
    profile_idc: u8,
    constraints: u8,
    level_idc: u8,
}

/// The profile families that matter for decoding (RFC 6184 table 5, and
/// the profiles WebRTC stacks announce).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    ConstrainedBaseline,
    Baseline,
    Main,
    Extended,
    ConstrainedHigh,
    High,
    High10,
    High422,
    High444,
    Other,
}

impl H264Profile {
    /// Constrained baseline, level 3.1 (`42e01f`): what every WebRTC stack
    /// takes, and what a [`LocalTrack`](super::LocalTrack) announces by default.
    pub const CONSTRAINED_BASELINE: H264Profile = H264Profile::new(0x42, 0xe0, 0x1f);
    /// Baseline, level 3.1 (`42001f`).
    pub const BASELINE: H264Profile = H264Profile::new(0x42, 0x00, 0x1f);
    /// Main, level 3.1 (`4d001f`).
    pub const MAIN: H264Profile = H264Profile::new(0x4d, 0x00, 0x1f);
    /// High, level 3.1 (`64001f`): what x264 and most hardware encoders make.
    pub const HIGH: H264Profile = H264Profile::new(0x64, 0x00, 0x1f);
    /// Constrained high, level 3.1 (`640c1f`).
    pub const CONSTRAINED_HIGH: H264Profile = H264Profile::new(0x64, 0x0c, 0x1f);
    /// High 4:4:4 Predictive, level 3.1 (`f4001f`): Chromium decodes it (and
    /// with it every high-profile stream) but does not announce plain high.
    pub const HIGH_444: H264Profile = H264Profile::new(0xf4, 0x00, 0x1f);

    const fn new(profile_idc: u8, constraints: u8, level_idc: u8) -> Self {
        Self {
            profile_idc,
            constraints,
            level_idc,
        }
    }

    /// Parses a `profile-level-id` (six hex digits, any case).
    pub fn from_profile_level_id(text: &str) -> Option<H264Profile> {
        let text = text.trim();
        if text.len() != 6 || !text.is_ascii() {
            return None;
        }
        let byte = |i: usize| u8::from_str_radix(&text[i..i + 2], 16).ok();
        Some(H264Profile::new(byte(0)?, byte(2)?, byte(4)?))
    }

    /// The profile of the first sequence parameter set in `data`: an
    /// Annex-B stream (an access unit with its SPS), or one SPS NAL unit.
    pub fn from_sps(data: &[u8]) -> Option<H264Profile> {
        let from_nal = |nal: &[u8]| -> Option<H264Profile> {
            (nal.first()? & 0x1f == 7).then_some(())?;
            Some(H264Profile::new(*nal.get(1)?, *nal.get(2)?, *nal.get(3)?))
        };
        h264_nal_units(data)
            .find_map(from_nal)
            .or_else(|| from_nal(data))
    }

    /// Parses a GStreamer caps `profile` name (`constrained-baseline`,
    /// `baseline`, `main`, `high`, `constrained-high`, `high-4:4:4`, …) and
    /// `level` (`3.1`, `4`, `1b`, …; level 3.1 without one).
    pub fn from_names(profile: &str, level: Option<&str>) -> Option<H264Profile> {
        let base = match profile {
            "constrained-baseline" => Self::CONSTRAINED_BASELINE,
            "baseline" => Self::BASELINE,
            "main" => Self::MAIN,
            "high" | "progressive-high" => Self::HIGH,
            "constrained-high" => Self::CONSTRAINED_HIGH,
            "high-4:4:4" | "high-4:4:4-intra" => Self::HIGH_444,
            "high-10" | "high-10-intra" => H264Profile::new(0x6e, 0x00, 0x1f),
            "high-4:2:2" | "high-4:2:2-intra" => H264Profile::new(0x7a, 0x00, 0x1f),
            _ => return None,
        };
        let level_idc = match level {
            None => 0x1f,
            Some("1b") => 0x0b,
            Some(level) => {
                let value: f32 = level.parse().ok()?;
                (value * 10.0).round() as u8
            }
        };
        Some(H264Profile { level_idc, ..base })
    }

    /// The six hex digits of `profile-level-id` (lower case).
    pub fn profile_level_id(&self) -> String {
        format!(
            "{:02x}{:02x}{:02x}",
            self.profile_idc, self.constraints, self.level_idc
        )
    }

    /// The same profile at another level.
    pub const fn with_level(self, level_idc: u8) -> H264Profile {
        H264Profile::new(self.profile_idc, self.constraints, level_idc)
    }

    /// The profile's name (`constrained baseline`, `main`, `high`, …).
    pub fn name(&self) -> &'static str {
        match self.family() {
            Family::ConstrainedBaseline => "constrained baseline",
            Family::Baseline => "baseline",
            Family::Main => "main",
            Family::Extended => "extended",
            Family::ConstrainedHigh => "constrained high",
            Family::High => "high",
            Family::High10 => "high 10",
            Family::High422 => "high 4:2:2",
            Family::High444 => "high 4:4:4 predictive",
            Family::Other => "unknown",
        }
    }

    /// Whether a decoder of this profile decodes streams of `stream`'s
    /// profile (H.264 annex A.2: constrained baseline streams are main and
    /// high streams too; high decoders take main streams; the high 4:4:4,
    /// 4:2:2 and 10 decoders take high streams). The level is not compared:
    /// WebRTC stacks announce `level-asymmetry-allowed=1`.
    pub fn decodes(&self, stream: &H264Profile) -> bool {
        use Family::*;
        let (decoder, stream) = (self.family(), stream.family());
        if decoder == stream && decoder != Other {
            return true;
        }
        match decoder {
            Baseline | Main | Extended | ConstrainedHigh => stream == ConstrainedBaseline,
            High => matches!(stream, ConstrainedBaseline | Main | ConstrainedHigh),
            High10 => matches!(stream, ConstrainedBaseline | Main | ConstrainedHigh | High),
            High422 | High444 => {
                matches!(
                    stream,
                    ConstrainedBaseline | Main | ConstrainedHigh | High | High10
                ) || (decoder == High444 && stream == High422)
            }
            ConstrainedBaseline | Other => false,
        }
    }

    fn family(&self) -> Family {
        let set = |n: u8| self.constraints & (0x80 >> n) != 0;
        match self.profile_idc {
            0x42 if set(1) => Family::ConstrainedBaseline,
            0x4d | 0x58 if set(0) && set(1) => Family::ConstrainedBaseline,
            0x42 => Family::Baseline,
            0x4d => Family::Main,
            0x58 => Family::Extended,
            0x64 if set(4) && set(5) => Family::ConstrainedHigh,
            0x64 => Family::High,
            0x6e => Family::High10,
            0x7a => Family::High422,
            0xf4 => Family::High444,
            _ => Family::Other,
        }
    }
}

impl fmt::Display for H264Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.profile_level_id())
    }
}

impl std::str::FromStr for H264Profile {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        H264Profile::from_profile_level_id(s).ok_or_else(|| {
            crate::Error::invalid_argument(format!(
                "H.264 profile-level-id must be six hex digits (like 42e01f), not {s:?}"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> H264Profile {
        text.parse().unwrap()
    }

    #[test]
    fn names_and_text() {
        assert_eq!(p("42E01F"), H264Profile::CONSTRAINED_BASELINE);
        assert_eq!(p("42e01f").name(), "constrained baseline");
        assert_eq!(p("42001f").name(), "baseline");
        assert_eq!(p("4d001f").name(), "main");
        assert_eq!(p("4d401f").name(), "main");
        assert_eq!(p("4dc01f").name(), "constrained baseline");
        assert_eq!(p("640c1f").name(), "constrained high");
        assert_eq!(p("640032").to_string(), "high (640032)");
        assert!("42e01".parse::<H264Profile>().is_err());
        assert!("zze01f".parse::<H264Profile>().is_err());
        assert_eq!(
            H264Profile::from_names("high", Some("4")),
            Some(p("640028"))
        );
        assert_eq!(H264Profile::from_names("main", None), Some(p("4d001f")));
        assert_eq!(
            H264Profile::from_names("constrained-baseline", Some("3.1")),
            Some(H264Profile::CONSTRAINED_BASELINE)
        );
    }

    #[test]
    fn read_from_the_sps_of_an_access_unit() {
        let clip = crate::media::Clip::open(format!(
            "{}/../examples/media/testsrc-h264.h264",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let keyframe = clip.samples(0).next().unwrap().data;
        let profile = H264Profile::from_sps(&keyframe).expect("an SPS");
        assert_eq!(profile.name(), "constrained baseline");
        // One SPS NAL unit on its own (no start code).
        assert_eq!(
            H264Profile::from_sps(&[0x67, 0x64, 0x00, 0x1f, 0xac]),
            Some(p("64001f"))
        );
        assert_eq!(H264Profile::from_sps(&[0x65, 0x88, 0x80]), None);
    }

    #[test]
    fn which_decoders_take_which_streams() {
        let high = H264Profile::HIGH;
        assert!(high.decodes(&p("640028")), "another level");
        assert!(high.decodes(&H264Profile::MAIN));
        assert!(high.decodes(&H264Profile::CONSTRAINED_BASELINE));
        assert!(
            !high.decodes(&H264Profile::BASELINE),
            "baseline has FMO/ASO"
        );
        assert!(H264Profile::HIGH_444.decodes(&high));
        assert!(!H264Profile::MAIN.decodes(&high));
        assert!(!H264Profile::CONSTRAINED_BASELINE.decodes(&H264Profile::MAIN));
        assert!(H264Profile::BASELINE.decodes(&H264Profile::CONSTRAINED_BASELINE));
        assert!(H264Profile::MAIN.decodes(&H264Profile::CONSTRAINED_BASELINE));
    }
}
