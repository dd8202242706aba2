//! Records one participant: their tracks, through keyframe gates and the
//! shared timeline, into one file.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::codec_private::{av1_config, h264_annexb_to_length_prefixed, h264_avcc, opus_head};
use super::event::{ParticipantProgress, RecordedTrack, RecorderEvent, RecordingSummary};
use super::file_sink::FileSink;
use super::keyframe_gate::{KeyframeGate, Verdict};
use super::matroska::{Container, MatroskaMuxer, TrackSpec};
use super::options::RecorderOptions;
use super::timeline::{TimedFrame, Timeline};
use crate::call::Call;
use crate::codec::{Codec, MediaKind};
use crate::media::picture_size;
use crate::media::{EncodedFrame, FrameDrops, RemoteTrack};
use crate::signalling::MemberId;

/// How often the participant's clock-driven work runs (keyframe requests,
/// releases, flushes).
const TICK: Duration = Duration::from_millis(50);
/// Progress events come this often.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);
/// A file starts no sooner than this after the participant's first track, so
/// that tracks added together end up in it together.
const SETTLE: Duration = Duration::from_millis(300);

enum Input {
    Track(RemoteTrack),
    Frame(usize, EncodedFrame),
    Stop,
}

/// The running recording of one participant.
pub(crate) struct ParticipantRecorder {
    tx: mpsc::UnboundedSender<Input>,
    task: JoinHandle<RecordingSummary>,
}

impl ParticipantRecorder {
    /// Starts recording `member` into `options.folder`.
    pub fn start(
        member: MemberId,
        name: String,
        options: RecorderOptions,
        events: mpsc::UnboundedSender<RecorderEvent>,
        call: Call,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let now = Instant::now();
        let interleave = options.latency + Duration::from_millis(100);
        let state = Participant {
            progress: ParticipantProgress {
                member,
                name,
                ..Default::default()
            },
            timeline: Timeline::new(options.report_wait, interleave, now),
            options,
            events,
            call,
            announced: 0,
            tx: tx.clone(),
            tracks: Vec::new(),
            first_track_at: None,
            file: None,
            files: Vec::new(),
            finished_bytes: 0,
            pending: Vec::new(),
            error: None,
        };
        let task = tokio::spawn(state.run(rx));
        Self { tx, task }
    }

    /// Adds a track of the participant.
    pub fn add_track(&self, track: RemoteTrack) {
        let _ = self.tx.send(Input::Track(track));
    }

    /// Closes the file and returns what it holds.
    pub async fn stop(self) -> Option<RecordingSummary> {
        let _ = self.tx.send(Input::Stop);
        self.task.await.ok()
    }
}

struct TrackState {
    remote: RemoteTrack,
    gate: KeyframeGate,
    spec: Option<TrackSpec>,
    file_index: Option<usize>,
    /// Video of a new file must start with a keyframe.
    awaiting_keyframe: bool,
    frames: u64,
    forwarder: JoinHandle<()>,
}

struct OpenFile {
    muxer: MatroskaMuxer,
    sink: FileSink,
    last_flush: Instant,
    /// Timeline position of the file's time zero (a later part starts where
    /// the previous one ended).
    origin: Option<Duration>,
}

struct Participant {
    progress: ParticipantProgress,
    options: RecorderOptions,
    events: mpsc::UnboundedSender<RecorderEvent>,
    call: Call,
    /// Tracks the participant's session description announces.
    announced: usize,
    tx: mpsc::UnboundedSender<Input>,
    tracks: Vec<TrackState>,
    timeline: Timeline,
    first_track_at: Option<Instant>,
    file: Option<OpenFile>,
    /// Files finished so far (earlier parts, then the current one on close).
    files: Vec<PathBuf>,
    /// Bytes in the finished files.
    finished_bytes: u64,
    /// Frames placed on the timeline before the file could start.
    pending: Vec<TimedFrame>,
    error: Option<String>,
}

