//! The recorder: every participant of a call to a playable file, without transcoding.
//!
//! A [`Recorder`] joins a room as a receive-only member ([`Recorder::join`])
//! or attaches to a [`Call`] the application already has
//! ([`Recorder::attach`]), and writes one file per participant with their
//! audio and video: WebM for Opus with VP8/VP9/AV1, Matroska when H.264 is
//! present. See `docs/recorder.md` for how the files stay playable after a
//! crash, how audio and video are aligned, and what happens on a full disk.

mod codec_private;
mod ebml;
mod event;
mod file_sink;
mod keyframe_gate;
mod matroska;
mod options;
mod participant;
mod timeline;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

pub use event::{
    ParticipantProgress, RecordedTrack, RecorderEvent, RecorderEvents, RecordingSummary,
};
pub use matroska::Container;
pub use options::RecorderOptions;

use crate::call::{Call, CallEvent, CallEvents, CallOptions};
use crate::error::Result;
use crate::media::RemoteTrack;
use crate::media::local_track::lock;
use crate::signalling::{JoinRequest, MemberId, Signaller, signaller_for_url};
use participant::ParticipantRecorder;

/// Records a call: one file per participant. Cheap to clone.
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Inner>,
}

struct Inner {
    call: Call,
    owns_call: bool,
    stop: Notify,
    task: Mutex<Option<JoinHandle<Vec<RecordingSummary>>>>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("call", &self.inner.call)
            .finish()
    }
}

impl Recorder {
    /// Joins `room` through the signaller `url` names
    /// ([`signaller_for_url`]: a room server, or a WHEP endpoint to record
    /// its stream) as a receive-only member named `display_name` and records
    /// everyone in it.
    pub async fn join(
        url: &str,
        room: &str,
        display_name: &str,
        call_options: CallOptions,
        options: RecorderOptions,
    ) -> Result<(Recorder, RecorderEvents)> {
        let request = JoinRequest::new(room, display_name);
        let signaller = signaller_for_url(url, &call_options)?;
        Recorder::join_with(signaller, request, call_options, options).await
    }

    /// Joins a room through `signaller` (any protocol; `request` carries the
    /// room token if the room has one) as a receive-only member and records
    /// everyone in it.
    pub async fn join_with(
        signaller: Arc<dyn Signaller>,
        request: JoinRequest,
        call_options: CallOptions,
        options: RecorderOptions,
    ) -> Result<(Recorder, RecorderEvents)> {
        std::fs::create_dir_all(&options.folder)?;
        let (call, events) = Call::join(signaller, request, call_options).await?;
        Ok(Recorder::start(call, events, true, Vec::new(), options))
    }

    /// Records the other members of `call`, which the application keeps
    /// using (its own event stream is not touched). [`stop`](Self::stop)
    /// does not leave the call.
    ///
    /// Every track is recorded once, also one that arrives while the
    /// recorder attaches (it subscribes to the call's events, then lists
    /// the tracks already there: such a track is in both, and the event
    /// is ignored).
    pub async fn attach(
        call: &Call,
        options: RecorderOptions,
    ) -> Result<(Recorder, RecorderEvents)> {
        std::fs::create_dir_all(&options.folder)?;
        let events = call.subscribe();
        let existing = call.remote_tracks().await;
        Ok(Recorder::start(
            call.clone(),
            events,
            false,
            existing,
            options,
        ))
    }

    fn start(
        call: Call,
        events: CallEvents,
        owns_call: bool,
        existing: Vec<RemoteTrack>,
        options: RecorderOptions,
    ) -> (Recorder, RecorderEvents) {
        let (tx, rx) = mpsc::unbounded_channel();
        let recorder = Recorder {
            inner: Arc::new(Inner {
                call,
                owns_call,
                stop: Notify::new(),
                task: Mutex::new(None),
            }),
        };
        let session = Session {
            call: recorder.inner.call.clone(),
            options,
            events: tx,
            names: HashMap::new(),
            participants: HashMap::new(),
            finished: Vec::new(),
            listed: Vec::new(),
        };
        let stopper = recorder.clone();
        let task = tokio::spawn(session.run(events, existing, stopper));
        *lock(&recorder.inner.task) = Some(task);
        (recorder, RecorderEvents { rx })
    }

    /// The call being recorded.
    pub fn call(&self) -> &Call {
        &self.inner.call
    }

    /// Closes every participant's file and returns what each holds. A
    /// recorder made by [`join`](Self::join) also leaves the room.
    /// Calling it again returns an empty list.
    pub async fn stop(&self) -> Vec<RecordingSummary> {
        let task = lock(&self.inner.task).take();
        let Some(task) = task else {
            return Vec::new();
        };
        self.inner.stop.notify_one();
        let summaries = task.await.unwrap_or_default();
        if self.inner.owns_call
            && let Err(error) = self.inner.call.leave().await
        {
            tracing::debug!(%error, "leaving the recorded call");
        }
        summaries
    }
}

struct Session {
    call: Call,
    options: RecorderOptions,
    events: mpsc::UnboundedSender<RecorderEvent>,
    names: HashMap<MemberId, String>,
    participants: HashMap<MemberId, ParticipantRecorder>,
    finished: Vec<RecordingSummary>,
    /// The tracks that were already there when the recorder attached; a
    /// `TrackAdded` event for one of them is a duplicate (see `attach`).
    listed: Vec<RemoteTrack>,
}

impl Session {
    async fn run(
        mut self,
        mut events: CallEvents,
        existing: Vec<RemoteTrack>,
        recorder: Recorder,
    ) -> Vec<RecordingSummary> {
        for member in recorder.inner.call.members().await {
            self.names.insert(member.id, member.name);
        }
        for track in existing {
            self.listed.push(track.clone());
            self.add_track(track);
        }
        // The stop future must not hold the recorder alive past stop().
        let inner = Arc::downgrade(&recorder.inner);
        drop(recorder);
        loop {
            let Some(inner) = inner.upgrade() else { break };
            tokio::select! {
                event = events.recv() => match event {
                    Some(event) => self.on_event(event).await,
                    None => break,
                },
                _ = inner.stop.notified() => break,
            }
        }
        let mut summaries = std::mem::take(&mut self.finished);
        for (_, participant) in self.participants.drain() {
            summaries.extend(participant.stop().await);
        }
        summaries
    }

    async fn on_event(&mut self, event: CallEvent) {
        match event {
            CallEvent::MemberJoined(info) => {
                self.names.insert(info.id, info.name);
            }
            CallEvent::TrackAdded(track) => {
                // Listed at attach time and announced after the subscription.
                if let Some(i) = self.listed.iter().position(|t| t.same_as(&track)) {
                    self.listed.swap_remove(i);
                } else {
                    self.add_track(track);
                }
            }
            CallEvent::TrackStalled(report) if self.participants.contains_key(&report.member) => {
                let _ = self.events.send(RecorderEvent::TrackStalled(report));
            }
            CallEvent::MemberLeft(info) => {
                self.listed.retain(|t| t.member() != &info.id);
                if let Some(participant) = self.participants.remove(&info.id) {
                    self.finished.extend(participant.stop().await);
                }
            }
            _ => {}
        }
    }

    fn add_track(&mut self, track: RemoteTrack) {
        let member = track.member().clone();
        let participant = self.participants.entry(member.clone()).or_insert_with(|| {
            let name = self.names.get(&member).cloned().unwrap_or_default();
            ParticipantRecorder::start(
                member,
                name,
                self.options.clone(),
                self.events.clone(),
                self.call.clone(),
            )
        });
        participant.add_track(track);
    }
}
