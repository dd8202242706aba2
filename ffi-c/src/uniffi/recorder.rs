//! [`Recorder`]: a call's participants to files, without transcoding.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rtcgate_core::recorder::{
    ParticipantProgress, RecorderEvent as CoreEvent, RecorderEvents, RecorderOptions,
    RecordingSummary as CoreSummary,
};

use super::call::{Call, CallConfig};
use super::remote_track::{FrameDrops, StallReport};
use super::{Codec, Result, RtcgateError, Subscription, invalid, notify, on_runtime, subscribe};

/// Where and how a recorder writes.
#[derive(Debug, Clone, uniffi::Record)]
pub struct RecorderConfig {
    /// Folder for the files (created if missing): one file per participant,
    /// `<name>-<member id>.webm` (`.mkv` with H.264).
    pub folder: String,
    /// How long a missing packet is waited for before writing without it, ms.
    #[uniffi(default = 200)]
    pub latency_ms: u32,
    /// How many spatial layers of scalable VP9 or AV1 (SVC) to write, from the
    /// lowest (1: the lowest resolution only); `None`: all the sender sends.
    #[uniffi(default = None)]
    pub spatial_layers: Option<u8>,
}

impl RecorderConfig {
    fn to_options(&self) -> Result<RecorderOptions> {
        if self.folder.is_empty() {
            return Err(invalid("recorder folder must not be empty"));
        }
        let mut options = RecorderOptions::new(&self.folder);
        options.latency = Duration::from_millis(u64::from(self.latency_ms.max(1)));
        if self.spatial_layers == Some(0) {
            return Err(invalid("spatial_layers must be at least 1 (None: all)"));
        }
        options.spatial_layers = self.spatial_layers;
        Ok(options)
    }
}

/// One track of a finished recording.
#[derive(Debug, Clone, uniffi::Record)]
pub struct RecordedTrack {
    /// The remote track's id.
    pub track_id: String,
    /// Its codec.
    pub codec: Codec,
    /// Frames written.
    pub frames: u64,
}

/// What one participant's recording holds once it is closed.
#[derive(Debug, Clone, uniffi::Record)]
pub struct RecordingSummary {
    /// The participant's member id.
    pub member_id: String,
    /// Their display name.
    pub name: String,
    /// Every file of the participant, in order (more than one when tracks
    /// joined after a file had started).
    pub files: Vec<String>,
    /// Media time written, ms.
    pub duration_ms: u64,
    /// Bytes in the last file.
    pub bytes: u64,
    /// Frames written.
    pub frames: u64,
    /// Losses seen.
    pub gaps: u64,
    /// Frames not in the file, by cause.
    pub frame_drops: FrameDrops,
    /// Times a track stalled.
    pub stalls: u64,
    /// The tracks recorded.
    pub tracks: Vec<RecordedTrack>,
    /// The write error that ended the recording early, if any.
    pub error: Option<String>,
}

