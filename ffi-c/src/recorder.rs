//! The recorder: joins a room and writes one playable file per participant.

use std::ffi::{CString, c_char, c_int, c_void};
use std::ptr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rtcgate_core::recorder::{
    ParticipantProgress, Recorder, RecorderEvent, RecorderEvents, RecorderOptions,
};
use tokio::task::JoinHandle;

use crate::call::{read_config, rtcgate_call_config};
use crate::callback::{Gate, UserData};
use crate::error::{Failure, FfiResult, rtcgate_error};
use crate::handles::{self, Kind, Object};
use crate::types::micros;
use crate::{guard, runtime, strings};

/// Handle of a recorder.
#[allow(non_camel_case_types)]
pub type rtcgate_recorder = i32;

/// How to record. Zero-initialise it and set what you need; read only
/// during `rtcgate_recorder_start`.
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct rtcgate_recorder_config {
    /// The room to join, as for a call (the recorder is a receive-only member).
    pub call: rtcgate_call_config,
    /// Folder for the files (UTF-8, required; created if missing). One file
    /// per participant: `<name>-<member id>.webm` (`.mkv` with H.264).
    pub folder: *const c_char,
    /// How long a missing packet is waited for, in ms; 0: 200.
    pub latency_ms: c_int,
    /// How many spatial layers of scalable VP9 or AV1 (SVC) to write, from the
    /// lowest (1: the lowest resolution only); 0: all the sender sends.
    pub spatial_layers: c_int,
}

/// What a recorder event reports (`rtcgate_recorder_event.type`).
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum rtcgate_recorder_event_type {
    /// A participant's file was created: `member_id`, `path`, `codecs`.
    RTCGATE_RECORDER_EVENT_FILE_STARTED = 1,
    /// About once a second per participant: `member_id`, `member_name`,
    /// `path` (NULL before the file starts) and the figures.
    RTCGATE_RECORDER_EVENT_PROGRESS = 2,
    /// Packets were lost for good: `member_id`, `track_id`, `duration_us`
    /// (position in the file).
    RTCGATE_RECORDER_EVENT_GAP = 3,
    /// A track is not in the file: `member_id`, `track_id`, `message`.
    RTCGATE_RECORDER_EVENT_TRACK_SKIPPED = 4,
    /// Writing failed (`storage_full` for a full disk): `member_id`, `path`,
    /// `message`. The file stays valid; this participant's recording stops.
    RTCGATE_RECORDER_EVENT_WRITE_FAILED = 5,
    /// A participant's file is closed (they left, or the recorder stopped):
    /// `member_id`, `member_name`, `path`, `codecs`, figures, `message` (the
    /// error that ended it early, or NULL).
    RTCGATE_RECORDER_EVENT_FINISHED = 6,
    /// A track keeps receiving packets but gave no usable frame for about a
    /// second (the file has a hole there; video asks for a keyframe):
    /// `member_id`, `track_id`, `message` (what was dropped and why),
    /// `duration_us` (how long so far), `frames_dropped_*` (the track's).
    RTCGATE_RECORDER_EVENT_TRACK_STALLED = 7,
}

/// One recorder event. Pointers are owned by the library and valid only
/// during the callback; fields that do not apply are NULL or 0.
///
/// cbindgen:field-names=[type, member_id, member_name, path, codecs, track_id, message, duration_us, bytes, frames, gaps, dropped_frames, keyframe_requests, storage_full, frames_dropped_depacketization, frames_dropped_incomplete, stalls]
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct rtcgate_recorder_event {
    pub type_: rtcgate_recorder_event_type,
    pub member_id: *const c_char,
    pub member_name: *const c_char,
    pub path: *const c_char,
    /// Codec names in track order, comma-separated (`"vp8,opus"`).
    pub codecs: *const c_char,
    pub track_id: *const c_char,
    pub message: *const c_char,
    /// Media time written (or, for a gap, its position), in microseconds.
    pub duration_us: i64,
    pub bytes: u64,
    pub frames: u64,
    pub gaps: u64,
    pub dropped_frames: u64,
    pub keyframe_requests: u64,
    pub storage_full: bool,
    /// Frames left out because a packet could not be depacketized.
    pub frames_dropped_depacketization: u64,
    /// Frames left out because packets of theirs were lost.
    pub frames_dropped_incomplete: u64,
    /// Times a track stalled (see `RTCGATE_RECORDER_EVENT_TRACK_STALLED`).
    pub stalls: u64,
}

/// Receives a recorder's events in order on a library thread.
#[allow(non_camel_case_types)]
pub type rtcgate_recorder_event_cb = Option<
    unsafe extern "C" fn(
        recorder: rtcgate_recorder,
        event: *const rtcgate_recorder_event,
        user_data: *mut c_void,
    ),
>;

type EventFn = unsafe extern "C" fn(rtcgate_recorder, *const rtcgate_recorder_event, *mut c_void);

pub struct RecorderObj {
    recorder: Recorder,
    gate: Arc<Gate<EventFn>>,
    pump: Mutex<Option<JoinHandle<()>>>,
}

