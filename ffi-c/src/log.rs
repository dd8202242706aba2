//! Forwards `tracing` events (rtcgate's and webrtc-rs' logs) to the
//! application's log callback, with level and target.
//!
//! Events are queued (up to [`QUEUE`]; beyond that they are dropped and
//! counted) and delivered by one library thread, `rtcgate-log`, so the
//! callback never runs while the code that logged holds a lock.

use std::ffi::{c_char, c_int, c_void};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::JoinHandle;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, reload};

use crate::callback::{CallbackScope, UserData};
use crate::strings::c_string;

/// Log levels, most severe first.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum rtcgate_log_level {
    /// Logging off (as `log_level` in `rtcgate_options`).
    RTCGATE_LOG_NONE = 0,
    RTCGATE_LOG_ERROR = 1,
    RTCGATE_LOG_WARN = 2,
    RTCGATE_LOG_INFO = 3,
    RTCGATE_LOG_DEBUG = 4,
    RTCGATE_LOG_TRACE = 5,
}

/// Receives one log record. `target` is the Rust module that logged
/// (`rtcgate_core::call`, `webrtc_ice::agent`, …); `message` is the message
/// followed by its fields (`key=value`). Both strings are owned by the
/// library and valid only during the call. Runs on the library's log thread.
#[allow(non_camel_case_types)]
pub type rtcgate_log_cb = Option<
    unsafe extern "C" fn(
        level: rtcgate_log_level,
        target: *const c_char,
        message: *const c_char,
        user_data: *mut c_void,
    ),
>;

/// Records queued for the log thread before new ones are dropped.
const QUEUE: usize = 4096;

struct Record {
    level: rtcgate_log_level,
    target: String,
    message: String,
}

type Callback = (
    unsafe extern "C" fn(rtcgate_log_level, *const c_char, *const c_char, *mut c_void),
    UserData,
);

struct Forwarder {
    tx: SyncSender<Record>,
    thread: JoinHandle<()>,
}

static FORWARDER: Mutex<Option<Forwarder>> = Mutex::new(None);
static DROPPED: AtomicU64 = AtomicU64::new(0);
static FILTER: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

fn forwarder() -> MutexGuard<'static, Option<Forwarder>> {
    FORWARDER.lock().unwrap_or_else(PoisonError::into_inner)
}

fn level_of(level: &Level) -> rtcgate_log_level {
    match *level {
        Level::ERROR => rtcgate_log_level::RTCGATE_LOG_ERROR,
        Level::WARN => rtcgate_log_level::RTCGATE_LOG_WARN,
        Level::INFO => rtcgate_log_level::RTCGATE_LOG_INFO,
        Level::DEBUG => rtcgate_log_level::RTCGATE_LOG_DEBUG,
        Level::TRACE => rtcgate_log_level::RTCGATE_LOG_TRACE,
    }
}

/// The filter for `log_level`. At warn and info it leaves out what webrtc-rs
/// warns about in every healthy connection (`QUIET_WEBRTC_LOGS` says which and
/// why); debug and trace show everything, and `log_filter` replaces all this.
fn directives_for(level: c_int) -> Option<String> {
    let quiet = rtcgate_core::logging::QUIET_WEBRTC_LOGS;
    match level {
        0 => None,
        1 => Some("error".to_owned()),
        2 => Some(format!("warn,{quiet}")),
        3 => Some(format!("info,{quiet}")),
        4 => Some("debug".to_owned()),
        _ => Some("trace".to_owned()),
    }
}

/// Collects the message and fields. Records bridged from the `log` crate
/// (webrtc-rs' `rtc` crates) carry their real target in `log.target`.
#[derive(Default)]
struct MessageVisitor {
    message: String,
    log_target: Option<String>,
}

impl Visit for MessageVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => {
                let _ = write!(self.message, "{value:?}");
            }
            "log.target" => self.log_target = Some(format!("{value:?}")),
            "log.module_path" | "log.file" | "log.line" => {}
            name => {
                let _ = write!(self.message, " {name}={value:?}");
            }
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message.push_str(value),
            "log.target" => self.log_target = Some(value.to_owned()),
            "log.module_path" | "log.file" => {}
            name => {
                let _ = write!(self.message, " {name}={value}");
            }
        }
    }
}

struct ForwardLayer;

impl<S: Subscriber> Layer<S> for ForwardLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let guard = forwarder();
        let Some(forwarder) = guard.as_ref() else {
            return;
        };
        let mut visitor = MessageVisitor::default();
        event.record(&mut visitor);
        let metadata = event.metadata();
        let record = Record {
            level: level_of(metadata.level()),
            target: visitor
                .log_target
                .unwrap_or_else(|| metadata.target().to_owned()),
            message: visitor.message,
        };
        if let Err(TrySendError::Full(_)) = forwarder.tx.try_send(record) {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn run(rx: Receiver<Record>, callback: Callback) {
    let (f, user_data) = callback;
    while let Ok(record) = rx.recv() {
        let target = c_string(&record.target);
        let message = c_string(&record.message);
        let _scope = CallbackScope::enter();
        crate::guard::callback(|| {
            // SAFETY: a function pointer the application gave us, called
            // with strings valid for the duration of the call.
            unsafe { f(record.level, target.as_ptr(), message.as_ptr(), user_data.0) }
        });
    }
}

/// Starts forwarding to `callback` with `filter` (EnvFilter directives such
/// as `info,webrtc=warn`) or, when it is `None`, the level `level`.
pub fn start(callback: Callback, level: c_int, filter: Option<&str>) -> Result<(), String> {
    let directives = match filter {
        Some(filter) => filter.to_owned(),
        None => match directives_for(level) {
            Some(d) => d,
            None => return Ok(()),
        },
    };
    let env_filter = EnvFilter::try_new(&directives)
        .map_err(|e| format!("invalid log filter {directives:?}: {e}"))?;
    match FILTER.get() {
        Some(handle) => handle
            .reload(env_filter)
            .map_err(|e| format!("log filter: {e}"))?,
        None => {
            let (filter_layer, handle) = reload::Layer::new(env_filter);
            let subscriber = Registry::default().with(filter_layer).with(ForwardLayer);
            if subscriber.try_init().is_err() {
                return Err("another tracing subscriber is installed in this process; \
                     rtcgate's log callback will not receive events"
                    .to_owned());
            }
            let _ = FILTER.set(handle);
        }
    }
    let (tx, rx) = sync_channel(QUEUE);
    let thread = std::thread::Builder::new()
        .name("rtcgate-log".into())
        .spawn(move || run(rx, callback))
        .map_err(|e| format!("log thread: {e}"))?;
    *forwarder() = Some(Forwarder { tx, thread });
    Ok(())
}

/// Stops forwarding: the records already queued are delivered first.
pub fn stop() {
    let forwarder = forwarder().take();
    if let Some(Forwarder { tx, thread }) = forwarder {
        drop(tx);
        if thread.thread().id() != std::thread::current().id() {
            let _ = thread.join();
        }
    }
}

/// Log records dropped because the queue was full.
pub fn dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}
