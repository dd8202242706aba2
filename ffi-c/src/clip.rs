//! Test clips shipped in `examples/media` (IVF, Ogg Opus, H.264 Annex-B),
//! read into frames the application pushes with `rtcgate_local_track_push_sample`.

use std::ffi::{c_char, c_int};
use std::sync::Arc;

use rtcgate_core::media::Clip;
use rtcgate_core::{Codec, MediaSample};

use crate::error::{Failure, rtcgate_error};
use crate::handles::{self, Kind, Object};
use crate::types::{micros, rtcgate_codec};
use crate::{guard, runtime, strings};

/// Handle of a clip read from a file.
#[allow(non_camel_case_types)]
pub type rtcgate_clip = i32;

pub struct ClipObj {
    codec: Codec,
    samples: Vec<MediaSample>,
    duration_us: i64,
}

impl Object for ClipObj {
    const KIND: Kind = Kind::Clip;
}

/// Reads a clip: the format comes from the extension (`.ivf` for VP8, VP9
/// and AV1, `.ogg`/`.opus`, `.h264`). Returns its handle (> 0) or a
/// negative error code (`RTCGATE_ERR_IO`, `RTCGATE_ERR_INVALID`,
/// `RTCGATE_ERR_UNSUPPORTED`).
#[unsafe(no_mangle)]
pub extern "C" fn rtcgate_clip_open(path: *const c_char) -> rtcgate_clip {
    guard::int(|| {
        runtime::ensure_running()?;
        // SAFETY: NUL-terminated or NULL per the API contract.
        let path = unsafe { strings::non_empty(path, "path") }?;
        let clip = Clip::open(path)?;
        handles::insert(Arc::new(ClipObj {
            codec: clip.codec(),
            samples: clip.samples(0).collect(),
            duration_us: micros(clip.duration()),
        }))
    })
}

/// The clip's codec (an `rtcgate_codec`) or a negative error code.
#[unsafe(no_mangle)]
pub extern "C" fn rtcgate_clip_codec(clip: rtcgate_clip) -> c_int {
    guard::int(|| Ok(rtcgate_codec::from(handles::get::<ClipObj>(clip)?.codec) as c_int))
}

/// Number of frames, or a negative error code.
#[unsafe(no_mangle)]
pub extern "C" fn rtcgate_clip_frame_count(clip: rtcgate_clip) -> c_int {
    guard::int(|| {
        Ok(c_int::try_from(handles::get::<ClipObj>(clip)?.samples.len()).unwrap_or(c_int::MAX))
    })
}

/// Length of one pass in microseconds (loop with timestamps + k × this),
/// or a negative error code.
#[unsafe(no_mangle)]
pub extern "C" fn rtcgate_clip_duration_us(clip: rtcgate_clip) -> i64 {
    guard::int64(|| Ok(handles::get::<ClipObj>(clip)?.duration_us))
}

/// Frame `index` (0-based): stores a pointer to its bytes in `*data` (owned
/// by the clip, valid until `rtcgate_clip_destroy`), its size in `*size`
/// and its presentation time in `*timestamp_us`.
#[unsafe(no_mangle)]
pub extern "C" fn rtcgate_clip_frame(
    clip: rtcgate_clip,
    index: c_int,
    data: *mut *const u8,
    size: *mut usize,
    timestamp_us: *mut i64,
) -> c_int {
    guard::int(|| {
        strings::out_ptr(data, "data")?;
        strings::out_ptr(size, "size")?;
        strings::out_ptr(timestamp_us, "timestamp_us")?;
        let object = handles::get::<ClipObj>(clip)?;
        let sample = usize::try_from(index)
            .ok()
            .and_then(|i| object.samples.get(i))
            .ok_or_else(|| {
                Failure::new(
                    rtcgate_error::RTCGATE_ERR_INVALID,
                    format!("frame {index} out of 0..{}", object.samples.len()),
                )
            })?;
        // SAFETY: out pointers checked non-NULL above.
        unsafe {
            *data = sample.data.as_ptr();
            *size = sample.data.len();
            *timestamp_us = micros(sample.timestamp);
        }
        Ok(0)
    })
}

/// Releases the clip; pointers from `rtcgate_clip_frame` become invalid.
#[unsafe(no_mangle)]
pub extern "C" fn rtcgate_clip_destroy(clip: rtcgate_clip) -> c_int {
    guard::int(|| {
        handles::remove::<ClipObj>(clip)?;
        Ok(0)
    })
}