impl Participant {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Input>) -> RecordingSummary {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_progress = Instant::now();
        loop {
            tokio::select! {
                input = rx.recv() => match input {
                    Some(Input::Track(track)) => self.add_track(track),
                    Some(Input::Frame(index, frame)) => self.on_frame(index, frame),
                    Some(Input::Stop) | None => break,
                },
                _ = tick.tick() => {
                    let now = Instant::now();
                    self.on_tick(now).await;
                    if now.duration_since(last_progress) >= PROGRESS_INTERVAL {
                        last_progress = now;
                        self.emit(RecorderEvent::Progress(self.progress_now()));
                    }
                }
            }
        }
        self.finish()
    }

    fn emit(&self, event: RecorderEvent) {
        let _ = self.events.send(event);
    }

    fn progress_now(&self) -> ParticipantProgress {
        let mut progress = self.progress.clone();
        progress.bytes = self.finished_bytes + self.file.as_ref().map_or(0, |f| f.sink.len());
        progress.gaps = self.tracks.iter().map(|t| t.gate.gaps).sum();
        progress.dropped_frames = self.tracks.iter().map(|t| t.gate.dropped).sum();
        progress.frame_drops = FrameDrops::default();
        for track in &self.tracks {
            let drops = track.remote.frame_drops();
            progress.frame_drops += FrameDrops {
                depacketization: drops.depacketization,
                incomplete: drops.incomplete,
                waiting_for_keyframe: track.gate.dropped,
            };
        }
        progress.stalls = self.tracks.iter().map(|t| t.remote.stalls()).sum();
        progress.keyframe_requests = self.tracks.iter().map(|t| t.gate.requests).sum();
        progress.tracks_timed_by_arrival = self.timeline.fallbacks();
        progress
    }

    fn add_track(&mut self, remote: RemoteTrack) {
        if self.file.is_some() {
            // Matroska declares its tracks up front: the file so far is
            // finished, and the next part holds every track.
            self.close_part();
            self.first_track_at = Some(Instant::now());
        }
        remote.set_latency(self.options.latency);
        remote.set_spatial_layers(self.options.spatial_layers);
        let index = self.tracks.len();
        let timeline_index = self.timeline.add_track(remote.codec().clock_rate());
        debug_assert_eq!(index, timeline_index);
        let mut frames = remote.subscribe();
        let tx = self.tx.clone();
        let forwarder = tokio::spawn(async move {
            while let Some(frame) = frames.recv().await {
                if tx.send(Input::Frame(index, frame)).is_err() {
                    break;
                }
            }
        });
        let video = remote.kind() == MediaKind::Video;
        self.tracks.push(TrackState {
            remote,
            gate: KeyframeGate::new(video, self.options.keyframe_interval),
            spec: None,
            file_index: None,
            awaiting_keyframe: false,
            frames: 0,
            forwarder,
        });
        self.first_track_at.get_or_insert_with(Instant::now);
    }

    fn on_frame(&mut self, index: usize, frame: EncodedFrame) {
        let now = Instant::now();
        let Some(track) = self.tracks.get_mut(index) else {
            return;
        };
        if track.gate.on_frame(&frame) == Verdict::Drop {
            if frame.discontinuity {
                self.report_gap(index);
            }
            return;
        }
        if frame.discontinuity {
            self.report_gap(index);
        }
        let track = &mut self.tracks[index];
        if track.spec.is_none() {
            tracing::debug!(member = %self.progress.member, track = track.remote.id(), "track ready");
            track.spec = Some(track_spec(&track.remote, &frame));
        }
        self.timeline.push(index, frame, now);
        self.release(now);
    }

    fn report_gap(&self, index: usize) {
        self.emit(RecorderEvent::Gap {
            member: self.progress.member.clone(),
            track_id: self.tracks[index].remote.id().to_owned(),
            at: self.progress.duration,
        });
    }

    async fn on_tick(&mut self, now: Instant) {
        for track in &mut self.tracks {
            if track.gate.poll_request(now) {
                let remote = track.remote.clone();
                tokio::spawn(async move {
                    if let Err(error) = remote.request_keyframe().await {
                        tracing::debug!(track = remote.id(), %error, "keyframe request failed");
                    }
                });
            }
        }
        self.release(now);
        if self.file.is_none() {
            self.announced = self.call.announced_tracks(&self.progress.member).await;
            tracing::trace!(member = %self.progress.member, announced = self.announced, tracks = self.tracks.len(), "waiting to start the file");
        }
        self.try_start_file(now);
        if let Some(file) = self.file.as_mut()
            && now.duration_since(file.last_flush) >= self.options.flush_interval
        {
            file.last_flush = now;
            file.muxer.close_cluster();
            self.write_output();
        }
    }

    /// Moves frames the timeline has released into the file (or the
    /// pending list while the file cannot start yet).
    fn release(&mut self, now: Instant) {
        while let Some(timed) = self.timeline.poll(now) {
            self.accept(timed);
        }
    }

    fn accept(&mut self, timed: TimedFrame) {
        if self.file.is_some() {
            self.write_frame(timed);
        } else {
            self.pending.push(timed);
        }
    }

    fn try_start_file(&mut self, now: Instant) {
        if self.file.is_some() || self.error.is_some() {
            return;
        }
        let Some(first) = self.first_track_at else {
            return;
        };
        let ready = self.tracks.iter().filter(|t| t.spec.is_some()).count();
        let waited = now.duration_since(first);
        // Every track seen is ready, and every announced track was seen
        // (webrtc-rs reports a track only when its first packet arrives).
        let all_ready = ready == self.tracks.len() && self.tracks.len() >= self.announced;
        if ready == 0 || waited < SETTLE || (!all_ready && waited < self.options.start_wait) {
            return;
        }
        let mut specs = Vec::new();
        for track in &mut self.tracks {
            if let Some(spec) = &track.spec {
                track.file_index = Some(specs.len());
                track.awaiting_keyframe = spec.codec.kind() == MediaKind::Video;
                specs.push(spec.clone());
            }
        }
        for track in self.tracks.iter().filter(|t| t.spec.is_none()) {
            self.emit(RecorderEvent::TrackSkipped {
                member: self.progress.member.clone(),
                track_id: track.remote.id().to_owned(),
                reason: format!(
                    "no decodable frame within {:?} of the participant's first track",
                    self.options.start_wait
                ),
            });
        }
        let container = Container::for_codecs(specs.iter().map(|s| s.codec));
        let path = unique_path(
            &self.options.folder,
            &file_stem(&self.progress.name, &self.progress.member),
            container.extension(),
        );
        let codecs = specs.iter().map(|s| s.codec).collect();
        let sink = match FileSink::create(&path) {
            Ok(sink) => sink,
            Err(error) => {
                self.write_failed(&path, &error);
                return;
            }
        };
        let muxer = MatroskaMuxer::new(
            container,
            specs,
            self.options.flush_interval,
            SystemTime::now(),
        );
        self.progress.path = Some(path.clone());
        self.file = Some(OpenFile {
            muxer,
            sink,
            last_flush: now,
            origin: None,
        });
        self.emit(RecorderEvent::FileStarted {
            member: self.progress.member.clone(),
            path,
            codecs,
        });
        for timed in std::mem::take(&mut self.pending) {
            self.write_frame(timed);
        }
        self.write_output();
    }

    /// Finishes the current file (cues, duration) and forgets it; returns
    /// its duration when it was finished cleanly.
    fn finalize_file(&mut self) -> Option<Duration> {
        let mut file = self.file.take()?;
        self.files.push(file.sink.path().to_owned());
        let result = if self.error.is_some() {
            None
        } else {
            let finish = file.muxer.finish(Duration::from_millis(20));
            match file.sink.finish(&finish) {
                Ok(()) => Some(finish.duration),
                Err(error) => {
                    let path = file.sink.path().to_owned();
                    self.write_failed(&path, &error);
                    None
                }
            }
        };
        self.finished_bytes += file.sink.len();
        result
    }

    /// Ends the current part because a track joined: the next file starts
    /// when every track is ready again, video from a keyframe.
    fn close_part(&mut self) {
        self.write_output();
        let path = self.file.as_ref().map(|f| f.sink.path().to_owned());
        let duration = self.finalize_file();
        for track in &mut self.tracks {
            track.file_index = None;
            track.gate.require_keyframe();
        }
        if let (Some(path), Some(duration)) = (path, duration) {
            self.emit(RecorderEvent::PartFinished {
                member: self.progress.member.clone(),
                path,
                duration,
            });
        }
    }

    fn write_frame(&mut self, timed: TimedFrame) {
        let Some(file) = self.file.as_mut() else {
            return;
        };
        let track = &mut self.tracks[timed.track];
        let Some(index) = track.file_index else {
            return;
        };
        let frame = timed.frame;
        if track.awaiting_keyframe {
            if !frame.keyframe {
                return; // queued before this file started; undecodable here
            }
            track.awaiting_keyframe = false;
        }
        let data = match frame.codec {
            Codec::H264 => h264_annexb_to_length_prefixed(&frame.data).into(),
            _ => frame.data,
        };
        let origin = *file.origin.get_or_insert(timed.pts);
        let pts_ms = timed.pts.saturating_sub(origin).as_millis() as u64;
        file.muxer.push(index, pts_ms, frame.keyframe, &data);
        track.frames += 1;
        self.progress.frames += 1;
        self.progress.duration = self.progress.duration.max(timed.pts);
        self.write_output();
    }

    /// Appends the muxer's finished units to the file.
    fn write_output(&mut self) {
        let Some(file) = self.file.as_mut() else {
            return;
        };
        if self.error.is_some() {
            while file.muxer.poll_output().is_some() {}
            return;
        }
        while let Some(unit) = file.muxer.poll_output() {
            if let Err(error) = file.sink.append(&unit) {
                let path = file.sink.path().to_owned();
                self.write_failed(&path, &error);
                return;
            }
        }
    }

    fn write_failed(&mut self, path: &Path, error: &std::io::Error) {
        tracing::warn!(member = %self.progress.member, path = %path.display(), %error, "recording stopped: write failed");
        self.error = Some(error.to_string());
        self.emit(RecorderEvent::WriteFailed {
            member: self.progress.member.clone(),
            path: path.to_owned(),
            kind: error.kind(),
            message: error.to_string(),
        });
    }

    fn finish(mut self) -> RecordingSummary {
        for track in &self.tracks {
            track.forwarder.abort();
        }
        let now = Instant::now();
        for timed in self.timeline.drain(now) {
            self.accept(timed);
        }
        if self.file.is_none() && !self.pending.is_empty() {
            // Stopped before every track was ready: write what there is.
            self.try_start_file(now + self.options.start_wait);
        }
        self.write_output();
        let single_part = self.files.is_empty();
        if let Some(duration) = self.finalize_file()
            && single_part
        {
            self.progress.duration = duration;
        }
        let summary = RecordingSummary {
            progress: self.progress_now(),
            tracks: self
                .tracks
                .iter()
                .filter(|t| t.frames > 0)
                .map(|t| RecordedTrack {
                    track_id: t.remote.id().to_owned(),
                    codec: t.remote.codec(),
                    frames: t.frames,
                    picture_size: t.spec.as_ref().and_then(|s| s.picture_size),
                })
                .collect(),
            files: self.files.clone(),
            error: self.error.clone(),
        };
        self.emit(RecorderEvent::Finished(summary.clone()));
        summary
    }
}

