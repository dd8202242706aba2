//! What a recorder reports: files started, progress, gaps, errors, summaries.

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::codec::Codec;
use crate::media::{FrameDrops, StallReport};
use crate::signalling::MemberId;

/// Where one participant's recording stands.
#[derive(Debug, Clone, Default)]
pub struct ParticipantProgress {
    /// The participant.
    pub member: MemberId,
    /// Their display name.
    pub name: String,
    /// The file being written (`None` until the first frames can be written).
    pub path: Option<PathBuf>,
    /// Media time written so far.
    pub duration: Duration,
    /// Bytes in the file (whole clusters only).
    pub bytes: u64,
    /// Frames written.
    pub frames: u64,
    /// Losses seen on the participant's tracks (each may cost frames).
    pub gaps: u64,
    /// Video frames left out because they could not be decoded (waiting for
    /// a keyframe); the same as `frame_drops.waiting_for_keyframe`.
    pub dropped_frames: u64,
    /// Frames not in the file, by cause: lost packets or depacketization
    /// errors on the participant's tracks, and video frames the recorder
    /// left out while waiting for a keyframe.
    pub frame_drops: FrameDrops,
    /// Times one of the participant's tracks stalled (packets arriving, no
    /// usable frame for about a second; see [`RecorderEvent::TrackStalled`]).
    pub stalls: u64,
    /// Keyframe requests (PLI) sent.
    pub keyframe_requests: u64,
    /// Tracks placed by arrival time because no RTCP sender report came in
    /// time (their alignment with the other tracks is approximate).
    pub tracks_timed_by_arrival: u32,
}

/// One track of a finished recording.
#[derive(Debug, Clone)]
pub struct RecordedTrack {
    /// Id of the remote track.
    pub track_id: String,
    /// Codec written.
    pub codec: Codec,
    /// Frames written.
    pub frames: u64,
    /// Picture size of the first keyframe (video whose codec tells it).
    pub picture_size: Option<(u32, u32)>,
}

/// What a participant's recording holds once it is closed.
#[derive(Debug, Clone)]
pub struct RecordingSummary {
    /// Final progress figures.
    pub progress: ParticipantProgress,
    /// The tracks recorded.
    pub tracks: Vec<RecordedTrack>,
    /// Every file of the participant in order: one, or more when tracks
    /// joined after a file had started (`progress.path` is the last).
    pub files: Vec<PathBuf>,
    /// The write error that ended the recording early, if any.
    pub error: Option<String>,
}

/// Something that happened while recording.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RecorderEvent {
    /// A participant's file was created and its header written.
    FileStarted {
        /// The participant.
        member: MemberId,
        /// The file.
        path: PathBuf,
        /// Codecs of the tracks in it, in track order.
        codecs: Vec<Codec>,
    },
    /// Figures for one participant, about once a second.
    Progress(ParticipantProgress),
    /// Packets of a track were lost for good (frames may be missing there).
    Gap {
        /// The participant.
        member: MemberId,
        /// The track.
        track_id: String,
        /// Position in the participant's file (media time).
        at: Duration,
    },
    /// A participant's file was finished because they added a track after it
    /// started; the next part (another `FileStarted`) holds every track.
    PartFinished {
        /// The participant.
        member: MemberId,
        /// The finished file.
        path: PathBuf,
        /// Its duration.
        duration: Duration,
    },
    /// A participant's track keeps receiving packets but has given no usable
    /// frame for about a second; the recording of that track has a hole
    /// until it recovers. A video track asks the sender for a keyframe.
    TrackStalled(StallReport),
    /// A track is not in the participant's file.
    TrackSkipped {
        /// The participant.
        member: MemberId,
        /// The track.
        track_id: String,
        /// Why.
        reason: String,
    },
    /// Writing a participant's file failed (for example the disk is full).
    /// The file keeps everything written before the failure and stays
    /// valid; this participant's recording stops, the others go on.
    WriteFailed {
        /// The participant.
        member: MemberId,
        /// The file.
        path: PathBuf,
        /// Kind of the I/O error (`StorageFull` for a full disk).
        kind: std::io::ErrorKind,
        /// The error message.
        message: String,
    },
    /// A participant's recording is closed.
    Finished(RecordingSummary),
}

/// The stream of a recorder's events. Dropping it discards further events.
#[derive(Debug)]
pub struct RecorderEvents {
    pub(crate) rx: mpsc::UnboundedReceiver<RecorderEvent>,
}

impl RecorderEvents {
    /// The next event; `None` once the recorder has stopped and every event was read.
    pub async fn recv(&mut self) -> Option<RecorderEvent> {
        self.rx.recv().await
    }

    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Option<RecorderEvent> {
        self.rx.try_recv().ok()
    }
}
