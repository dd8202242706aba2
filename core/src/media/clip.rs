//! [`Clip`]: a short encoded clip read from a file (IVF for VP8/VP9/AV1, Ogg
//! for Opus, Annex-B for H.264) and played into a [`LocalTrack`] in real time,
//! looping, as a test-pattern source.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;

use super::frame::MediaSample;
use super::local_track::LocalTrack;
use crate::codec::Codec;
use crate::error::{Error, Result};

/// Frame interval assumed for raw H.264 files, which carry no timing.
const H264_FRAME_INTERVAL: Duration = Duration::from_nanos(33_333_333);

/// The encoded frames of a clip with their presentation times.
#[derive(Debug, Clone)]
pub struct Clip {
    codec: Codec,
    frames: Vec<(Bytes, Duration)>,
    duration: Duration,
}

impl Clip {
    /// Reads a clip; the format is taken from the extension (`.ivf`, `.ogg`/`.opus`, `.h264`).
    pub fn open(path: impl AsRef<Path>) -> Result<Clip> {
        let path = path.as_ref();
        let data = std::fs::read(path)?;
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        match ext.as_str() {
            "ivf" => Clip::from_ivf(&data),
            "ogg" | "opus" => Clip::from_ogg_opus(&data),
            "h264" | "264" => Clip::from_h264(&data),
            _ => Err(Error::invalid_argument(format!(
                "unknown clip format: {}",
                path.display()
            ))),
        }
    }

    /// Parses an IVF file (VP8, VP9 or AV1).
    pub fn from_ivf(data: &[u8]) -> Result<Clip> {
        let bad = |what: &str| Error::invalid_argument(format!("invalid IVF: {what}"));
        if data.len() < 32 || &data[0..4] != b"DKIF" {
            return Err(bad("missing DKIF header"));
        }
        let codec = match &data[8..12] {
            b"VP80" => Codec::Vp8,
            b"VP90" => Codec::Vp9,
            b"AV01" => Codec::Av1,
            other => {
                return Err(Error::unsupported_codec(
                    String::from_utf8_lossy(other).into_owned(),
                ));
            }
        };
        let header_len = usize::from(u16::from_le_bytes([data[6], data[7]]));
        let rate = u64::from(u32::from_le_bytes(
            data[16..20].try_into().unwrap_or_default(),
        ));
        let scale = u64::from(u32::from_le_bytes(
            data[20..24].try_into().unwrap_or_default(),
        ));
        if rate == 0 || scale == 0 {
            return Err(bad("zero time base"));
        }
        let mut frames = Vec::new();
        let mut pos = header_len.max(32);
        while pos + 12 <= data.len() {
            let size =
                u32::from_le_bytes(data[pos..pos + 4].try_into().unwrap_or_default()) as usize;
            let pts = u64::from_le_bytes(data[pos + 4..pos + 12].try_into().unwrap_or_default());
            pos += 12;
            let frame = data
                .get(pos..pos + size)
                .ok_or_else(|| bad("truncated frame"))?;
            pos += size;
            let time = Duration::from_nanos(
                pts.saturating_mul(scale).saturating_mul(1_000_000_000) / rate,
            );
            frames.push((Bytes::copy_from_slice(frame), time));
        }
        let interval = Duration::from_nanos(scale * 1_000_000_000 / rate);
        Clip::new(codec, frames, interval)
    }

    /// Parses an Ogg Opus file: one Opus packet per sample, 20 ms assumed per packet
    /// unless the packet's TOC says otherwise.
    pub fn from_ogg_opus(data: &[u8]) -> Result<Clip> {
        let mut frames = Vec::new();
        let mut time = Duration::ZERO;
        for packet in ogg_packets(data)? {
            if packet.starts_with(b"OpusHead") || packet.starts_with(b"OpusTags") {
                continue;
            }
            let duration = opus_packet_duration(&packet);
            frames.push((Bytes::from(packet), time));
            time += duration;
        }
        Clip::new(Codec::Opus, frames, Duration::from_millis(20))
    }

    /// Parses an H.264 Annex-B stream into access units at 30 fps.
    pub fn from_h264(data: &[u8]) -> Result<Clip> {
        let units = h264_access_units(data);
        let frames = units
            .into_iter()
            .enumerate()
            .map(|(i, unit)| (Bytes::copy_from_slice(unit), H264_FRAME_INTERVAL * i as u32))
            .collect();
        Clip::new(Codec::H264, frames, H264_FRAME_INTERVAL)
    }

    fn new(codec: Codec, frames: Vec<(Bytes, Duration)>, interval: Duration) -> Result<Clip> {
        let last = frames
            .last()
            .ok_or_else(|| Error::invalid_argument("clip has no frames"))?;
        let duration = last.1 + interval;
        Ok(Clip {
            codec,
            frames,
            duration,
        })
    }

    /// Codec of the clip.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// True when the clip has no frames (never, for a clip that opened).
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Length of one pass through the clip.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// The samples of pass `lap` (0-based), timestamps continuing across laps.
    pub fn samples(&self, lap: u32) -> impl Iterator<Item = MediaSample> + '_ {
        let offset = self.duration * lap;
        self.frames
            .iter()
            .map(move |(data, time)| MediaSample::new(data.clone(), offset + *time))
    }

    /// Plays the clip into `track` in real time, `laps` times (`None`: forever).
    pub async fn play(&self, track: &LocalTrack, laps: Option<u32>) -> Result<()> {
        if track.codec() != self.codec {
            return Err(Error::invalid_argument(format!(
                "clip is {} but the track is {}",
                self.codec,
                track.codec()
            )));
        }
        let start = tokio::time::Instant::now();
        let mut lap = 0;
        while laps.is_none_or(|n| lap < n) {
            for sample in self.samples(lap) {
                tokio::time::sleep_until(start + sample.timestamp).await;
                track.write_sample(&sample).await?;
            }
            lap += 1;
        }
        Ok(())
    }
}

