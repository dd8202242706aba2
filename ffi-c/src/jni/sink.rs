//! Push-mode delivery of a remote track's frames into Java
//! (`io.rtcgate.FrameReceiver` in bindings-kotlin): a library thread of its
//! own per receiver calls the receiver's `deliver` method for every frame,
//! with a direct `ByteBuffer` over the frame's memory in the library (no
//! copy, no Java array).
//!
//! - The thread attaches to the JVM once, as a daemon (it never keeps the
//!   JVM alive) named `rtcgate-jni-frames` (the Java thread name, seen by
//!   `Thread.currentThread()`, debuggers and profilers), stays attached for
//!   every frame, and detaches itself before it exits (also after a panic).
//! - **Lifetime rule**: the buffer is valid only while `deliver` runs; the
//!   frame is released when it returns. The Kotlin side hands the sink a
//!   read-only view and empties it (`limit(0)`) afterwards, so a view kept by
//!   mistake throws instead of reading freed memory (slices made of it do
//!   not get that protection: copy what must outlive the callback).
//! - A Java exception thrown by the callback is taken (cleared), logged and
//!   handed to the receiver's `failed(Throwable)`; delivery goes on. A panic
//!   on the delivery thread is caught; it ends delivery, never the process.
//! - [`Sink::stop`] ends delivery and waits for a callback in progress
//!   (except on the delivery thread itself, so a sink may close its own
//!   receiver from inside the callback).

use std::ffi::CStr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::thread::ThreadId;
use std::time::Duration;

use jni::JNIEnv;
use jni::objects::{GlobalRef, JMethodID, JObject, JValue};
use jni::signature::{Primitive, ReturnType};
use rtcgate_core::EncodedFrame;
use rtcgate_core::media::FrameSubscription;
use tokio::sync::oneshot;

/// The delivery thread's name, as a native and as a Java thread.
const THREAD_NAME: &CStr = c"rtcgate-jni-frames";

/// How long [`Sink::stop`] waits for a callback in progress.
const STOP_WAIT: Duration = Duration::from_secs(10);

/// A running delivery thread. Dropping it stops delivery without waiting.
pub(super) struct Sink {
    stop: Option<oneshot::Sender<()>>,
    done: mpsc::Receiver<()>,
    thread: ThreadId,
}

impl Sink {
    /// Stops delivery. Unless called on the delivery thread, waits (at most
    /// 10 s) until the callback in progress, if any, has returned: after
    /// this no callback runs.
    pub(super) fn stop(mut self) {
        drop(self.stop.take());
        if std::thread::current().id() != self.thread
            && let Err(mpsc::RecvTimeoutError::Timeout) = self.done.recv_timeout(STOP_WAIT)
        {
            tracing::warn!("a FrameSink callback still runs after 10 s; not waiting longer");
        }
    }
}

/// The receiver's methods the delivery thread calls.
#[derive(Clone, Copy)]
struct Methods {
    /// `void deliver(ByteBuffer data, long timestampUs, int rtpTimestamp, int flags)`
    deliver: JMethodID,
    /// `void ended()`
    ended: JMethodID,
    /// `void failed(Throwable error)`
    failed: JMethodID,
}

/// Starts delivering `pending` (a frame an earlier pull left) and then
/// every frame of `frames` to `receiver` on a thread of its own.
pub(super) fn start(
    env: &mut JNIEnv,
    receiver: &JObject,
    frames: FrameSubscription,
    pending: Option<EncodedFrame>,
) -> Result<Sink, String> {
    let class = env
        .get_object_class(receiver)
        .map_err(|e| format!("receiver class: {e}"))?;
    let mut method = |name: &str, sig: &str| {
        env.get_method_id(&class, name, sig).map_err(|_| {
            let _ = env.exception_clear();
            format!("receiver has no method {name}{sig}")
        })
    };
    let methods = Methods {
        deliver: method("deliver", "(Ljava/nio/ByteBuffer;JII)V")?,
        ended: method("ended", "()V")?,
        failed: method("failed", "(Ljava/lang/Throwable;)V")?,
    };
    let receiver = env
        .new_global_ref(receiver)
        .map_err(|e| format!("global reference: {e}"))?;
    let vm = env.get_java_vm().map_err(|e| format!("JavaVM: {e}"))?;
    let runtime = crate::uniffi_bindings::runtime().map_err(|e| e.to_string())?;
    let (stop, stopped) = oneshot::channel();
    let (finished, done) = mpsc::channel();
    let thread = std::thread::Builder::new()
        .name(THREAD_NAME.to_string_lossy().into_owned())
        .spawn(move || {
            match super::thread::attach(&vm, THREAD_NAME) {
                Ok(mut env) => {
                    let ran = catch_unwind(AssertUnwindSafe(|| {
                        run(
                            &mut env, &receiver, methods, frames, pending, stopped, &runtime,
                        )
                    }));
                    if ran.is_err() {
                        tracing::error!("panic on the JNI frame thread: delivery ended");
                    }
                    // Released while still attached, then detached.
                    drop(receiver);
                    super::thread::detach(&vm);
                }
                Err(e) => tracing::error!("JNI frame thread cannot attach to the JVM: {e}"),
            }
            let _ = finished.send(());
        })
        .map_err(|e| format!("frame thread: {e}"))?;
    Ok(Sink {
        stop: Some(stop),
        done,
        thread: thread.thread().id(),
    })
}

