//! Remote tracks: encoded frames reassembled from a member's RTP.

use std::ffi::{c_char, c_int, c_void};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use rtcgate_core::RemoteTrack;
use tokio::task::JoinHandle;

use crate::callback::{Gate, UserData};
use crate::handles::{self, Kind, Object};
use crate::types::{micros, rtcgate_codec};
use crate::{guard, runtime, strings};

/// Handle of a track received from another member (reported by
/// `RTCGATE_CALL_EVENT_TRACK_ADDED`; owned by its call).
#[allow(non_camel_case_types)]
pub type rtcgate_remote_track = i32;

/// One encoded frame (a whole VP8/VP9 frame, an Opus packet, an H.264
/// Annex-B access unit, an AV1 temporal unit). Owned by the library; valid
/// only during the callback.
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct rtcgate_frame {
    pub codec: rtcgate_codec,
    pub data: *const u8,
    pub size: usize,
    /// Presentation time in microseconds since the track's first frame.
    pub timestamp_us: i64,
    /// The RTP timestamp (codec clock).
    pub rtp_timestamp: u32,
    /// A video keyframe (always true for audio).
    pub keyframe: bool,
    /// Frames before this one were lost (request a keyframe for video).
    pub discontinuity: bool,
}

/// Receives a remote track's frames, in order, on a library thread. After
/// the last frame, it is called once more with `frame` NULL: the track ended.
#[allow(non_camel_case_types)]
pub type rtcgate_frame_cb = Option<
    unsafe extern "C" fn(
        track: rtcgate_remote_track,
        frame: *const rtcgate_frame,
        user_data: *mut c_void,
    ),
>;

type FrameFn = unsafe extern "C" fn(rtcgate_remote_track, *const rtcgate_frame, *mut c_void);

pub struct RemoteTrackObj {
    track: RemoteTrack,
    gate: Arc<Gate<FrameFn>>,
    pump: Mutex<Option<JoinHandle<()>>>,
}

impl Object for RemoteTrackObj {
    const KIND: Kind = Kind::RemoteTrack;
}

impl RemoteTrackObj {
    pub fn new(track: RemoteTrack) -> Self {
        RemoteTrackObj {
            track,
            gate: Arc::new(Gate::new(None)),
            pump: Mutex::new(None),
        }
    }

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

async fn frame_pump(object: Weak<RemoteTrackObj>, handle: rtcgate_remote_track) {
    let Some((track, gate)) = object
        .upgrade()
        .map(|o| (o.track.clone(), Arc::clone(&o.gate)))
    else {
        return;
    };
    drop(object);
    loop {
        let frame = track.recv().await;
        let gate = Arc::clone(&gate);
        let end = frame.is_none();
        runtime::deliver(move || {
            gate.invoke(|f, user_data| match &frame {
                Some(frame) => {
                    let c = rtcgate_frame {
                        codec: frame.codec.into(),
                        data: frame.data.as_ptr(),
                        size: frame.data.len(),
                        timestamp_us: micros(frame.timestamp),
                        rtp_timestamp: frame.rtp_timestamp,
                        keyframe: frame.keyframe,
                        discontinuity: frame.discontinuity,
                    };
                    // SAFETY: the application's callback, with a frame valid during the call.
                    unsafe { f(handle, &c, user_data) }
                }
                // SAFETY: as above; NULL marks the end.
                None => unsafe { f(handle, std::ptr::null(), user_data) },
            });
        })
        .await;
        if end {
            break;
        }
    }
}

/// Sets the frame callback (NULL stops delivering; frames then wait, up to
/// 256, and later ones are dropped). Frames that arrived before the callback
/// was set are delivered first.
#[unsafe(no_mangle)]
pub extern "C" fn rtcgate_remote_track_set_frame_callback(
    track: rtcgate_remote_track,
    callback: rtcgate_frame_cb,
    user_data: *mut c_void,
) -> c_int {
    guard::int(|| {
        let object = handles::get::<RemoteTrackObj>(track)?;
        object.gate.set(callback.map(|f| (f, UserData(user_data))));
        let mut pump = object.pump.lock().unwrap_or_else(PoisonError::into_inner);
        match (callback.is_some(), pump.is_some()) {
            (true, false) => {
                *pump = Some(runtime::spawn(frame_pump(Arc::downgrade(&object), track))?);
            }
            (false, true) => {
                if let Some(task) = pump.take() {
                    task.abort();
                }
            }
            _ => {}
        }
        Ok(0)
    })
}

/// Asks the sender for a keyframe (RTCP PLI).
#[unsafe(no_mangle)]
pub extern "C" fn rtcgate_remote_track_request_keyframe(track: rtcgate_remote_track) -> c_int {
    guard::int(|| {
        let object = handles::get::<RemoteTrackObj>(track)?;
        runtime::block_on(object.track.request_keyframe())??;
        Ok(0)
    })
}

/// The track's codec (an `rtcgate_codec`, > 0) or a negative error code.
#[unsafe(no_mangle)]
pub extern "C" fn rtcgate_remote_track_codec(track: rtcgate_remote_track) -> c_int {
    guard::int(|| {
        let object = handles::get::<RemoteTrackObj>(track)?;
        Ok(rtcgate_codec::from(object.track.codec()) as c_int)
    })
}

/// Copies the track id into `buffer` (convention of `rtcgate_server_url`).
#[unsafe(no_mangle)]
pub extern "C" fn rtcgate_remote_track_id(
    track: rtcgate_remote_track,
    buffer: *mut c_char,
    size: c_int,
) -> c_int {
    guard::int(|| {
        let object = handles::get::<RemoteTrackObj>(track)?;
        // SAFETY: the caller's buffer has `size` bytes, or is NULL.
        unsafe { strings::to_buffer(object.track.id(), buffer, size) }
    })
}

/// Copies the sending member's id into `buffer` (convention of `rtcgate_server_url`).
#[unsafe(no_mangle)]
pub extern "C" fn rtcgate_remote_track_member(
    track: rtcgate_remote_track,
    buffer: *mut c_char,
    size: c_int,
) -> c_int {
    guard::int(|| {
        let object = handles::get::<RemoteTrackObj>(track)?;
        // SAFETY: the caller's buffer has `size` bytes, or is NULL.
        unsafe { strings::to_buffer(object.track.member(), buffer, size) }
    })
}

/// Releases the handle before its call does. When this returns, no frame
/// callback of the track runs on another thread. Safe inside its own callback.
#[unsafe(no_mangle)]
pub extern "C" fn rtcgate_remote_track_destroy(track: rtcgate_remote_track) -> c_int {
    guard::int(|| {
        handles::remove::<RemoteTrackObj>(track)?.destroy();
        Ok(0)
    })
}
