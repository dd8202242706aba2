//! Local tracks: encoded samples in, RTP out to every member of the calls
//! the track was added to.

use std::ffi::{c_char, c_int, c_void};
use std::sync::{Arc, Mutex, PoisonError};

use rtcgate_core::media::H264Profile;
use rtcgate_core::{LocalTrack, MediaSample};
use tokio::task::JoinHandle;

use crate::callback::{Gate, UserData};
use crate::error::{Failure, rtcgate_error};
use crate::handles::{self, Kind, Object};
use crate::types::{codec_arg, micros_arg};
use crate::{guard, runtime, strings};

/// Handle of a local track.
#[allow(non_camel_case_types)]
pub type rtcgate_local_track = i32;

/// Called when a member asks for a keyframe (RTCP PLI/FIR): make the encoder
/// produce one. Runs on a library thread.
#[allow(non_camel_case_types)]
pub type rtcgate_keyframe_request_cb =
    Option<unsafe extern "C" fn(track: rtcgate_local_track, user_data: *mut c_void)>;

type KeyframeFn = unsafe extern "C" fn(rtcgate_local_track, *mut c_void);

pub struct LocalTrackObj {
    pub track: LocalTrack,
    gate: Gate<KeyframeFn>,
    pump: Mutex<Option<JoinHandle<()>>>,
}

impl Object for LocalTrackObj {
    const KIND: Kind = Kind::LocalTrack;
}

impl LocalTrackObj {
    pub fn destroy(&self) {
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

/// Creates a track of `codec` (an `rtcgate_codec`). `track_id` and
/// `stream_id` (UTF-8, non-empty) are what remote members see; tracks with
/// one `stream_id` belong together (a camera and its microphone). Returns
/// the handle (> 0) or a negative error code.
#[unsafe(no_mangle)]
pub extern "C" fn rtcgate_local_track_create(
    codec: c_int,
    track_id: *const c_char,
    stream_id: *const c_char,
) -> rtcgate_local_track {
    guard::int(|| {
        runtime::ensure_running()?;
        let codec = codec_arg(codec)?;
        // SAFETY: NUL-terminated strings or NULL per the API contract.
        let (id, stream) = unsafe {
            (
                strings::non_empty(track_id, "track_id")?,
                strings::non_empty(stream_id, "stream_id")?,
            )
        };
        let track = LocalTrack::new(codec, id, stream)?;
        handles::insert(Arc::new(LocalTrackObj {
            track,
            gate: Gate::new(None),
            pump: Mutex::new(None),
        }))
    })
}

/// Creates an H.264 track announcing `profile_level_id` (six hex digits, as
/// SDP's `profile-level-id`: `42e01f` constrained baseline, `4d001f` main,
/// `64001f` high, …): set it to what the encoder makes (its SPS bytes 1–3).
/// `rtcgate_local_track_create` with `RTCGATE_CODEC_H264` announces
/// `42e01f`. A member whose peer cannot decode the profile does not get the
/// track (an `RTCGATE_CALL_EVENT_ERROR` names what it decodes). Returns the
/// handle (> 0) or a negative error code (`RTCGATE_ERR_UNSUPPORTED` for a
/// profile rtcgate does not negotiate).
#[unsafe(no_mangle)]
pub extern "C" fn rtcgate_local_track_create_h264(
    profile_level_id: *const c_char,
    track_id: *const c_char,
    stream_id: *const c_char,
) -> rtcgate_local_track {
    guard::int(|| {
        runtime::ensure_running()?;
        // SAFETY: NUL-terminated strings or NULL per the API contract.
        let (profile, id, stream) = unsafe {
            (
                strings::non_empty(profile_level_id, "profile_level_id")?,
                strings::non_empty(track_id, "track_id")?,
                strings::non_empty(stream_id, "stream_id")?,
            )
        };
        let profile: H264Profile = profile.parse()?;
        let track = LocalTrack::h264(profile, id, stream)?;
        handles::insert(Arc::new(LocalTrackObj {
            track,
            gate: Gate::new(None),
            pump: Mutex::new(None),
        }))
    })
}

/// Sends one encoded sample (`size` bytes at `data`, copied before the
/// function returns) with its presentation time in microseconds (from any
/// origin, increasing) to every member the track is negotiated with.
/// Members still negotiating are skipped.
#[unsafe(no_mangle)]
pub extern "C" fn rtcgate_local_track_push_sample(
    track: rtcgate_local_track,
    data: *const u8,
    size: usize,
    timestamp_us: i64,
) -> c_int {
    guard::int(|| {
        if data.is_null() {
            return Err(Failure::new(
                rtcgate_error::RTCGATE_ERR_NULL,
                "data is NULL",
            ));
        }
        if size == 0 {
            return Err(Failure::new(
                rtcgate_error::RTCGATE_ERR_INVALID,
                "empty sample",
            ));
        }
        let timestamp = micros_arg(timestamp_us, "timestamp_us")?;
        let object = handles::get::<LocalTrackObj>(track)?;
        // SAFETY: `data` has `size` readable bytes per the API contract; copied here.
        let bytes = unsafe { std::slice::from_raw_parts(data, size) }.to_vec();
        runtime::block_on(
            object
                .track
                .write_sample(&MediaSample::new(bytes, timestamp)),
        )??;
        Ok(0)
    })
}

async fn keyframe_pump(object: std::sync::Weak<LocalTrackObj>, handle: rtcgate_local_track) {
    loop {
        let Some(track) = object.upgrade().map(|o| o.track.clone()) else {
            break;
        };
        track.keyframe_requested().await;
        let Some(object) = object.upgrade() else {
            break;
        };
        runtime::deliver(move || {
            object.gate.invoke(|f, user_data| {
                // SAFETY: the application's callback.
                unsafe { f(handle, user_data) }
            });
        })
        .await;
    }
}

/// Sets (or, with NULL, removes) the keyframe-request callback.
#[unsafe(no_mangle)]
pub extern "C" fn rtcgate_local_track_set_keyframe_request_callback(
    track: rtcgate_local_track,
    callback: rtcgate_keyframe_request_cb,
    user_data: *mut c_void,
) -> c_int {
    guard::int(|| {
        let object = handles::get::<LocalTrackObj>(track)?;
        object.gate.set(callback.map(|f| (f, UserData(user_data))));
        let mut pump = object.pump.lock().unwrap_or_else(PoisonError::into_inner);
        if pump.is_none() {
            *pump = Some(runtime::spawn(keyframe_pump(
                Arc::downgrade(&object),
                track,
            ))?);
        }
        Ok(0)
    })
}

/// Keyframe requests received so far, or a negative error code.
#[unsafe(no_mangle)]
pub extern "C" fn rtcgate_local_track_keyframe_requests(track: rtcgate_local_track) -> i64 {
    guard::int64(|| {
        let object = handles::get::<LocalTrackObj>(track)?;
        Ok(i64::try_from(object.track.keyframe_requests()).unwrap_or(i64::MAX))
    })
}

/// Destroys the track handle. Remove it from its calls first
/// (`rtcgate_call_remove_track`); a call it is still in keeps announcing it
/// (silent) until the call is destroyed. When this returns, no keyframe
/// callback of the track runs on another thread.
#[unsafe(no_mangle)]
pub extern "C" fn rtcgate_local_track_destroy(track: rtcgate_local_track) -> c_int {
    guard::int(|| {
        handles::remove::<LocalTrackObj>(track)?.destroy();
        Ok(0)
    })
}
