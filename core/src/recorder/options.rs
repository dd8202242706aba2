//! [`RecorderOptions`]: where and how a recorder writes.

use std::path::PathBuf;
use std::time::Duration;

/// How a [`Recorder`](super::Recorder) records.
///
/// Start from [`RecorderOptions::new`] (defaults, writing into a folder) and
/// change what you need with the `with_*` methods or the public fields.
///
/// ```
/// use std::time::Duration;
/// use rtcgate_core::recorder::RecorderOptions;
///
/// let options = RecorderOptions::new("recordings").with_latency(Duration::from_millis(400));
/// assert_eq!(options.latency, Duration::from_millis(400));
/// assert_eq!(options.keyframe_interval, Duration::from_secs(1), "the rest keeps its defaults");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RecorderOptions {
    /// Folder for the files (created if missing). One file per participant:
    /// `<display name>-<member id>.webm` (`.mkv` when the participant sends H.264).
    pub folder: PathBuf,
    /// How long a missing packet is waited for (NACK retransmission) before
    /// the frames after it are written without it. Bounds the recording latency.
    pub latency: Duration,
    /// While a video track waits for a keyframe (start, or after a loss that
    /// could not be repaired), a keyframe request (PLI) goes out this often.
    pub keyframe_interval: Duration,
    /// The longest time written media stays in memory: clusters are closed
    /// and handed to the kernel at least this often.
    pub flush_interval: Duration,
    /// How long a track's frames wait for the sender's first RTCP sender
    /// report (needed to align audio and video) before arrival times are used.
    pub report_wait: Duration,
    /// How long a participant's file waits for all their tracks to be ready
    /// (video: a first keyframe) before it starts with the tracks that are.
    pub start_wait: Duration,
    /// How many spatial layers of scalable VP9 or AV1 (SVC) are written, from the
    /// lowest: `Some(1)` writes only the lowest resolution; `None` (the
    /// default) every layer the sender sends, so the file has the sender's
    /// full resolution. The VP9 layers of a picture are written as one
    /// superframe in which only the top one is shown; an AV1 temporal unit
    /// keeps the OBUs of the layers chosen. Temporal layers are always all
    /// kept.
    pub spatial_layers: Option<u8>,
}

impl RecorderOptions {
    /// Defaults, writing into `folder`.
    pub fn new(folder: impl Into<PathBuf>) -> Self {
        Self {
            folder: folder.into(),
            latency: Duration::from_millis(200),
            keyframe_interval: Duration::from_secs(1),
            flush_interval: Duration::from_millis(500),
            report_wait: Duration::from_secs(3),
            start_wait: Duration::from_secs(5),
            spatial_layers: None,
        }
    }
}

impl RecorderOptions {
    /// Sets how long a missing packet is waited for.
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Sets how often a keyframe is requested while a video track waits for one.
    pub fn with_keyframe_interval(mut self, interval: Duration) -> Self {
        self.keyframe_interval = interval;
        self
    }

    /// Sets the longest time written media stays in memory.
    pub fn with_flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval = interval;
        self
    }

    /// Sets how long frames wait for the sender's first RTCP sender report.
    pub fn with_report_wait(mut self, wait: Duration) -> Self {
        self.report_wait = wait;
        self
    }

    /// Sets how long a file waits for all of a participant's tracks.
    pub fn with_start_wait(mut self, wait: Duration) -> Self {
        self.start_wait = wait;
        self
    }

    /// Sets how many spatial layers of scalable VP9 or AV1 are written
    /// (`None`: all the sender sends).
    pub fn with_spatial_layers(mut self, layers: Option<u8>) -> Self {
        self.spatial_layers = layers;
        self
    }
}