/// The header description of a track, from its first writable frame.
fn track_spec(remote: &RemoteTrack, frame: &EncodedFrame) -> TrackSpec {
    let codec = remote.codec();
    let codec_private = match codec {
        Codec::Opus => Some(opus_head(2)),
        Codec::H264 => h264_avcc(&frame.data),
        Codec::Av1 => av1_config(&frame.data),
        Codec::Vp8 | Codec::Vp9 => None,
    };
    TrackSpec {
        codec,
        name: remote.id().to_owned(),
        codec_private,
        picture_size: picture_size(codec, &frame.data),
    }
}

/// `<display name>-<member id>` with anything unsafe in a file name replaced.
fn file_stem(name: &str, member: &MemberId) -> String {
    let clean = |s: &str, max: usize| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .take(max)
            .collect()
    };
    let name = clean(name, 40);
    let id = clean(&member.to_string(), 40);
    if name.is_empty() {
        id
    } else {
        format!("{name}-{id}")
    }
}

/// `folder/stem.ext`, or `folder/stem-2.ext`, … if that exists.
fn unique_path(folder: &Path, stem: &str, ext: &str) -> PathBuf {
    let mut path = folder.join(format!("{stem}.{ext}"));
    let mut n = 2;
    while path.exists() {
        path = folder.join(format!("{stem}-{n}.{ext}"));
        n += 1;
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_safe() {
        let member: MemberId = "m1".into();
        assert_eq!(file_stem("Ann ../é", &member), "Ann_____-m1");
        assert_eq!(file_stem("", &member), "m1");
    }
}
