//! Reads the recordings back with `ffprobe`: codecs, packets per stream, and
//! how long the file plays (first to last packet time), so the comparison
//! only counts work that ended up in a file.

use std::path::{Path, PathBuf};
use std::process::Command;

/// One recorded file as FFmpeg's demuxer sees it.
#[derive(Debug, Clone, Default)]
pub struct FileReport {
    pub path: PathBuf,
    pub bytes: u64,
    /// Codec names in stream order (`opus`, `vp8`).
    pub codecs: Vec<String>,
    /// The video codec the file should hold.
    pub video_codec: &'static str,
    pub audio_packets: u64,
    pub video_packets: u64,
    /// Last packet time minus first packet time, seconds.
    pub span: f64,
    /// `format.duration` (written by the muxer on a clean stop), if any.
    pub duration: Option<f64>,
    /// ffprobe's complaint, when it could not read the file.
    pub error: Option<String>,
}

impl FileReport {
    pub fn plays(&self) -> bool {
        self.error.is_none()
            && self.codecs.iter().any(|c| c == self.video_codec)
            && self.codecs.iter().any(|c| c == "opus")
    }
}

/// Every `.webm`/`.mkv` file in `dir`, probed; video should be `video_codec`.
pub fn probe_dir(dir: &Path, video_codec: &'static str) -> Vec<FileReport> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.extension()
                        .is_some_and(|ext| ext == "webm" || ext == "mkv")
                })
                .collect()
        })
        .unwrap_or_default();
    paths.sort();
    paths
        .iter()
        .map(|p| FileReport {
            video_codec,
            ..probe(p)
        })
        .collect()
}

fn probe(path: &Path) -> FileReport {
    let mut report = FileReport {
        path: path.to_owned(),
        bytes: std::fs::metadata(path).map_or(0, |m| m.len()),
        ..Default::default()
    };
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-of", "json", "-show_entries"])
        .arg("format=duration:stream=index,codec_name,codec_type:packet=stream_index,pts_time")
        .arg(path)
        .output();
    let output = match output {
        Ok(output) => output,
        Err(e) => {
            report.error = Some(format!("ffprobe: {e}"));
            return report;
        }
    };
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    let json: serde_json::Value = match serde_json::from_slice(&output.stdout) {
        Ok(json) => json,
        Err(e) => {
            report.error = Some(format!("ffprobe output: {e}; {stderr}"));
            return report;
        }
    };
    if !output.status.success() {
        report.error = Some(stderr);
    }
    let mut kinds = Vec::new();
    for stream in json["streams"].as_array().into_iter().flatten() {
        report
            .codecs
            .push(stream["codec_name"].as_str().unwrap_or("?").to_owned());
        kinds.push(stream["codec_type"].as_str().unwrap_or("").to_owned());
    }
    let (mut first, mut last) = (f64::MAX, f64::MIN);
    for packet in json["packets"].as_array().into_iter().flatten() {
        let index = packet["stream_index"].as_u64().unwrap_or(0) as usize;
        match kinds.get(index).map(String::as_str) {
            Some("video") => report.video_packets += 1,
            Some("audio") => report.audio_packets += 1,
            _ => {}
        }
        if let Some(t) = packet["pts_time"]
            .as_str()
            .and_then(|t| t.parse::<f64>().ok())
        {
            first = first.min(t);
            last = last.max(t);
        }
    }
    report.span = if last >= first { last - first } else { 0.0 };
    report.duration = json["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok());
    report
}
