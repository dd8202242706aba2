//! Reads recordings back with real demuxers and decoders (FFmpeg's ffprobe
//! and ffmpeg, from Debian's `ffmpeg` package).

use std::path::Path;
use std::process::Command;

/// One packet of a file, as ffprobe demuxed it.
#[derive(Debug, Clone)]
pub struct ProbedPacket {
    /// Codec name of the packet's stream (`opus`, `vp8`, `h264`, ...).
    pub codec: String,
    /// Presentation time in seconds.
    pub pts: f64,
    /// True for keyframes.
    pub keyframe: bool,
    /// The payload (only when asked for).
    pub data: Vec<u8>,
}

fn ffprobe_json(path: &Path, args: &[&str]) -> serde_json::Value {
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-of", "json"])
        .args(args)
        .arg(path)
        .output()
        .expect("run ffprobe (Debian package ffmpeg)");
    assert!(
        output.status.success(),
        "ffprobe {} failed: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("ffprobe JSON")
}

/// Codec names of the file's streams, in order.
pub fn stream_codecs(path: &Path) -> Vec<String> {
    let json = ffprobe_json(path, &["-show_streams"]);
    json["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .map(|s| s["codec_name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Every packet of the file in file order (with payloads when `data`).
pub fn packets(path: &Path, data: bool) -> Vec<ProbedPacket> {
    let codecs = stream_codecs(path);
    let mut args = vec!["-show_packets"];
    if data {
        args.push("-show_data");
    }
    let json = ffprobe_json(path, &args);
    json["packets"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|p| ProbedPacket {
            codec: codecs[p["stream_index"].as_u64().unwrap() as usize].clone(),
            pts: p["pts_time"].as_str().unwrap_or("0").parse().unwrap_or(0.0),
            keyframe: p["flags"].as_str().unwrap_or_default().starts_with('K'),
            data: p["data"].as_str().map(parse_hexdump).unwrap_or_default(),
        })
        .collect()
}

/// ffprobe's `-show_data` hexdump ("00000000: 0102 0304 ...  ascii") to bytes.
fn parse_hexdump(dump: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for line in dump.lines() {
        let Some((_, rest)) = line.split_once(": ") else {
            continue;
        };
        // 8 groups of 4 hex digits, then two spaces and the ASCII column.
        let hex: String = rest
            .chars()
            .take(40)
            .filter(|c| c.is_ascii_hexdigit())
            .collect();
        for pair in hex.as_bytes().chunks(2) {
            if pair.len() == 2 {
                out.push(u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap());
            }
        }
    }
    out
}

/// Decodes every frame of every stream with ffmpeg, stopping at the first
/// error; returns the number of frames decoded per codec, or ffmpeg's errors.
pub fn decode_all(path: &Path) -> Result<Vec<(String, u64)>, String> {
    let output = Command::new("ffmpeg")
        .args(["-v", "error", "-xerror", "-i"])
        .arg(path)
        // Keep the file's millisecond time base: FFmpeg 5.1 otherwise rounds
        // a variable-frame-rate stream onto 1/guessed-fps ticks and rejects
        // two real frames closer than one tick as "non monotonic DTS".
        .args(["-enc_time_base", "-1", "-f", "null", "-"])
        .output()
        .expect("run ffmpeg");
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    if !output.status.success() || !stderr.trim().is_empty() {
        return Err(stderr);
    }
    let json = ffprobe_json(path, &["-count_frames", "-show_streams"]);
    Ok(json["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .map(|s| {
            (
                s["codec_name"].as_str().unwrap_or_default().to_owned(),
                s["nb_read_frames"]
                    .as_str()
                    .unwrap_or("0")
                    .parse()
                    .unwrap_or(0),
            )
        })
        .collect())
}

/// Picture widths of the decoded video frames, in order.
pub fn decoded_widths(path: &Path) -> Vec<u64> {
    let json = ffprobe_json(
        path,
        &[
            "-select_streams",
            "v",
            "-show_frames",
            "-show_entries",
            "frame=width",
        ],
    );
    json["frames"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|f| f["width"].as_u64())
        .collect()
}

/// Time of the last packet of the file plus nothing: how far the file plays.
pub fn last_pts(path: &Path) -> f64 {
    packets(path, false)
        .iter()
        .map(|p| p.pts)
        .fold(0.0, f64::max)
}

/// Every frame of the file decodes, both tracks are there, and no video
/// packet was left undecoded.
pub fn assert_plays(path: &Path, codecs: &[&str]) -> Vec<(String, u64)> {
    let mut found = stream_codecs(path);
    found.sort();
    let mut want: Vec<String> = codecs.iter().map(|c| c.to_string()).collect();
    want.sort();
    assert_eq!(found, want, "{}", path.display());
    let decoded =
        decode_all(path).unwrap_or_else(|e| panic!("{} does not decode: {e}", path.display()));
    let all = packets(path, false);
    for (codec, frames) in &decoded {
        let count = all.iter().filter(|p| &p.codec == codec).count() as u64;
        assert_eq!(
            *frames,
            count,
            "{codec}: every packet of {} decodes to a frame",
            path.display()
        );
    }
    decoded
}

/// The duration a file's header declares (`None` for a file cut short,
/// whose duration a player has to find by reading it).
pub fn format_duration(path: &Path) -> Option<f64> {
    let output = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format_tags:format=duration",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .expect("run ffprobe");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).ok()?;
    json["format"]["duration"].as_str()?.parse().ok()
}

/// The MD5 of every decoded video picture, in order, with `decoder` (an
/// FFmpeg decoder name: `vp9`, `libvpx-vp9`, …), at the file's own
/// timestamps; panics when a frame fails to decode.
pub fn picture_hashes(path: &Path, decoder: &str) -> Vec<String> {
    let output = Command::new("ffmpeg")
        .args(["-v", "error", "-xerror", "-c:v", decoder, "-i"])
        .arg(path)
        .args([
            "-map",
            "0:v",
            "-fps_mode",
            "passthrough",
            "-enc_time_base",
            "-1",
        ])
        .args(["-f", "framemd5", "-"])
        .output()
        .expect("run ffmpeg");
    assert!(
        output.status.success(),
        "{decoder} cannot decode {}: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit(',').next().map(|h| h.trim().to_owned()))
        .collect()
}
