//! The JNI fast path for media frames (`io.rtcgate.FramePipe` in
//! bindings-kotlin): encoded frames in and out through direct `ByteBuffer`s,
//! without JNA, without Java arrays and without per-frame objects.
//!
//! - `JNI_OnLoad` (called when the JVM loads librtcgate with
//!   `System.loadLibrary`/`System.load`) caches the `JavaVM` and registers
//!   the natives of `io/rtcgate/FramePipe` with `RegisterNatives`.
//! - A pipe names a uniffi `LocalTrack` or `RemoteTrack` by the id its
//!   `pipeId()` returns (a registry entry here, released with `nativeRelease`).
//! - `nativePush` reads the sample straight from the direct buffer's memory
//!   (one copy into the RTP payloader, which copies anyway); `nativePull`
//!   writes the next frame straight into the caller's direct buffer.
//! - Every native runs inside `catch_unwind`: a panic becomes a Java
//!   `IllegalStateException`, never an unwind into the JVM.
//! - `io.rtcgate.FrameReceiver` turns a pull pipe into push delivery: a
//!   library thread calls a Java method for every frame, with a direct
//!   buffer over the frame's memory (module `sink`: the thread, the
//!   buffer's lifetime rule, exceptions thrown by the callback).
//! - Library threads that call into Java attach once and stay attached
//!   (as daemons), until they end (module `thread`), including the uniffi
//!   listener threads, so that JNA does not attach and detach them for
//!   every callback.

mod sink;
mod thread;

pub use thread::ThreadAttachment;

use std::collections::HashMap;
use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use jni::objects::{JByteBuffer, JClass, JObject};
use jni::sys::{JNI_ERR, JNI_VERSION_1_6, jint, jlong};
use jni::{JNIEnv, JavaVM, NativeMethod};
use rtcgate_core::media::FrameSubscription;
use rtcgate_core::{EncodedFrame, LocalTrack, MediaSample, RemoteTrack};

/// The class whose pipe natives are registered.
const PIPE_CLASS: &str = "io/rtcgate/FramePipe";

/// The class whose push-delivery natives are registered.
const RECEIVER_CLASS: &str = "io/rtcgate/FrameReceiver";

/// `nativePull`: no frame within the time limit.
const PULL_TIMEOUT: jint = -1;
/// `nativePull`: the track ended.
const PULL_ENDED: jint = -2;
/// `nativePull`: the buffer is too small; the frame is kept for the next
/// pull and its size written to the info buffer's first long.
const PULL_TOO_SMALL: jint = -3;

static VM: OnceLock<JavaVM> = OnceLock::new();

/// The JavaVM that loaded the library, if it was loaded by a JVM.
pub fn java_vm() -> Option<&'static JavaVM> {
    VM.get()
}

/// What a pipe id names.
enum Pipe {
    Push(LocalTrack),
    Pull(Arc<tokio::sync::Mutex<Reader>>),
    /// A pull pipe turned into push delivery (`FrameReceiver`).
    Sink(sink::Sink),
}