impl Object for RecorderObj {
    const KIND: Kind = Kind::Recorder;
}

impl RecorderObj {
    /// Closes the files and delivers the remaining events (unless called from
    /// this recorder's own callback, which cannot wait for itself).
    fn stop(&self) -> usize {
        let summaries = runtime::block_on(self.recorder.stop()).unwrap_or_default();
        let pump = self
            .pump
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(pump) = pump {
            if self.gate.current_thread_inside() {
                *self.pump.lock().unwrap_or_else(PoisonError::into_inner) = Some(pump);
            } else {
                let _ = runtime::block_on(pump);
            }
        }
        summaries.len()
    }

    pub fn destroy(&self) {
        self.stop();
        self.gate.close();
        if let Some(pump) = self
            .pump
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            pump.abort();
        }
    }
}

#[derive(Default)]
struct Owned {
    member_id: Option<CString>,
    member_name: Option<CString>,
    path: Option<CString>,
    codecs: Option<CString>,
    track_id: Option<CString>,
    message: Option<CString>,
}

fn p(s: &Option<CString>) -> *const c_char {
    s.as_ref().map_or(ptr::null(), |s| s.as_ptr())
}

fn blank(kind: rtcgate_recorder_event_type) -> rtcgate_recorder_event {
    rtcgate_recorder_event {
        type_: kind,
        member_id: ptr::null(),
        member_name: ptr::null(),
        path: ptr::null(),
        codecs: ptr::null(),
        track_id: ptr::null(),
        message: ptr::null(),
        duration_us: 0,
        bytes: 0,
        frames: 0,
        gaps: 0,
        dropped_frames: 0,
        keyframe_requests: 0,
        storage_full: false,
        frames_dropped_depacketization: 0,
        frames_dropped_incomplete: 0,
        stalls: 0,
    }
}

fn progress_into(
    progress: &ParticipantProgress,
    owned: &mut Owned,
    e: &mut rtcgate_recorder_event,
) {
    owned.member_id = Some(strings::c_string(&progress.member));
    owned.member_name = Some(strings::c_string(&progress.name));
    owned.path = progress
        .path
        .as_ref()
        .map(|path| strings::c_string(&path.to_string_lossy()));
    e.duration_us = micros(progress.duration);
    e.bytes = progress.bytes;
    e.frames = progress.frames;
    e.gaps = progress.gaps;
    e.dropped_frames = progress.dropped_frames;
    e.keyframe_requests = progress.keyframe_requests;
    e.frames_dropped_depacketization = progress.frame_drops.depacketization;
    e.frames_dropped_incomplete = progress.frame_drops.incomplete;
    e.stalls = progress.stalls;
}

/// Converts an event; the strings live in the returned `Owned`.
fn convert(event: &RecorderEvent) -> Option<(rtcgate_recorder_event, Owned)> {
    use rtcgate_recorder_event_type::*;
    let c = |s: &str| Some(strings::c_string(s));
    let mut owned = Owned::default();
    let e = match event {
        RecorderEvent::FileStarted {
            member,
            path,
            codecs,
        } => {
            owned.member_id = c(member);
            owned.path = c(&path.to_string_lossy());
            let names: Vec<_> = codecs.iter().map(|c| c.name()).collect();
            owned.codecs = c(&names.join(","));
            blank(RTCGATE_RECORDER_EVENT_FILE_STARTED)
        }
        RecorderEvent::Progress(progress) => {
            let mut e = blank(RTCGATE_RECORDER_EVENT_PROGRESS);
            progress_into(progress, &mut owned, &mut e);
            e
        }
        RecorderEvent::Gap {
            member,
            track_id,
            at,
        } => {
            owned.member_id = c(member);
            owned.track_id = c(track_id);
            let mut e = blank(RTCGATE_RECORDER_EVENT_GAP);
            e.duration_us = micros(*at);
            e
        }
        RecorderEvent::TrackSkipped {
            member,
            track_id,
            reason,
        } => {
            owned.member_id = c(member);
            owned.track_id = c(track_id);
            owned.message = c(reason);
            blank(RTCGATE_RECORDER_EVENT_TRACK_SKIPPED)
        }
        RecorderEvent::WriteFailed {
            member,
            path,
            kind,
            message,
        } => {
            owned.member_id = c(member);
            owned.path = c(&path.to_string_lossy());
            owned.message = c(message);
            let mut e = blank(RTCGATE_RECORDER_EVENT_WRITE_FAILED);
            e.storage_full = *kind == std::io::ErrorKind::StorageFull;
            e
        }
        RecorderEvent::TrackStalled(report) => {
            owned.member_id = c(&report.member);
            owned.track_id = c(&report.track_id);
            owned.message = c(&report.to_string());
            let mut e = blank(RTCGATE_RECORDER_EVENT_TRACK_STALLED);
            e.duration_us = micros(report.duration);
            e.frames_dropped_depacketization = report.drops.depacketization;
            e.frames_dropped_incomplete = report.drops.incomplete;
            e.dropped_frames = report.drops.waiting_for_keyframe;
            e
        }
        RecorderEvent::Finished(summary) => {
            let mut e = blank(RTCGATE_RECORDER_EVENT_FINISHED);
            progress_into(&summary.progress, &mut owned, &mut e);
            let names: Vec<_> = summary.tracks.iter().map(|t| t.codec.name()).collect();
            owned.codecs = c(&names.join(","));
            owned.message = summary.error.as_deref().and_then(c);
            e
        }
        _ => return None,
    };
    Some((e, owned))
}