impl From<CoreSummary> for RecordingSummary {
    fn from(summary: CoreSummary) -> Self {
        let ParticipantProgress {
            member,
            name,
            duration,
            bytes,
            frames,
            gaps,
            frame_drops,
            stalls,
            ..
        } = summary.progress;
        RecordingSummary {
            member_id: member,
            name,
            files: summary
                .files
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect(),
            duration_ms: millis(duration),
            bytes,
            frames,
            gaps,
            frame_drops: frame_drops.into(),
            stalls,
            tracks: summary
                .tracks
                .into_iter()
                .map(|t| RecordedTrack {
                    track_id: t.track_id,
                    codec: t.codec.into(),
                    frames: t.frames,
                })
                .collect(),
            error: summary.error,
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Something that happened while recording.
#[derive(Debug, Clone, uniffi::Enum)]
pub enum RecorderEvent {
    /// A participant's file was created.
    FileStarted {
        /// The participant.
        member_id: String,
        /// The file.
        path: String,
        /// Codecs of its tracks.
        codecs: Vec<Codec>,
    },
    /// Figures for one participant, about once a second.
    Progress {
        /// The participant.
        member_id: String,
        /// Media time written, ms.
        duration_ms: u64,
        /// Bytes in the file.
        bytes: u64,
        /// Frames written.
        frames: u64,
        /// Frames not in the file, by cause.
        frame_drops: FrameDrops,
        /// Times a track stalled.
        stalls: u64,
    },
    /// Packets of a track were lost for good.
    Gap {
        /// The participant.
        member_id: String,
        /// The track.
        track_id: String,
        /// Position in the file, ms.
        at_ms: u64,
    },
    /// A track is not in the participant's file.
    TrackSkipped {
        /// The participant.
        member_id: String,
        /// The track.
        track_id: String,
        /// Why.
        reason: String,
    },
    /// Writing failed (e.g. a full disk); the file keeps what was written.
    WriteFailed {
        /// The participant.
        member_id: String,
        /// The file.
        path: String,
        /// The error.
        message: String,
    },
    /// A participant's track keeps receiving packets but gave no usable
    /// frame for about a second: the file has a hole there until it recovers.
    TrackStalled {
        /// What was dropped and why.
        report: StallReport,
    },
    /// A participant's recording is closed.
    Finished {
        /// What it holds.
        summary: RecordingSummary,
    },
}

impl RecorderEvent {
    fn from_core(event: CoreEvent) -> Option<RecorderEvent> {
        Some(match event {
            CoreEvent::FileStarted {
                member,
                path,
                codecs,
            } => RecorderEvent::FileStarted {
                member_id: member,
                path: path.to_string_lossy().into_owned(),
                codecs: codecs.into_iter().map(Into::into).collect(),
            },
            CoreEvent::Progress(p) => RecorderEvent::Progress {
                member_id: p.member,
                duration_ms: millis(p.duration),
                bytes: p.bytes,
                frames: p.frames,
                frame_drops: p.frame_drops.into(),
                stalls: p.stalls,
            },
            CoreEvent::Gap {
                member,
                track_id,
                at,
            } => RecorderEvent::Gap {
                member_id: member,
                track_id,
                at_ms: millis(at),
            },
            CoreEvent::TrackSkipped {
                member,
                track_id,
                reason,
            } => RecorderEvent::TrackSkipped {
                member_id: member,
                track_id,
                reason,
            },
            CoreEvent::WriteFailed {
                member,
                path,
                message,
                ..
            } => RecorderEvent::WriteFailed {
                member_id: member,
                path: path.to_string_lossy().into_owned(),
                message,
            },
            CoreEvent::TrackStalled(report) => RecorderEvent::TrackStalled {
                report: report.into(),
            },
            CoreEvent::Finished(summary) => RecorderEvent::Finished {
                summary: summary.into(),
            },
            _ => return None,
        })
    }
}

/// Receives a recorder's events, in order, on a library thread (`rtcgate-recorder`).
#[uniffi::export(with_foreign)]
pub trait RecorderListener: Send + Sync {
    /// One event.
    fn on_event(&self, event: RecorderEvent);
}

/// Records a room: one file per participant (WebM, or Matroska with H.264).
/// Stop it with [`stop`](Self::stop); a recorder closed without it is
/// stopped in the background.
#[derive(uniffi::Object)]
pub struct Recorder {
    recorder: rtcgate_core::recorder::Recorder,
    events: Mutex<Option<Subscription>>,
}

#[uniffi::export]
impl Recorder {
    /// Joins `room` on the server at `url` as a receive-only member named
    /// `display_name` and records everyone in it.
    #[uniffi::constructor]
    pub async fn join(
        url: String,
        room: String,
        display_name: String,
        call_config: CallConfig,
        config: RecorderConfig,
        listener: Option<Arc<dyn RecorderListener>>,
    ) -> Result<Arc<Self>> {
        if room.is_empty() || display_name.is_empty() {
            return Err(invalid("room and display name must not be empty"));
        }
        let (call_options, timeout) = call_config.to_options()?;
        let options = config.to_options()?;
        let (signaller, request) =
            call_config.join_request(&url, room, display_name, &call_options)?;
        let (recorder, events) = on_runtime(async move {
            tokio::time::timeout(
                timeout,
                rtcgate_core::recorder::Recorder::join_with(
                    signaller,
                    request,
                    call_options,
                    options,
                ),
            )
            .await
        })
        .await?
        .map_err(|_| RtcgateError::Timeout {
            detail: format!("joining took more than {} ms", timeout.as_millis()),
        })??;
        Recorder::wrap(recorder, events, listener)
    }

    /// Records the other members of `call`, which the application keeps
    /// using; [`stop`](Self::stop) does not leave it.
    #[uniffi::constructor]
    pub async fn attach(
        call: Arc<Call>,
        config: RecorderConfig,
        listener: Option<Arc<dyn RecorderListener>>,
    ) -> Result<Arc<Self>> {
        let options = config.to_options()?;
        let call = call.core().clone();
        let (recorder, events) =
            on_runtime(
                async move { rtcgate_core::recorder::Recorder::attach(&call, options).await },
            )
            .await??;
        Recorder::wrap(recorder, events, listener)
    }

    /// Closes every participant's file and returns what each holds; a
    /// recorder made by `join` also leaves the room. Every event (ending
    /// with each participant's `Finished`) has been delivered to the
    /// listener when it returns. Stopping again returns an empty list.
    pub async fn stop(&self) -> Result<Vec<RecordingSummary>> {
        let recorder = self.recorder.clone();
        let summaries = on_runtime(async move { recorder.stop().await }).await?;
        // The pump ends once the event stream does; wait for it so the
        // listener has seen every event.
        let events = self
            .events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(events) = events {
            events.finished().await;
        }
        Ok(summaries.into_iter().map(Into::into).collect())
    }
}

impl Recorder {
    fn wrap(
        recorder: rtcgate_core::recorder::Recorder,
        mut events: RecorderEvents,
        listener: Option<Arc<dyn RecorderListener>>,
    ) -> Result<Arc<Self>> {
        let subscription = match listener {
            Some(listener) => Some(subscribe("rtcgate-recorder", async move {
                while let Some(event) = events.recv().await {
                    if let Some(event) = RecorderEvent::from_core(event) {
                        notify("RecorderListener", || listener.on_event(event));
                    }
                }
            })?),
            None => None,
        };
        Ok(Arc::new(Recorder {
            recorder,
            events: Mutex::new(subscription),
        }))
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if let Ok(handle) = super::runtime() {
            let recorder = self.recorder.clone();
            handle.spawn(async move {
                recorder.stop().await;
            });
        }
    }
}