/// The delivery thread's loop.
fn run(
    env: &mut JNIEnv,
    receiver: &GlobalRef,
    methods: Methods,
    mut frames: FrameSubscription,
    pending: Option<EncodedFrame>,
    mut stopped: oneshot::Receiver<()>,
    runtime: &tokio::runtime::Handle,
) {
    if let Some(frame) = pending {
        deliver(env, receiver, methods, &frame);
    }
    loop {
        let next = runtime.block_on(async {
            tokio::select! {
                biased;
                _ = &mut stopped => None,
                frame = frames.recv() => Some(frame),
            }
        });
        match next {
            None => return,
            Some(Some(frame)) => deliver(env, receiver, methods, &frame),
            Some(None) => {
                // SAFETY: `ended` was looked up on the receiver's class with
                // this signature (no arguments, void).
                let result = unsafe {
                    env.call_method_unchecked(
                        receiver,
                        methods.ended,
                        ReturnType::Primitive(Primitive::Void),
                        &[],
                    )
                };
                if result.is_err() {
                    report_exception(env, receiver, methods);
                }
                return;
            }
        }
    }
}

/// Calls `deliver` with a direct buffer over `frame.data`.
fn deliver(env: &mut JNIEnv, receiver: &GlobalRef, methods: Methods, frame: &EncodedFrame) {
    if frame.data.is_empty() {
        return;
    }
    // SAFETY: the memory stays valid and unchanged while `frame` lives,
    // which is past the call below. Java gets it read-only (the Kotlin side
    // wraps it with `asReadOnlyBuffer`) and is told not to keep it.
    let buffer = match unsafe {
        env.new_direct_byte_buffer(frame.data.as_ptr().cast_mut(), frame.data.len())
    } {
        Ok(buffer) => buffer,
        Err(e) => {
            let _ = env.exception_clear();
            tracing::warn!("JNI frame thread: NewDirectByteBuffer failed ({e}); frame skipped");
            return;
        }
    };
    let micros = i64::try_from(frame.timestamp.as_micros()).unwrap_or(i64::MAX);
    let flags = i32::from(frame.keyframe) | (i32::from(frame.discontinuity) << 1);
    let args = [
        JValue::Object(&buffer).as_jni(),
        JValue::Long(micros).as_jni(),
        JValue::Int(frame.rtp_timestamp as i32).as_jni(),
        JValue::Int(flags).as_jni(),
    ];
    // SAFETY: `deliver` was looked up on the receiver's class with the
    // signature (ByteBuffer, long, int, int) -> void, matching `args`.
    let result = unsafe {
        env.call_method_unchecked(
            receiver,
            methods.deliver,
            ReturnType::Primitive(Primitive::Void),
            &args,
        )
    };
    let _ = env.delete_local_ref(buffer);
    if result.is_err() {
        report_exception(env, receiver, methods);
    }
}

/// Takes the pending Java exception (if any), logs it and hands it to the
/// receiver's `failed`; an exception from `failed` itself is only logged.
fn report_exception(env: &mut JNIEnv, receiver: &GlobalRef, methods: Methods) {
    if !env.exception_check().unwrap_or(false) {
        tracing::warn!("a JNI call to the FrameSink failed without a Java exception");
        return;
    }
    let throwable = env.exception_occurred();
    let _ = env.exception_clear();
    let Ok(throwable) = throwable else { return };
    tracing::warn!("a FrameSink callback threw; delivery goes on");
    // SAFETY: `failed` was looked up with the signature (Throwable) -> void.
    let result = unsafe {
        env.call_method_unchecked(
            receiver,
            methods.failed,
            ReturnType::Primitive(Primitive::Void),
            &[JValue::Object(&throwable).as_jni()],
        )
    };
    if result.is_err() {
        let _ = env.exception_clear();
        tracing::warn!("FrameReceiver.failed threw too; exception dropped");
    }
    let _ = env.delete_local_ref(throwable);
}