async fn pump(gate: Arc<Gate<EventFn>>, handle: rtcgate_recorder, mut events: RecorderEvents) {
    while let Some(event) = events.recv().await {
        let gate = Arc::clone(&gate);
        runtime::deliver(move || {
            let Some((mut e, owned)) = convert(&event) else {
                return;
            };
            e.member_id = p(&owned.member_id);
            e.member_name = p(&owned.member_name);
            e.path = p(&owned.path);
            e.codecs = p(&owned.codecs);
            e.track_id = p(&owned.track_id);
            e.message = p(&owned.message);
            gate.invoke(|f, user_data| {
                // SAFETY: the application's callback; the event is valid during the call.
                unsafe { f(handle, &e, user_data) }
            });
        })
        .await;
    }
}

fn start(
    config: *const rtcgate_recorder_config,
    callback: rtcgate_recorder_event_cb,
    user_data: *mut c_void,
) -> FfiResult<rtcgate_recorder> {
    strings::out_ptr(config.cast_mut(), "config")?;
    runtime::ensure_running()?;
    // SAFETY: a valid config per the API contract.
    let config = unsafe { &*config };
    // SAFETY: as above.
    let join = unsafe { read_config(&config.call) }?;
    // SAFETY: as above.
    let folder = unsafe { strings::non_empty(config.folder, "folder") }?;
    let mut options = RecorderOptions::new(folder);
    match config.latency_ms {
        0 => {}
        ms if ms > 0 => options.latency = Duration::from_millis(ms as u64),
        _ => {
            return Err(Failure::new(
                rtcgate_error::RTCGATE_ERR_INVALID,
                "latency_ms must not be negative",
            ));
        }
    }
    options.spatial_layers = match config.spatial_layers {
        0 => None,
        n @ 1..=8 => Some(n as u8),
        _ => {
            return Err(Failure::new(
                rtcgate_error::RTCGATE_ERR_INVALID,
                "spatial_layers must be 0 (all) to 8",
            ));
        }
    };
    let (recorder, events) = runtime::block_on_timeout(
        join.timeout,
        Recorder::join_with(join.signaller, join.request, join.options, options),
    )??;
    let gate = Arc::new(Gate::new(callback.map(|f| (f, UserData(user_data)))));
    let object = Arc::new(RecorderObj {
        recorder: recorder.clone(),
        gate: Arc::clone(&gate),
        pump: Mutex::new(None),
    });
    let handle = match handles::insert(Arc::clone(&object)) {
        Ok(handle) => handle,
        Err(failure) => {
            let _ = runtime::block_on(recorder.stop());
            return Err(failure);
        }
    };
    *object.pump.lock().unwrap_or_else(PoisonError::into_inner) =
        Some(runtime::spawn(pump(gate, handle, events))?);
    Ok(handle)
}

/// Joins the room of `config->call` as a receive-only member and records
/// every participant into `config->folder`. Returns the recorder's handle
/// (> 0) or a negative error code. `callback` (may be NULL) receives its
/// events with `user_data`.
#[unsafe(no_mangle)]
pub extern "C" fn rtcgate_recorder_start(
    config: *const rtcgate_recorder_config,
    callback: rtcgate_recorder_event_cb,
    user_data: *mut c_void,
) -> rtcgate_recorder {
    guard::int(|| start(config, callback, user_data))
}

/// Stops recording: closes every file (each gets its
/// `RTCGATE_RECORDER_EVENT_FINISHED` before this returns, unless called
/// from the recorder's own callback) and leaves the room. Returns the number
/// of files closed by this call (≥ 0). The handle stays valid until
/// `rtcgate_recorder_destroy`; stopping again returns 0.
#[unsafe(no_mangle)]
pub extern "C" fn rtcgate_recorder_stop(recorder: rtcgate_recorder) -> c_int {
    guard::int(|| {
        let object = handles::get::<RecorderObj>(recorder)?;
        Ok(c_int::try_from(object.stop()).unwrap_or(c_int::MAX))
    })
}

/// Stops (if needed) and releases the recorder. When it returns no callback
/// of the recorder runs on another thread. Safe inside its own callback.
#[unsafe(no_mangle)]
pub extern "C" fn rtcgate_recorder_destroy(recorder: rtcgate_recorder) -> c_int {
    guard::int(|| {
        handles::remove::<RecorderObj>(recorder)?.destroy();
        Ok(0)
    })
}