/// Splits an Ogg stream into packets (lacing values joined across pages).
fn ogg_packets(data: &[u8]) -> Result<Vec<Vec<u8>>> {
    let bad = |what: &str| Error::invalid_argument(format!("invalid Ogg: {what}"));
    let mut packets = Vec::new();
    let mut current = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let header = data
            .get(pos..pos + 27)
            .ok_or_else(|| bad("truncated page header"))?;
        if &header[0..4] != b"OggS" {
            return Err(bad("missing capture pattern"));
        }
        let segments = usize::from(header[26]);
        let table = data
            .get(pos + 27..pos + 27 + segments)
            .ok_or_else(|| bad("truncated segment table"))?;
        let mut body = pos + 27 + segments;
        for &lacing in table {
            let len = usize::from(lacing);
            current.extend_from_slice(
                data.get(body..body + len)
                    .ok_or_else(|| bad("truncated segment"))?,
            );
            body += len;
            if lacing < 255 {
                packets.push(std::mem::take(&mut current));
            }
        }
        pos = body;
    }
    Ok(packets)
}

/// Duration of an Opus packet from its TOC byte (RFC 6716 §3.1).
fn opus_packet_duration(packet: &[u8]) -> Duration {
    let Some(&toc) = packet.first() else {
        return Duration::from_millis(20);
    };
    let config = toc >> 3;
    let frame_us: u64 = match config {
        0..=11 => [10_000, 20_000, 40_000, 60_000][usize::from(config % 4)],
        12..=15 => [10_000, 20_000][usize::from(config % 2)],
        _ => [2_500, 5_000, 10_000, 20_000][usize::from(config % 4)],
    };
    let frames: u64 = match toc & 0x03 {
        0 => 1,
        1 | 2 => 2,
        _ => packet.get(1).map_or(1, |b| u64::from(b & 0x3f)),
    };
    Duration::from_micros(frame_us * frames)
}

/// Groups the NAL units of an Annex-B stream into access units.
fn h264_access_units(data: &[u8]) -> Vec<&[u8]> {
    let starts = nal_starts(data);
    let mut units = Vec::new();
    let mut unit_start: Option<usize> = None;
    let mut has_vcl = false;
    for (i, &(prefix, nal)) in starts.iter().enumerate() {
        let nal_type = data[nal] & 0x1f;
        let is_vcl = matches!(nal_type, 1 | 5);
        let first_slice = is_vcl && data.get(nal + 1).is_some_and(|b| b & 0x80 != 0);
        let begins_unit = has_vcl && (matches!(nal_type, 6..=9) || first_slice);
        if begins_unit {
            if let Some(start) = unit_start {
                units.push(&data[start..prefix]);
            }
            unit_start = Some(prefix);
            has_vcl = false;
        }
        unit_start.get_or_insert(prefix);
        has_vcl |= is_vcl;
        if i + 1 == starts.len() && has_vcl {
            units.push(&data[unit_start.unwrap_or(prefix)..]);
        }
    }
    units
}

/// (start-code offset, NAL header offset) of every NAL unit.
fn nal_starts(data: &[u8]) -> Vec<(usize, usize)> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            let prefix = if i > 0 && data[i - 1] == 0 { i - 1 } else { i };
            if i + 3 < data.len() {
                starts.push((prefix, i + 3));
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    starts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::keyframe::is_keyframe;

    fn clip(name: &str) -> Clip {
        Clip::open(format!(
            "{}/../examples/media/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn reads_every_shipped_clip() {
        for (name, codec, frames) in [
            ("testsrc-vp8.ivf", Codec::Vp8, 150),
            ("testsrc-vp9.ivf", Codec::Vp9, 150),
            ("testsrc-av1.ivf", Codec::Av1, 150),
            ("testsrc-h264.h264", Codec::H264, 150),
            ("testsrc-opus.ogg", Codec::Opus, 251),
        ] {
            let c = clip(name);
            assert_eq!(c.codec(), codec, "{name}");
            assert_eq!(c.len(), frames, "{name}");
            let keys: Vec<usize> = c
                .samples(0)
                .enumerate()
                .filter(|(_, s)| is_keyframe(codec, &s.data))
                .map(|(i, _)| i)
                .collect();
            if codec != Codec::Opus {
                assert_eq!(keys, vec![0, 30, 60, 90, 120], "{name} keyframes");
            }
            let secs = c.duration().as_secs_f64();
            assert!((4.9..5.1).contains(&secs), "{name}: {secs}s");
        }
    }

    #[test]
    fn laps_continue_the_timeline() {
        let c = clip("testsrc-vp8.ivf");
        let first_of_second_lap = c.samples(1).next().unwrap();
        assert_eq!(first_of_second_lap.timestamp, c.duration());
    }

    #[test]
    fn rejects_garbage() {
        assert!(Clip::from_ivf(b"not an ivf file at all, clearly not").is_err());
        assert!(Clip::from_ogg_opus(b"OggS").is_err());
    }
}