struct Reader {
    frames: FrameSubscription,
    pending: Option<EncodedFrame>,
    ended: bool,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn pipes() -> std::sync::MutexGuard<'static, HashMap<u64, Pipe>> {
    static PIPES: OnceLock<Mutex<HashMap<u64, Pipe>>> = OnceLock::new();
    PIPES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

fn insert(pipe: Pipe) -> u64 {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    pipes().insert(id, pipe);
    id
}

/// A pipe id for pushing samples into `track` (uniffi `LocalTrack.pipeId`).
pub(crate) fn push_pipe(track: LocalTrack) -> u64 {
    insert(Pipe::Push(track))
}

/// A pipe id for pulling `track`'s frames (uniffi `RemoteTrack.pipeId`): a
/// reader of its own, from the latest keyframe on.
pub(crate) fn pull_pipe(track: &RemoteTrack) -> u64 {
    insert(Pipe::Pull(Arc::new(tokio::sync::Mutex::new(Reader {
        frames: track.subscribe(),
        pending: None,
        ended: false,
    }))))
}

/// Runs a native's body: a Rust error or a panic becomes a Java exception
/// (`IllegalArgumentException` / `IllegalStateException`) and `fallback` is returned.
fn guarded<T>(
    env: &mut JNIEnv,
    fallback: T,
    body: impl FnOnce(&mut JNIEnv) -> Result<T, String>,
) -> T {
    match catch_unwind(AssertUnwindSafe(|| body(env))) {
        Ok(Ok(value)) => value,
        Ok(Err(message)) => {
            let _ = env.throw_new("java/lang/IllegalArgumentException", message);
            fallback
        }
        Err(_) => {
            let _ = env.throw_new(
                "java/lang/IllegalStateException",
                "rtcgate: internal error (panic) in a JNI native",
            );
            fallback
        }
    }
}

/// The memory of a direct buffer: `(pointer, capacity)`.
fn direct(env: &JNIEnv, buffer: &JByteBuffer) -> Result<(*mut u8, usize), String> {
    if buffer.is_null() {
        return Err("buffer is null".into());
    }
    let address = env
        .get_direct_buffer_address(buffer)
        .map_err(|_| "not a direct ByteBuffer".to_owned())?;
    let capacity = env
        .get_direct_buffer_capacity(buffer)
        .map_err(|_| "not a direct ByteBuffer".to_owned())?;
    Ok((address, capacity))
}

fn range(offset: jint, length: jint, capacity: usize) -> Result<(usize, usize), String> {
    let offset = usize::try_from(offset).map_err(|_| "negative offset".to_owned())?;
    let length = usize::try_from(length).map_err(|_| "negative length".to_owned())?;
    if offset.checked_add(length).is_none_or(|end| end > capacity) {
        return Err(format!(
            "offset {offset} + length {length} beyond the buffer's {capacity} bytes"
        ));
    }
    Ok((offset, length))
}

/// `int nativePush(long pipe, ByteBuffer data, int offset, int length, long timestampUs)`:
/// sends the sample `data[offset, offset+length)`; returns 0.
extern "system" fn native_push(
    mut env: JNIEnv,
    _class: JClass,
    pipe: jlong,
    data: JByteBuffer,
    offset: jint,
    length: jint,
    timestamp_us: jlong,
) -> jint {
    guarded(&mut env, -1, |env| {
        let track = match pipes().get(&(pipe as u64)) {
            Some(Pipe::Push(track)) => track.clone(),
            _ => return Err(format!("no push pipe {pipe}")),
        };
        let (address, capacity) = direct(env, &data)?;
        let (offset, length) = range(offset, length, capacity)?;
        // SAFETY: a direct buffer's memory stays valid while the Java code
        // holds the buffer, which it does for this whole call.
        let bytes = unsafe { std::slice::from_raw_parts(address.add(offset), length) };
        let sample = MediaSample::new(
            bytes::Bytes::copy_from_slice(bytes),
            Duration::from_micros(u64::try_from(timestamp_us).unwrap_or_default()),
        );
        let handle = crate::uniffi_bindings::runtime().map_err(|e| e.to_string())?;
        handle
            .block_on(track.write_sample(&sample))
            .map_err(|e| e.to_string())?;
        Ok(0)
    })
}

/// `int nativePull(long pipe, ByteBuffer data, ByteBuffer info, long timeoutMs)`:
/// writes the next frame at `data`'s start and returns its size, or
/// [`PULL_TIMEOUT`], [`PULL_ENDED`], [`PULL_TOO_SMALL`]. `info` (16 bytes,
/// native order) receives the timestamp in µs (long), the RTP timestamp
/// (int) and flags (int: 1 keyframe, 2 discontinuity).
extern "system" fn native_pull(
    mut env: JNIEnv,
    _class: JClass,
    pipe: jlong,
    data: JByteBuffer,
    info: JByteBuffer,
    timeout_ms: jlong,
) -> jint {
    guarded(&mut env, PULL_ENDED, |env| {
        let reader = match pipes().get(&(pipe as u64)) {
            Some(Pipe::Pull(reader)) => Arc::clone(reader),
            _ => return Err(format!("no pull pipe {pipe}")),
        };
        let (data_ptr, data_capacity) = direct(env, &data)?;
        let (info_ptr, info_capacity) = direct(env, &info)?;
        if info_capacity < 16 {
            return Err("info buffer needs 16 bytes".into());
        }
        let handle = crate::uniffi_bindings::runtime().map_err(|e| e.to_string())?;
        let limit = Duration::from_millis(u64::try_from(timeout_ms).unwrap_or_default());
        handle.block_on(async {
            let mut reader = reader.lock().await;
            let frame = match reader.pending.take() {
                Some(frame) => frame,
                None if reader.ended => return Ok(PULL_ENDED),
                None => match tokio::time::timeout(limit, reader.frames.recv()).await {
                    Err(_) => return Ok(PULL_TIMEOUT),
                    Ok(None) => {
                        reader.ended = true;
                        return Ok(PULL_ENDED);
                    }
                    Ok(Some(frame)) => frame,
                },
            };
            let size = frame.data.len();
            // SAFETY: `info` is a direct buffer of at least 16 bytes (checked).
            let info = unsafe { std::slice::from_raw_parts_mut(info_ptr, 16) };
            if size > data_capacity {
                info[..8].copy_from_slice(&(size as i64).to_ne_bytes());
                reader.pending = Some(frame);
                return Ok(PULL_TOO_SMALL);
            }
            // SAFETY: `data` is a direct buffer of `data_capacity` >= size bytes.
            let out = unsafe { std::slice::from_raw_parts_mut(data_ptr, size) };
            out.copy_from_slice(&frame.data);
            let micros = i64::try_from(frame.timestamp.as_micros()).unwrap_or(i64::MAX);
            let flags = u32::from(frame.keyframe) | (u32::from(frame.discontinuity) << 1);
            info[..8].copy_from_slice(&micros.to_ne_bytes());
            info[8..12].copy_from_slice(&frame.rtp_timestamp.to_ne_bytes());
            info[12..16].copy_from_slice(&flags.to_ne_bytes());
            Ok(jint::try_from(size).unwrap_or(jint::MAX))
        })
    })
}

/// `void nativeRelease(long pipe)`: forgets a pipe id (unknown ids are ignored).
extern "system" fn native_release(mut env: JNIEnv, _class: JClass, pipe: jlong) {
    guarded(&mut env, (), |_| {
        pipes().remove(&(pipe as u64));
        Ok(())
    })
}

/// `void FrameReceiver.nativeStart(long pipe)`: turns the pull pipe into
/// push delivery to this receiver (its `deliver`, `ended` and `failed`
/// methods) on a library thread. The pipe must be idle (no pull running).
extern "system" fn native_sink_start(mut env: JNIEnv, receiver: JObject, pipe: jlong) {
    guarded(&mut env, (), |env| {
        let id = pipe as u64;
        let reader = match pipes().remove(&id) {
            Some(Pipe::Pull(reader)) => reader,
            Some(other) => {
                pipes().insert(id, other);
                return Err(format!("pipe {pipe} is not a pull pipe of a remote track"));
            }
            None => return Err(format!("no pipe {pipe}")),
        };
        let reader = match Arc::try_unwrap(reader) {
            Ok(reader) => reader.into_inner(),
            Err(reader) => {
                pipes().insert(id, Pipe::Pull(reader));
                return Err(format!("pipe {pipe} is being pulled"));
            }
        };
        if reader.ended {
            return Err("the track has ended".into());
        }
        let sink = sink::start(env, &receiver, reader.frames, reader.pending)?;
        pipes().insert(id, Pipe::Sink(sink));
        Ok(())
    })
}

/// `void FrameReceiver.nativeStop(long pipe)`: forgets the pipe; if it
/// delivers, stops delivery and waits for a callback in progress (not when
/// called from the callback itself). Unknown ids are ignored.
extern "system" fn native_sink_stop(mut env: JNIEnv, _receiver: JObject, pipe: jlong) {
    guarded(&mut env, (), |_| {
        let removed = pipes().remove(&(pipe as u64));
        if let Some(Pipe::Sink(sink)) = removed {
            sink.stop();
        }
        Ok(())
    })
}

/// Called by the JVM when it loads the library: caches the `JavaVM` and
/// registers the natives of `FramePipe` and `FrameReceiver` (each if the
/// class is on the class path of the loading class loader; otherwise its
/// natives are simply not registered).
#[unsafe(no_mangle)]
pub extern "system" fn JNI_OnLoad(vm: JavaVM, _reserved: *mut c_void) -> jint {
    let loaded = catch_unwind(AssertUnwindSafe(|| {
        let _ = VM.set(vm);
        let mut env = VM.get()?.get_env().ok()?;
        let methods = [
            NativeMethod {
                name: "nativePush".into(),
                sig: "(JLjava/nio/ByteBuffer;IIJ)I".into(),
                fn_ptr: native_push as *mut c_void,
            },
            NativeMethod {
                name: "nativePull".into(),
                sig: "(JLjava/nio/ByteBuffer;Ljava/nio/ByteBuffer;J)I".into(),
                fn_ptr: native_pull as *mut c_void,
            },
            NativeMethod {
                name: "nativeRelease".into(),
                sig: "(J)V".into(),
                fn_ptr: native_release as *mut c_void,
            },
        ];
        let receiver_methods = [
            NativeMethod {
                name: "nativeStart".into(),
                sig: "(J)V".into(),
                fn_ptr: native_sink_start as *mut c_void,
            },
            NativeMethod {
                name: "nativeStop".into(),
                sig: "(J)V".into(),
                fn_ptr: native_sink_stop as *mut c_void,
            },
        ];
        for (class, methods) in [
            (PIPE_CLASS, &methods[..]),
            (RECEIVER_CLASS, &receiver_methods[..]),
        ] {
            if env.register_native_methods(class, methods).is_err() {
                let _ = env.exception_clear();
                tracing::debug!("{class} not found: its JNI natives are not registered");
            }
        }
        Some(())
    }));
    match loaded {
        Ok(Some(())) => JNI_VERSION_1_6,
        _ => JNI_ERR,
    }
}
